// Main-thread side of the nonce search: a pool of long-lived worker threads
// (work-worker.ts) that each scan a slice of a job's nonce range.
//
// Stopping: every job gets a generation number, stored in a shared Int32 that
// the workers' hashing loops poll; a stop swaps it away, so it takes effect
// mid-loop within about a millisecond. Every reply is tagged with its job's
// generation and only counts toward that job, so a late answer from an
// aborted job can never be taken for the answer to a newer one.
//
// A search settles once every thread has answered for it: when it resolves,
// none of its threads is still hashing, and `hashes` is exact.
import { Worker } from 'node:worker_threads'
import { isU64, MAX_SAFE_U64 } from '../../protocol/wire/bytes.js'
import { TARGET_BYTES } from './pow.js'

export interface PowJob {
  /** Header bytes without the trailing 8-byte nonce. */
  prefix: Buffer
  /** 32-byte big-endian target: the hash must be <= target. */
  target: Buffer
  startNonce: number
  /** Nonces to try from startNonce (default: up to 2^53-1). */
  maxNonces?: number
  /** Give up after this many milliseconds. */
  maxMs?: number
}

/** `threadHashes[i]` is what thread i hashed for this job (their sum is `hashes`). */
export type PowResult =
  | { found: true; nonce: number; hash: Buffer; hashes: number; threadHashes: number[] }
  | { found: false; reason: 'exhausted' | 'timeout' | 'aborted'; hashes: number; threadHashes: number[] }

export class PowSearchError extends Error {
  override name = 'PowSearchError'
  constructor(
    public readonly code: 'INVALID_JOB' | 'INVALID_OPTIONS' | 'WORKER_CRASHED' | 'CLOSED',
    message: string,
  ) {
    super(message)
  }
}

// Messages between this file and work-worker.ts.
export interface PowWorkerData {
  /** [0] = generation of the job the workers may hash; 0 = none. */
  generation: Int32Array
  /** [0] = hashes done by all workers ever (for hashRate). */
  hashCounter: BigUint64Array
}
export interface PowJobMessage {
  gen: number
  prefix: Uint8Array
  target: Uint8Array
  start: number
  /** Exclusive; at most 2^53. */
  end: number
}
export type PowReplyMessage =
  | { gen: number; kind: 'found'; nonce: number; hash: Uint8Array; hashes: number }
  | { gen: number; kind: 'exhausted' | 'stopped'; hashes: number }

const MAX_THREADS = 256
const MAX_PREFIX_BYTES = 1 << 20
const MAX_TIMER_MS = 0x7fffffff // setTimeout's limit
const NONCE_END = MAX_SAFE_U64 + 1 // 2^53, exact
const RATE_WINDOW_MS = 5000
const RATE_SAMPLE_MS = 500

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './work-worker.ts' : './work-worker.js', import.meta.url)

interface JobState {
  gen: number
  waiting: Set<number> // slots that have not answered yet
  threadHashes: number[]
  solution: { nonce: number; hash: Buffer } | null
  stopReason: 'timeout' | 'aborted' | null
  someStopped: boolean // a thread answered 'stopped' rather than running out
  timer: NodeJS.Timeout | null
  resolve: (r: PowResult) => void
  reject: (e: Error) => void
}

export class PowSearcher {
  private readonly threads: number
  private readonly workers: (Worker | null)[]
  private readonly generation: Int32Array
  private readonly hashCounter: BigUint64Array
  private readonly jobs = new Map<number, JobState>()
  private lastGen = 0
  private closed = false
  private rateSamples: { at: number; total: number }[] = []
  private rateTimer: NodeJS.Timeout | null = null

