// How a long-running command ends: the first SIGINT/SIGTERM stops it cleanly
// (exit 0, or 1 when stopping fails); a second one exits at once (130).
//
// The handlers go in before the command starts anything: a signal while it
// is still starting (a VPN retrying its first connection, a node opening its
// store) aborts `signal`, and the command hands over its cleanup with stopWith
// once it has something to clean up, or nothing if start-up undid itself.
import type { Logger } from '../lib/log.js'

export class StopOnSignals {
  private readonly controller = new AbortController()
  private stop: (() => Promise<void>) | null = null
  private stopping = false

  constructor(
    private readonly logger: Logger,
    private readonly what = 'shutting down',
  ) {
    process.on('SIGINT', () => this.onSignal('SIGINT'))
    process.on('SIGTERM', () => this.onSignal('SIGTERM'))
  }

  /** Aborted by the first signal: start-up steps take it to give up early. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  get requested(): boolean {
    return this.controller.signal.aborted
  }

  /** True when `err` is the signal's own abort, not a failure that happened to coincide with one. */
  stoppedBy(err: unknown): boolean {
    return this.requested && err === this.controller.signal.reason
  }

  /** How to stop what is running. When a signal came already, it runs now. */
  stopWith(stop: () => Promise<void>): void {
    this.stop = stop
    if (this.requested) this.runStop()
  }

  private onSignal(signal: string): void {
    if (this.stopping || this.requested) {
      this.logger.warn('second signal: exiting now', { signal })
      process.exit(130)
    }
    this.logger.info(this.what, { signal })
    this.controller.abort(new Error(`stopped by ${signal}`))
    if (this.stop !== null) this.runStop()
  }

  private runStop(): void {
    if (this.stopping) return
    this.stopping = true
    this.stop!().then(
      () => {
        this.logger.info('stopped')
        process.exitCode = 0
      },
      (err: Error) => {
        this.logger.error('shutdown failed', { error: err.message })
        process.exitCode = 1
      },
    )
  }
}

/** For a command that is fully up: `stop` is what the first signal runs. */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger, what?: string): void {
  new StopOnSignals(logger, what).stopWith(stop)
}
