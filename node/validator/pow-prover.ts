// The proof-of-work validator: each slot, worker threads (pow-worker.ts) hash
// consecutive nonces from a random start, each thread its own slice, until
// one finds a record within the target of the challenge.
//
// Stopping follows node/consensus/work-search.ts: every find gets a
// generation number in a shared Int32 that the hashing loops poll, so a stop
// (deadline, abort, a newer find, close) takes effect mid-loop within a
// fraction of a millisecond. Replies carry their generation; one from a find
// already settled is ignored. Unlike the header search, a find settles at
// once when stopped rather than waiting for its threads to answer: a slot's
// search has no hash count to report, and the sealer should not wait.
import { Worker } from 'node:worker_threads'
import { getRandomValues } from 'node:crypto'
import { proofRecord, recordDistance } from '../../protocol/chain/proof-record.js'
import { HashRateMeter } from './hash-rate.js'
import { checkFind, checkIdentity, checkThreads, findIsOver, ProverError } from './prover-checks.js'
import type { FindOptions, ProofCandidate, Prover } from './prover.js'
import { top52Limit } from './pow-filter.js'

export interface PowProverOptions {
  fingerprint: Uint8Array
  publicKey: Uint8Array
  threads: number
}

// Messages between this file and pow-worker.ts.
export interface PowWorkerData {
  fingerprint: Uint8Array
  publicKey: Uint8Array
  /** [0] = generation of the find the threads may hash; 0 = none. */
  generation: Int32Array
  /** [0] = records hashed by all threads ever (for hashRate). */
  hashCounter: BigUint64Array
}
export interface PowFindMessage {
  gen: number
  /** The challenge's first 24 bytes. */
  challenge: Uint8Array
  target: bigint
  /** pow-filter.ts top52Limit(target). */
  limit: number
  start: number
  /** Exclusive. */
  end: number
}
export type PowFindReply =
  | { gen: number; kind: 'found'; nonce: number; record: Uint8Array }
  | { gen: number; kind: 'exhausted' | 'stopped' }

/** Nonces per thread per find: more than a thread hashes in days, so a slot never runs out. */
const THREAD_SPAN = 2 ** 44
const NONCE_END = 2 ** 53
const MAX_TIMER_MS = 0x7fffffff // setTimeout's limit

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './pow-worker.ts' : './pow-worker.js', import.meta.url)

interface PendingFind {
  gen: number
  challenge: Buffer
  target: bigint
  deadline: number
  running: number // threads still hashing
  timer: NodeJS.Timeout | null
  signal: AbortSignal | undefined
  onAbort: () => void
  resolve: (c: ProofCandidate | null) => void
  reject: (e: Error) => void
}

export class PowProver implements Prover {
  readonly kind = 'pow' as const
  readonly storedRecords = 0
  private readonly threads: number
  private readonly fingerprint: Uint8Array
  private readonly publicKey: Uint8Array
  private readonly workers: (Worker | null)[]
  private readonly generation: Int32Array
  private readonly hashCounter: BigUint64Array
  private readonly meter: HashRateMeter
  private pending: PendingFind | null = null
  private lastGen = 0
  private closed = false

  constructor(opts: PowProverOptions) {
    if (opts === null || typeof opts !== 'object') throw new ProverError('INVALID_OPTIONS', 'PowProver needs options')
    this.threads = checkThreads(opts.threads)
    ;({ fingerprint: this.fingerprint, publicKey: this.publicKey } = checkIdentity(opts.fingerprint, opts.publicKey))
    this.workers = new Array<Worker | null>(this.threads).fill(null)
    const shared = new SharedArrayBuffer(16)
    this.generation = new Int32Array(shared, 0, 1)
    this.hashCounter = new BigUint64Array(shared, 8, 1)
    this.meter = new HashRateMeter(() => this.recordsHashed)
  }

  /** Starts the threads, so that the first find does not wait for them. */
  async ready(): Promise<void> {
    if (this.closed) throw new ProverError('CLOSED', 'PowProver is closed')
    this.startWorkers()
  }

