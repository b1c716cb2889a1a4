// Parsing and checking of command-line values shared by the subcommands.
import { isIP } from 'node:net'
import type { Argv } from 'yargs'
import { NetworkNameError, resolveNetworkFile } from '../node/paths.js'
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../lib/log.js'

export class UsageError extends Error {
  override name = 'UsageError'
}

/**
 * A numeric flag's value: a number (a default) as it is, or a string of
 * decimal digits; NaN for anything else, so "0x10", "1e3" or " 8" are refused
 * rather than read the way Number() would. Numeric flags are declared as
 * strings so that the parsers, and their messages, see what the user typed.
 */
export function decimal(v: unknown): number {
  if (typeof v === 'number') return v
  return typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : Number.NaN
}

export function parsePort(flag: string, allowZero = false) {
  return (v: unknown): number => {
    const n = decimal(v)
    if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
      throw new UsageError(`--${flag} must be a port number (${allowZero ? '0-65535, 0 = any free port' : '1-65535'}), got "${String(v)}"`)
    }
    return n
  }
}

export function parseIp(flag: string) {
  return (v: unknown): string => {
    if (typeof v !== 'string' || isIP(v) === 0) throw new UsageError(`--${flag} must be an IP address, got "${String(v)}"`)
    return v
  }
}

export function parsePositiveInt(flag: string, max: number) {
  return (v: unknown): number => {
    const n = decimal(v)
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${flag} must be an integer from 1 to ${max}, got "${String(v)}"`)
    return n
  }
}

export function parseLogLevel(v: unknown): LogLevel {
  if (!LOG_LEVELS.includes(v as LogLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${String(v)}"`)
  return v as LogLevel
}

export function parseLogFormat(v: unknown): LogFormat {
  if (v !== 'text' && v !== 'json') throw new UsageError(`--log-format must be text or json, got "${String(v)}"`)
  return v
}

/** A flag given twice arrives as an array: a single-valued flag refuses that. */
export function single<T>(flag: string, parse: (v: unknown) => T) {
  return (v: unknown): T => {
    if (Array.isArray(v)) throw new UsageError(`--${flag} was given ${v.length} times; give it once`)
    return parse(v)
  }
}

/** --log-level and --log-format, the same on every command that logs. */
export function logOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', {
      type: 'string',
      default: 'info',
      describe: 'error | warn | info | debug',
      coerce: single('log-level', parseLogLevel),
    })
    .option('log-format', { type: 'string', default: 'text', describe: 'text | json', coerce: single('log-format', parseLogFormat) })
}

/** --network NAME|FILE as a file path; an unknown name is a usage error. */
export function networkFileFlag(value: string | undefined): string {
  try {
    return resolveNetworkFile(value)
  } catch (err) {
    if (err instanceof NetworkNameError) throw new UsageError(`--network: ${err.message}`)
    throw err
  }
}
