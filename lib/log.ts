// Logging: winston, one line per event, level and format chosen on the
// command line (--log-level, --log-format text|json).
import winston from 'winston'

export type Logger = winston.Logger
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = 'text' | 'json'

function textLine(info: winston.Logform.TransformableInfo): string {
  const { level, message, timestamp, component, ...meta } = info
  const fields = Object.entries(meta)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
  const tag = component ? `[${String(component)}] ` : ''
  return `${String(timestamp)} ${level.padEnd(5)} ${tag}${String(message)}${fields.length ? ' ' + fields.join(' ') : ''}`
}

export function createLogger(opts: { level?: LogLevel; format?: LogFormat; silent?: boolean } = {}): Logger {
  const format =
    opts.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp(), winston.format.printf(textLine))
  // Logs go to stderr so that command output on stdout stays machine-readable.
  return winston.createLogger({
    level: opts.level ?? 'info',
    format,
    silent: opts.silent ?? false,
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  })
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return createLogger({ silent: true })
}