  /**
   * The first record the threads hash within `target` of the challenge, or
   * null at the deadline, on abort, or when a newer find supersedes this one.
   */
  find(challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null> {
    try {
      return this.start(challenge, target, opts)
    } catch (err) {
      return Promise.reject(err) // bad arguments, closed, or a thread that cannot be created
    }
  }

  /** Records hashed per second over the last few seconds, all threads together. */
  get hashRate(): number {
    return this.closed ? 0 : this.meter.rate
  }

  /** Records hashed by all threads since the prover started. */
  get recordsHashed(): number {
    return Number(Atomics.load(this.hashCounter, 0))
  }

  /** Stops any find (it resolves null) and terminates the threads. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.pending !== null) this.settle(this.pending, null)
    Atomics.store(this.generation, 0, 0)
    this.meter.stop()
    const workers = this.workers.filter((w): w is Worker => w !== null)
    this.workers.fill(null)
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private start(challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null> {
    if (this.closed) throw new ProverError('CLOSED', 'PowProver is closed')
    checkFind(challenge, target, opts)
    if (this.pending !== null) this.settle(this.pending, null) // superseded
    if (findIsOver(target, opts)) return Promise.resolve(null)
    this.startWorkers()
    const gen = this.nextGeneration()
    // Publish the generation before posting, or a fast thread would see the
    // old value and drop the find as already stopped.
    Atomics.store(this.generation, 0, gen)
    const key = Buffer.from(challenge.subarray(0, 24))
    return new Promise<ProofCandidate | null>((resolve, reject) => {
      const state: PendingFind = {
        gen,
        challenge: key,
        target,
        deadline: opts.deadline,
        running: this.threads,
        timer: null,
        signal: opts.signal,
        onAbort: () => this.settle(state, null),
        resolve,
        reject,
      }
      this.pending = state
      const first = randomStart(this.threads)
      const limit = top52Limit(target)
      this.workers.forEach((worker, i) => {
        worker!.ref() // a pending find keeps the process alive; idle threads do not
        const start = first + i * THREAD_SPAN
        const msg: PowFindMessage = { gen, challenge: new Uint8Array(key), target, limit, start, end: start + THREAD_SPAN }
        worker!.postMessage(msg)
      })
      opts.signal?.addEventListener('abort', state.onAbort, { once: true })
      this.armTimer(state)
    })
  }

  private armTimer(state: PendingFind): void {
    const wait = state.deadline - Date.now()
    if (wait <= 0) return this.settle(state, null)
    state.timer = setTimeout(() => this.armTimer(state), Math.min(wait, MAX_TIMER_MS))
  }

  private nextGeneration(): number {
    // Positive int32s, skipping 0 (= "no find"); wrapping takes 2^31 finds.
    this.lastGen = this.lastGen >= 0x7fffffff ? 1 : this.lastGen + 1
    return this.lastGen
  }

  /** Starts the missing threads: all of them the first time, a replacement after a crash. */
  private startWorkers(): void {
    for (let slot = 0; slot < this.threads; slot++) {
      if (this.workers[slot] !== null) continue
      const data: PowWorkerData = {
        fingerprint: this.fingerprint,
        publicKey: this.publicKey,
        generation: this.generation,
        hashCounter: this.hashCounter,
      }
      const worker = new Worker(WORKER_URL, { workerData: data, name: `pow-prover-${slot}` })
      worker.unref()
      worker.on('message', (msg: PowFindReply) => this.onReply(msg))
      worker.on('error', (err: unknown) => this.onWorkerGone(slot, worker, `failed: ${describe(err)}`))
      worker.on('messageerror', (err: unknown) => this.onWorkerGone(slot, worker, `sent an unreadable message: ${describe(err)}`))
      worker.on('exit', (code) => this.onWorkerGone(slot, worker, `exited with code ${code}`))
      this.workers[slot] = worker
    }
    this.meter.start()
  }

  private onReply(msg: PowFindReply): void {
    const state = this.pending
    if (state === null || state.gen !== msg.gen) return // a find already settled
    if (msg.kind === 'found') {
      const record = proofRecord(this.fingerprint, this.publicKey, msg.nonce)
      const distance = recordDistance(record, state.challenge)
      // Checked here too: a thread's answer becomes a block's proof.
      if (record.equals(msg.record) && distance < state.target) return this.settle(state, { nonce: msg.nonce, record, distance })
      return this.fail(
        state,
        new ProverError('WORKER_CRASHED', `a proof-of-work thread reported nonce ${msg.nonce}, which does not qualify`),
      )
    }
    if (msg.kind === 'exhausted' && --state.running === 0) this.settle(state, null)
  }

  private onWorkerGone(slot: number, worker: Worker, what: string): void {
    // 'error' is followed by 'exit', and close() terminates threads on purpose.
    if (this.closed || this.workers[slot] !== worker) return
    this.workers[slot] = null // replaced by the next find
    void worker.terminate()
    if (this.pending !== null) this.fail(this.pending, new ProverError('WORKER_CRASHED', `proof-of-work thread ${slot} ${what}`))
  }

  private fail(state: PendingFind, err: Error): void {
    this.finish(state)
    state.reject(err)
  }

  private settle(state: PendingFind, result: ProofCandidate | null): void {
    if (this.pending !== state) return
    this.finish(state)
    state.resolve(result)
  }

  private finish(state: PendingFind): void {
    // Only if this find is still the one being hashed: never stop a newer one.
    Atomics.compareExchange(this.generation, 0, state.gen, 0)
    if (state.timer !== null) clearTimeout(state.timer)
    state.signal?.removeEventListener('abort', state.onAbort)
    this.pending = null
    for (const w of this.workers) w?.unref()
  }
}

/** A uniform start such that every thread's slice stays below 2^53. */
function randomStart(threads: number): number {
  const [hi, lo] = getRandomValues(new Uint32Array(2))
  const unit = ((hi! & 0x1fffff) * 0x1_0000_0000 + lo!) / NONCE_END // [0, 1)
  return Math.floor(unit * (NONCE_END - threads * THREAD_SPAN))
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
