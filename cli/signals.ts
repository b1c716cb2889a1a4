// How a long-running command ends: the first SIGINT/SIGTERM stops it cleanly
// (exit 0, or 1 when stopping fails); a second one exits at once (130).
import type { Logger } from '../lib/log.js'

export function stopOnSignals(stop: () => Promise<void>, logger: Logger, what = 'shutting down'): void {
  let stopping = false
  const onSignal = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal })
      process.exit(130)
    }
    stopping = true
    logger.info(what, { signal })
    stop().then(
      () => {
        logger.info('stopped')
        process.exitCode = 0
      },
      (err: Error) => {
        logger.error('shutdown failed', { error: err.message })
        process.exitCode = 1
      },
    )
  }
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
}
