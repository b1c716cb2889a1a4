// Token bucket for per-peer message rate limits (ADDR and TX floods): bursts
// up to `capacity`, sustained at `refillPerSec`. Pure apart from the clock,
// which is injectable so tests can drive time.
import { performance } from 'node:perf_hooks'

export interface TokenBucketOptions {
  /** Largest burst, and the starting balance: a new peer is not throttled at once. */
  capacity: number
  refillPerSec: number
  /** Milliseconds; monotonic by default so wall-clock jumps neither starve nor flood a peer. */
  now?: () => number
}

export class TokenBucket {
  readonly capacity: number
  readonly refillPerSec: number
  private readonly now: () => number
  private balance: number
  private last: number

  constructor(opts: TokenBucketOptions) {
    if (!Number.isFinite(opts.capacity) || opts.capacity <= 0) {
      throw new RangeError(`TokenBucket capacity must be a positive number, got ${opts.capacity}`)
    }
    if (!Number.isFinite(opts.refillPerSec) || opts.refillPerSec < 0) {
      throw new RangeError(`TokenBucket refillPerSec must be a non-negative number, got ${opts.refillPerSec}`)
    }
    this.capacity = opts.capacity
    this.refillPerSec = opts.refillPerSec
    this.now = opts.now ?? (() => performance.now())
    this.balance = opts.capacity
    this.last = this.now()
  }

  /** Takes `n` tokens if all are available; otherwise takes none and returns false. */
  take(n = 1): boolean {
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`TokenBucket.take needs a non-negative number, got ${n}`)
    this.refill()
    if (this.balance < n) return false
    this.balance -= n
    return true
  }

  get tokens(): number {
    this.refill()
    return this.balance
  }

  private refill(): void {
    const t = this.now()
    const elapsed = t - this.last
    // A clock that steps back (or returns NaN) must not drain or overfill the
    // bucket; after a step back, only time that passes from then on counts.
    if (!(elapsed > 0)) {
      if (Number.isFinite(t)) this.last = t
      return
    }
    this.last = t
    // Multiply before dividing: 100 ms at 10/s is exactly 1 token, not 0.9999….
    this.balance = Math.min(this.capacity, this.balance + (elapsed * this.refillPerSec) / 1000)
  }
}
