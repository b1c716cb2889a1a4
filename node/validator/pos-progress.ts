// Build progress of a vault: rates over the last few seconds, an ETA, and a
// plain one-line text form for logs and progress bars.

export type BuildPhase = 'fill' | 'sort' | 'done'

export interface BuildProgress {
  phase: BuildPhase
  /** Bytes of this phase done: entries stored (fill) or sorted (sort). */
  done: number
  /** Bytes this phase has to do in all (the vault's data size). */
  total: number
  /** This phase's speed over the last few seconds. */
  bytesPerSecond: number
  /** Seconds this phase still needs at that speed; null until there is a speed. */
  etaSeconds: number | null
  /** Records hashed per second (fill phase; dropped ones included). */
  hashesPerSecond: number
}

/** A rate over a sliding window of (time, cumulative value) samples. */
export class RateMeter {
  private readonly samples: Array<[number, number]> = []

  constructor(private readonly windowMs = 5000) {}

  /** Adds a sample of the cumulative `value` at `now` (ms). */
  add(value: number, now = performance.now()): void {
    this.samples.push([now, value])
    while (this.samples.length > 2 && now - this.samples[1]![0] >= this.windowMs) this.samples.shift()
    if (this.samples.length > 1000) this.samples.splice(1, this.samples.length - 1000)
  }

  /** Units per second between the oldest and newest sample in the window; 0 with fewer than two. */
  get rate(): number {
    if (this.samples.length < 2) return 0
    const [t0, v0] = this.samples[0]!
    const [t1, v1] = this.samples[this.samples.length - 1]!
    return t1 > t0 ? ((v1 - v0) * 1000) / (t1 - t0) : 0
  }

  reset(): void {
    this.samples.length = 0
  }
}

export function etaSeconds(remaining: number, ratePerSecond: number): number | null {
  return ratePerSecond > 0 ? remaining / ratePerSecond : null
}

const MIB = 1024 * 1024

/** "1h02m", "3m05s", "42s", "?" */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?'
  const s = Math.max(0, Math.round(seconds))
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

/** "fill  42.0%  1234/2938 MiB  118.2 MB/s  ETA 12s" (MB/s are MiB per second). */
export function formatProgress(p: BuildProgress): string {
  const pct = p.total > 0 ? (100 * p.done) / p.total : 100
  const parts = [p.phase.padEnd(4), `${pct.toFixed(1).padStart(5)}%`, `${Math.floor(p.done / MIB)}/${Math.ceil(p.total / MIB)} MiB`]
  if (p.phase !== 'done') parts.push(`${(p.bytesPerSecond / MIB).toFixed(1)} MB/s`)
  if (p.phase === 'fill') parts.push(`${(p.hashesPerSecond / 1e6).toFixed(2)} MH/s`)
  if (p.phase !== 'done') parts.push(`ETA ${formatDuration(p.etaSeconds)}`)
  return parts.join('  ')
}
