// Where the vault builder's entries come from: consecutive nonces hashed into
// 32-byte entries (record 24 ‖ u64be nonce 8), in this thread between event
// loop turns or in worker threads (pos-hash-worker.ts). Chunks always come
// back in the order they were asked for, so a build is deterministic.
import { Worker } from 'node:worker_threads'
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, RecordHasher } from '../../protocol/chain/proof-record.js'
import { writeU64 } from '../../protocol/wire/bytes.js'
import type { VaultIdentity } from './pos-vault.js'

/** What a hasher may offer for filling many entries at once (see fillEntries). */
interface BulkHasher {
  fillEntries(startNonce: number, count: number, out: Uint8Array, offset: number): void
}

/** Writes the entries of nonces start..start+count-1 into `out` from `offset`. */
export function fillEntries(hasher: RecordHasher, start: number, count: number, out: Buffer, offset = 0): void {
  const bulk = hasher as unknown as Partial<BulkHasher>
  if (typeof bulk.fillEntries === 'function') {
    bulk.fillEntries(start, count, out, offset)
    return
  }
  for (let i = 0, off = offset; i < count; i++, off += RECORD_ENTRY_BYTES) {
    hasher.hashInto(start + i, out, off)
    writeU64(out, start + i, off + RECORD_HASH_BYTES)
  }
}

export interface EntrySource {
  /** How many chunks the builder should keep asked for at once. */
  readonly depth: number
  /** The entries of nonces start..start+count-1, in nonce order. */
  fill(start: number, count: number): Promise<Buffer>
  close(): Promise<void>
}

/** Nonces hashed per slice before the event loop gets a turn (a few ms). */
const SLICE = 2048

/** Hashes in this thread, yielding to the event loop between slices. */
export class InThreadSource implements EntrySource {
  readonly depth = 1
  private readonly hasher: RecordHasher

  constructor(id: VaultIdentity) {
    this.hasher = new RecordHasher(id.fingerprint, id.publicKey)
  }

  async fill(start: number, count: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(count * RECORD_ENTRY_BYTES)
    for (let done = 0; done < count; done += SLICE) {
      if (done > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      const n = Math.min(SLICE, count - done)
      fillEntries(this.hasher, start + done, n, out, done * RECORD_ENTRY_BYTES)
    }
    return out
  }

  async close(): Promise<void> {}
}

// Messages between this file and pos-hash-worker.ts.
export interface HashWorkerData {
  fingerprint: Uint8Array
  publicKey: Uint8Array
}
export interface HashRequest {
  id: number
  start: number
  count: number
}
export type HashReply = { id: number; entries: Uint8Array } | { id: number; error: string }

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './pos-hash-worker.ts' : './pos-hash-worker.js', import.meta.url)

interface Waiting {
  resolve: (b: Buffer) => void
  reject: (e: Error) => void
}

/** Hashes in `threads` worker threads; chunks go to the workers in turn. */
export class WorkerSource implements EntrySource {
  readonly depth: number
  private readonly workers: Worker[] = []
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 1
  private turn = 0
  private failure: Error | null = null
  private closed = false

  constructor(id: VaultIdentity, threads: number) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`hash threads must be 1..256, got ${threads}`)
    this.depth = threads + 1
    const data: HashWorkerData = { fingerprint: id.fingerprint, publicKey: id.publicKey }
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_URL, { workerData: data, name: `pos-hash-${i}` })
      w.on('message', (m: HashReply) => this.onReply(m))
      w.on('error', (err) => this.fail(new Error(`a hash worker failed: ${err.message}`)))
      w.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`a hash worker exited (code ${code})`))
      })
      this.workers.push(w)
    }
  }

  fill(start: number, count: number): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error('hash workers are closed'))
    const id = this.nextId++
    const req: HashRequest = { id, start, count }
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.workers[this.turn++ % this.workers.length]!.postMessage(req)
    })
  }

  private onReply(m: HashReply): void {
    const w = this.waiting.get(m.id)
    if (w === undefined) return
    this.waiting.delete(m.id)
    if ('error' in m) w.reject(new Error(`a hash worker failed: ${m.error}`))
    else w.resolve(Buffer.from(m.entries.buffer, m.entries.byteOffset, m.entries.byteLength))
  }

  private fail(err: Error): void {
    this.failure ??= err
    for (const w of this.waiting.values()) w.reject(this.failure)
    this.waiting.clear()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fail(new Error('hash workers are closed'))
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

/** threads 0: this thread; otherwise that many workers. */
export function entrySource(id: VaultIdentity, threads: number): EntrySource {
  return threads === 0 ? new InThreadSource(id) : new WorkerSource(id, threads)
}