  constructor(opts: { threads?: number } = {}) {
    const threads = opts.threads ?? 1
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new PowSearchError('INVALID_OPTIONS', `threads must be an integer in [1, ${MAX_THREADS}]`)
    }
    this.threads = threads
    this.workers = new Array<Worker | null>(threads).fill(null)
    const shared = new SharedArrayBuffer(16)
    this.generation = new Int32Array(shared, 0, 1)
    this.hashCounter = new BigUint64Array(shared, 8, 1)
  }

  /**
   * Splits the job's nonce range between the threads and resolves with the
   * first solution, or when every thread has run out, timed out or been
   * stopped. A new search supersedes a pending one, which resolves 'aborted'.
   * A solution a thread has already reported is never dropped: it wins over
   * a later timeout or abort (it is still a valid proof for that prefix).
   */
  search(job: PowJob): Promise<PowResult> {
    try {
      return this.start(job)
    } catch (err) {
      return Promise.reject(err) // bad job, or a thread that cannot be created
    }
  }

  private start(job: PowJob): Promise<PowResult> {
    if (this.closed) throw new PowSearchError('CLOSED', 'PowSearcher is closed')
    const range = checkJob(job)
    this.stopAll('aborted')
    const total = range.end - range.start
    if (total === 0) return Promise.resolve({ found: false, reason: 'exhausted', hashes: 0, threadHashes: [] })

    const parts = splitRange(range.start, total, Math.min(this.threads, total))
    this.startWorkers()
    const gen = this.nextGeneration()
    // Publish the generation before posting, or a fast worker would see the
    // old value and drop the job as already stopped.
    Atomics.store(this.generation, 0, gen)
    return new Promise<PowResult>((resolve, reject) => {
      const state: JobState = {
        gen,
        waiting: new Set(parts.map((_, i) => i)),
        threadHashes: parts.map(() => 0),
        solution: null,
        stopReason: null,
        someStopped: false,
        timer: null,
        resolve,
        reject,
      }
      this.jobs.set(gen, state)
      // Exact copies: posting a view would clone its whole backing ArrayBuffer
      // (a pooled slab, or the block the prefix was cut from) to every thread.
      const prefix = new Uint8Array(job.prefix)
      const target = new Uint8Array(job.target)
      parts.forEach((part, i) => {
        const worker = this.workers[i]!
        worker.ref() // a pending search keeps the process alive; idle workers do not
        const msg: PowJobMessage = { gen, prefix, target, start: part.start, end: part.end }
        worker.postMessage(msg)
      })
      if (job.maxMs !== undefined) state.timer = setTimeout(() => this.stop(state, 'timeout'), job.maxMs)
    })
  }

  /** Stops the pending search; it resolves 'aborted' once its threads have stopped (within ms). */
  abort(): void {
    this.stopAll('aborted')
  }

  /** Hashes per second over the last few seconds, all threads together. */
  get hashRate(): number {
    if (this.closed || this.rateSamples.length === 0) return 0
    const oldest = this.rateSamples[0]!
    const now = performance.now()
    const elapsed = now - oldest.at
    if (elapsed < 1) return 0
    return ((this.totalHashes() - oldest.total) * 1000) / elapsed
  }

  /** Stops any search (it resolves 'aborted') and terminates the threads. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.rateTimer !== null) clearInterval(this.rateTimer)
    this.rateTimer = null
    Atomics.store(this.generation, 0, 0)
    for (const state of [...this.jobs.values()]) {
      if (state.stopReason === null) state.stopReason = 'aborted'
      this.settle(state)
    }
    const workers = this.workers.filter((w): w is Worker => w !== null)
    this.workers.fill(null)
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private nextGeneration(): number {
    // Positive int32s, skipping 0 (= "no job"); wrapping takes 2^31 jobs.
    this.lastGen = this.lastGen >= 0x7fffffff ? 1 : this.lastGen + 1
    return this.lastGen
  }

  private totalHashes(): number {
    return Number(Atomics.load(this.hashCounter, 0))
  }

  /** Starts the missing workers: all of them the first time, a replacement after a crash. */
  private startWorkers(): void {
    for (let slot = 0; slot < this.threads; slot++) {
      if (this.workers[slot] !== null) continue
      const data: PowWorkerData = { generation: this.generation, hashCounter: this.hashCounter }
      const worker = new Worker(WORKER_URL, { workerData: data, name: `pow-${slot}` })
      worker.unref()
      worker.on('message', (msg: PowReplyMessage) => this.onReply(slot, msg))
      worker.on('error', (err: unknown) => this.onWorkerGone(slot, worker, `failed: ${describe(err)}`))
      worker.on('messageerror', (err: unknown) => this.onWorkerGone(slot, worker, `sent an unreadable message: ${describe(err)}`))
      worker.on('exit', (code) => this.onWorkerGone(slot, worker, `exited with code ${code}`))
      this.workers[slot] = worker
    }
    if (this.rateTimer === null) {
      this.rateSamples = [{ at: performance.now(), total: this.totalHashes() }]
      this.rateTimer = setInterval(() => this.sampleRate(), RATE_SAMPLE_MS)
      this.rateTimer.unref()
    }
  }

  private sampleRate(): void {
    const now = performance.now()
    this.rateSamples.push({ at: now, total: this.totalHashes() })
    while (this.rateSamples.length > 1 && this.rateSamples[0]!.at < now - RATE_WINDOW_MS) this.rateSamples.shift()
  }

  private onReply(slot: number, msg: PowReplyMessage): void {
    const state = this.jobs.get(msg.gen)
    // Unknown generation: a job already settled (e.g. failed by a crash).
    if (state === undefined || !state.waiting.has(slot)) return
    state.waiting.delete(slot)
    state.threadHashes[slot] = msg.hashes
    if (msg.kind === 'stopped') state.someStopped = true
    if (msg.kind === 'found' && state.solution === null) {
      state.solution = { nonce: msg.nonce, hash: Buffer.from(msg.hash) }
      this.stop(state, null) // the other threads need not go on
    }
    if (state.waiting.size === 0) this.settle(state)
  }

  private onWorkerGone(slot: number, worker: Worker, what: string): void {
    // 'error' is followed by 'exit', and close() terminates workers on purpose.
    if (this.closed || this.workers[slot] !== worker) return
    this.workers[slot] = null // replaced by the next search
    void worker.terminate()
    const err = new PowSearchError('WORKER_CRASHED', `proof-of-work thread ${slot} ${what}`)
    for (const state of [...this.jobs.values()]) {
      if (!state.waiting.has(slot)) continue
      this.stop(state, 'aborted')
      if (state.solution !== null) {
        this.settle(state) // another thread's solution is still good
      } else {
        this.finish(state)
        state.reject(err)
      }
    }
  }

  /** Asks the job's threads to stop; they answer 'stopped' within a check interval. */
  private stop(state: JobState, reason: 'timeout' | 'aborted' | null): void {
    if (reason !== null && state.stopReason === null) state.stopReason = reason
    // Only if this job is still the one being hashed: never stop a newer job.
    Atomics.compareExchange(this.generation, 0, state.gen, 0)
  }

  private stopAll(reason: 'timeout' | 'aborted'): void {
    for (const state of this.jobs.values()) this.stop(state, reason)
  }

  private settle(state: JobState): void {
    this.finish(state)
    const hashes = state.threadHashes.reduce((a, b) => a + b, 0)
    const threadHashes = state.threadHashes
    if (state.solution !== null) {
      state.resolve({ found: true, nonce: state.solution.nonce, hash: state.solution.hash, hashes, threadHashes })
    } else {
      const reason = state.stopReason ?? (state.someStopped ? 'aborted' : 'exhausted')
      state.resolve({ found: false, reason, hashes, threadHashes })
    }
  }

  private finish(state: JobState): void {
    if (state.timer !== null) clearTimeout(state.timer)
    this.jobs.delete(state.gen)
    if (this.jobs.size === 0) for (const w of this.workers) w?.unref()
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function checkJob(job: PowJob): { start: number; end: number } {
  const bad = (why: string): never => {
    throw new PowSearchError('INVALID_JOB', why)
  }
  if (job === null || typeof job !== 'object') bad('job must be an object')
  if (!(job.prefix instanceof Uint8Array) || job.prefix.length > MAX_PREFIX_BYTES) {
    bad(`prefix must be a Buffer of at most ${MAX_PREFIX_BYTES} bytes`)
  }
  if (!(job.target instanceof Uint8Array) || job.target.length !== TARGET_BYTES) bad(`target must be a ${TARGET_BYTES}-byte Buffer`)
  if (!isU64(job.startNonce)) bad('startNonce must be an integer in [0, 2^53-1]')
  if (job.maxNonces !== undefined && !isU64(job.maxNonces)) bad('maxNonces must be an integer in [0, 2^53-1]')
  if (job.maxMs !== undefined && !(Number.isFinite(job.maxMs) && job.maxMs >= 0 && job.maxMs <= MAX_TIMER_MS)) {
    bad(`maxMs must be a number in [0, ${MAX_TIMER_MS}]`)
  }
  const end = job.maxNonces === undefined ? NONCE_END : Math.min(NONCE_END, job.startNonce + job.maxNonces)
  return { start: job.startNonce, end }
}

/** Contiguous slices, sizes differing by at most one; exact for totals up to 2^53. */
export function splitRange(start: number, total: number, parts: number): { start: number; end: number }[] {
  const rem = total % parts
  const base = (total - rem) / parts
  const out: { start: number; end: number }[] = []
  let at = start
  for (let i = 0; i < parts; i++) {
    const size = base + (i < rem ? 1 : 0)
    out.push({ start: at, end: at + size })
    at += size
  }
  return out
}
