// Records per second over the last few seconds, from a running total that
// worker threads add to (a shared counter): sampled twice a second, so the
// rate follows changes in load within the window and reads cost nothing.
const WINDOW_MS = 5000
const SAMPLE_MS = 500

export class HashRateMeter {
  private samples: { at: number; total: number }[] = []
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly readTotal: () => number) {}

  /** Starts sampling (if not already); the rate counts from now. */
  start(): void {
    if (this.timer !== null) return
    this.samples = [{ at: performance.now(), total: this.readTotal() }]
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
  }

  /** Stops sampling; the rate reads 0 until the next start. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.samples = []
  }

  get rate(): number {
    const oldest = this.samples[0]
    if (oldest === undefined) return 0
    const elapsed = performance.now() - oldest.at
    if (elapsed < 1) return 0
    return ((this.readTotal() - oldest.total) * 1000) / elapsed
  }

  private sample(): void {
    const now = performance.now()
    this.samples.push({ at: now, total: this.readTotal() })
    while (this.samples.length > 1 && this.samples[0]!.at < now - WINDOW_MS) this.samples.shift()
  }
}
