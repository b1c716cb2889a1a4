// The proof-of-memory validator: once per start it fills a table of
// memoryBytes / 32 entries (nonces 0 … N-1) in shared memory and sorts it
// (pom-table.ts, steps run by pom-worker.ts threads); every slot after that is
// one binary search (sorted-table.ts). The threads exist only while building.
//
// Build: the threads fill one nonce slice each; one thread splits the whole
// table by first byte, in place; then each thread sorts a run of those
// buckets. No step needs a second copy of the table.
import { Worker } from 'node:worker_threads'
import { totalmem } from 'node:os'
import { RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'
import { splitRange } from '../consensus/work-search.js'
import { HashRateMeter } from './hash-rate.js'
import { splitBuckets } from './pom-table.js'
import { checkFind, checkIdentity, checkThreads, findIsOver, ProverError } from './prover-checks.js'
import type { FindOptions, ProofCandidate, Prover } from './prover.js'
import { SortedTable } from './sorted-table.js'

/** The smallest table: 1,024 entries. */
export const MIN_TABLE_BYTES = 32 * 1024

export interface PomProgress {
  /** 'gen': hashing the records; 'org': sorting them. */
  phase: 'gen' | 'org'
  /** Records hashed ('gen') or in their final place ('org') so far. */
  done: number
  total: number
}

export interface PomProverOptions {
  fingerprint: Uint8Array
  publicKey: Uint8Array
  /** Table size: a multiple of 32 bytes, at least MIN_TABLE_BYTES. */
  memoryBytes: number
  threads: number
  /** Called about twice a second while building, and at the end of each phase. */
  onProgress?: (progress: PomProgress) => void
}

/** How the table build went (DSC logs it as "gen/org 1GB hashes (X sec ~ Y MB/s)"; see pomBuildLine). */
export interface PomBuildStats {
  records: number
  bytes: number
  threads: number
  /** Hashing the records. */
  genMs: number
  /** Splitting the table by first byte (one thread). */
  partitionMs: number
  /** Sorting the buckets (all threads). */
  sortMs: number
  /** partitionMs + sortMs. */
  orgMs: number
  /** genMs + orgMs. */
  totalMs: number
  /** MiB of table per second of totalMs. */
  mbPerSec: number
}

// Messages between this file and pom-worker.ts.
export interface PomWorkerData {
  table: SharedArrayBuffer
  /** [0] = records hashed, [1] = records sorted. */
  progress: BigUint64Array
  fingerprint: Uint8Array
  publicKey: Uint8Array
}
export type PomTask =
  | { kind: 'fill'; from: number; to: number }
  | { kind: 'partition'; from: number; to: number }
  | { kind: 'sort'; bounds: number[]; depth: number }
export type PomTaskReply = { kind: 'filled' } | { kind: 'partitioned'; bounds: number[] } | { kind: 'sorted' }

const PROGRESS_MS = 500
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './pom-worker.ts' : './pom-worker.js', import.meta.url)

export class PomProver implements Prover {
  readonly kind = 'pom' as const
  private readonly fingerprint: Uint8Array
  private readonly publicKey: Uint8Array
  private readonly bytes: number
  private readonly threads: number
  private readonly onProgress: ((progress: PomProgress) => void) | undefined
  private readonly progress = new BigUint64Array(new SharedArrayBuffer(16))
  private readonly meter = new HashRateMeter(() => Number(Atomics.load(this.progress, 0)))
  private table: SortedTable | null = null
  private stats: PomBuildStats | null = null
  private building: Promise<void> | null = null
  private workers: Worker[] = []
  private readonly exited = new WeakSet<Worker>()
  private closed = false

  constructor(opts: PomProverOptions) {
    if (opts === null || typeof opts !== 'object') throw new ProverError('INVALID_OPTIONS', 'PomProver needs options')
    ;({ fingerprint: this.fingerprint, publicKey: this.publicKey } = checkIdentity(opts.fingerprint, opts.publicKey))
    this.threads = checkThreads(opts.threads)
    const bytes = opts.memoryBytes
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < MIN_TABLE_BYTES || bytes % RECORD_ENTRY_BYTES !== 0) {
      throw new ProverError(
        'INVALID_OPTIONS',
        `memoryBytes must be a whole number of ${RECORD_ENTRY_BYTES}-byte entries, at least ${MIN_TABLE_BYTES} (32 KiB); got ${String(bytes)}`,
      )
    }
    if (bytes > totalmem()) {
      throw new ProverError(
        'NO_MEMORY',
        `a ${formatSize(bytes)} proof-of-memory table is more than this machine's RAM (${formatSize(totalmem())})`,
      )
    }
    this.bytes = bytes
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
      throw new ProverError('INVALID_OPTIONS', 'onProgress must be a function')
    }
    this.onProgress = opts.onProgress
  }

  /** Builds the table (once; later calls wait for or reuse it). Rejects with NO_MEMORY when it cannot be allocated. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new ProverError('CLOSED', 'PomProver is closed'))
    if (this.table !== null) return Promise.resolve()
    // A failed build is forgotten, so a later ready() tries again.
    this.building ??= this.build().finally(() => {
      this.building = null
    })
    return this.building
  }

  /** The nearest record in the table, if it is within `target`; answers at once. */
  find(challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null> {
    try {
      if (this.closed) throw new ProverError('CLOSED', 'PomProver is closed')
      checkFind(challenge, target, opts)
      if (this.table === null) throw new ProverError('NOT_READY', 'PomProver.find needs the table: await ready() first')
      if (findIsOver(target, opts)) return Promise.resolve(null)
      const nearest = this.table.nearest(challenge)
      if (nearest === null || nearest.distance >= target) return Promise.resolve(null)
      return Promise.resolve({ nonce: nearest.nonce, record: nearest.record, distance: nearest.distance })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Records hashed per second while the table is being filled; 0 otherwise. */
  get hashRate(): number {
    return this.meter.rate
  }

  /** Entries in the table once built (memoryBytes / 32); 0 before. */
  get storedRecords(): number {
    return this.table?.size ?? 0
  }

  /** The sorted entries once built (a view of the table: read, never write). */
  get entries(): Uint8Array | null {
    return this.table?.entries ?? null
  }

  /** Timings of the build, once ready() has resolved. */
  get buildStats(): PomBuildStats | null {
    return this.stats
  }

  /** Stops a build (ready() rejects CLOSED), terminates its threads and drops the table. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.table = null
    this.meter.stop()
    await this.stopWorkers()
  }

  private async build(): Promise<void> {
    const records = this.bytes / RECORD_ENTRY_BYTES
    const sab = this.allocate()
    Atomics.store(this.progress, 0, 0n)
    Atomics.store(this.progress, 1, 0n)
    let phase: PomProgress['phase'] = 'gen'
    const ticker = setInterval(() => this.report(phase, records), PROGRESS_MS)
    ticker.unref()
    try {
      const data: PomWorkerData = { table: sab, progress: this.progress, fingerprint: this.fingerprint, publicKey: this.publicKey }
      for (let i = 0; i < this.threads; i++) this.workers.push(this.startWorker(i, data))
      this.meter.start()
      const t0 = performance.now()
      const slices = splitRange(0, records, this.threads)
      await Promise.all(slices.map((s, i) => this.run(i, { kind: 'fill', from: s.start, to: s.end })))
      const t1 = performance.now()
      this.meter.stop()
      this.report(phase, records)
      phase = 'org'
      const split = await this.run(0, { kind: 'partition', from: 0, to: records })
      if (split.kind !== 'partitioned') throw new ProverError('WORKER_CRASHED', 'a proof-of-memory thread answered out of turn')
      const t2 = performance.now()
      const runs = splitBuckets(split.bounds, this.threads)
      await Promise.all(runs.map((bounds, i) => this.run(i, { kind: 'sort', bounds, depth: 1 })))
      const t3 = performance.now()
      if (this.closed) throw new ProverError('CLOSED', 'PomProver was closed while building its table')
      this.table = new SortedTable(new Uint8Array(sab))
      const [genMs, partitionMs, sortMs] = [t1 - t0, t2 - t1, t3 - t2]
      const orgMs = partitionMs + sortMs
      const totalMs = genMs + orgMs
      const mbPerSec = this.bytes / 2 ** 20 / (totalMs / 1000)
      this.stats = { records, bytes: this.bytes, threads: this.threads, genMs, partitionMs, sortMs, orgMs, totalMs, mbPerSec }
      this.report(phase, records)
    } catch (err) {
      if (this.closed) throw new ProverError('CLOSED', 'PomProver was closed while building its table')
      if (err instanceof ProverError) throw err
      throw new ProverError('WORKER_CRASHED', `building the proof-of-memory table failed: ${describe(err)}`)
    } finally {
      clearInterval(ticker)
      this.meter.stop()
      await this.stopWorkers()
    }
  }

  private allocate(): SharedArrayBuffer {
    try {
      const sab = new SharedArrayBuffer(this.bytes)
      void new Uint8Array(sab) // the view the table needs can have its own size limit
      return sab
    } catch (err) {
      if (!(err instanceof RangeError)) throw err
      throw new ProverError(
        'NO_MEMORY',
        `cannot allocate ${formatSize(this.bytes)} for the proof-of-memory table (${err.message}); lower proof_pom memory`,
      )
    }
  }

  private startWorker(slot: number, data: PomWorkerData): Worker {
    const worker = new Worker(WORKER_URL, { workerData: data, name: `pom-prover-${slot}` })
    // Between tasks nobody else listens: an unheard 'error' would crash the process.
    worker.on('error', () => {})
    worker.once('exit', () => this.exited.add(worker))
    return worker
  }

  /** Runs one task on a thread; rejects if the thread fails or exits first. */
  private run(slot: number, task: PomTask): Promise<PomTaskReply> {
    const worker = this.workers[slot]
    if (worker === undefined) return Promise.reject(new ProverError('CLOSED', 'PomProver was closed while building its table'))
    if (this.exited.has(worker)) return Promise.reject(new ProverError('WORKER_CRASHED', `proof-of-memory thread ${slot} has exited`))
    return new Promise<PomTaskReply>((resolve, reject) => {
      const gone = (why: string): void => {
        cleanup()
        reject(new ProverError('WORKER_CRASHED', `proof-of-memory thread ${slot} ${why}`))
      }
      const onMessage = (reply: PomTaskReply): void => {
        cleanup()
        resolve(reply)
      }
      const onError = (err: unknown): void => gone(`failed: ${describe(err)}`)
      const onExit = (code: number): void => gone(`exited with code ${code}`)
      const cleanup = (): void => {
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('messageerror', onError)
        worker.off('exit', onExit)
      }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('messageerror', onError)
      worker.on('exit', onExit)
      worker.postMessage(task)
    })
  }

  private report(phase: PomProgress['phase'], total: number): void {
    if (this.onProgress === undefined) return
    const done = Number(Atomics.load(this.progress, phase === 'gen' ? 0 : 1))
    try {
      this.onProgress({ phase, done, total })
    } catch {
      // The caller's progress display must not break the build.
    }
  }

  private async stopWorkers(): Promise<void> {
    const workers = this.workers
    this.workers = []
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

/** DSC's line for a finished build: "gen/org 1GB hashes (X sec ~ Y MB/s)". */
export function pomBuildLine(stats: PomBuildStats): string {
  return `gen/org ${formatSize(stats.bytes)} hashes (${(stats.totalMs / 1000).toFixed(3)} sec ~ ${stats.mbPerSec.toFixed(2)} MB/s)`
}

/** 1GB, 256MB, 32KB or bytes, as DSC writes memory sizes (binary units). */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GB', 2 ** 30],
    ['MB', 2 ** 20],
    ['KB', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)}MB`
  return `${bytes}B`
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
