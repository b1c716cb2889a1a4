// Positional/by-name parameter parsers for JSON-RPC methods. A parser either returns
// the typed value or throws ParamError with a reason phrased to follow
// `invalid param "NAME": ` (e.g. "must be a positive integer"); the dispatcher adds
// the prefix and the -32602 code.

/** Thrown by a parser; `reason` completes the sentence `invalid param "x": ...`. */
export class ParamError extends Error {
  override name = 'ParamError'

  constructor(public readonly reason: string) {
    super(reason)
  }
}

export type Parser<T> = (value: unknown) => T

export interface ParamSpec {
  name: string
  parse: (v: unknown) => unknown
  /** When true the param may be omitted (or given as null); the handler then receives `default`. */
  optional?: boolean
  default?: unknown
}

export interface MethodDef {
  params: ParamSpec[]
  // biome-ignore lint/suspicious/noExplicitAny: each handler takes the types its ParamSpecs check; the dispatcher passes them positionally
  handler: (...args: any[]) => unknown | Promise<unknown>
  description?: string
}

export type MethodTable = Record<string, MethodDef>

// ---------------------------------------------------------------- parsers

export interface LengthRange {
  min?: number
  max?: number
}

/** A JSON string whose length (in UTF-16 code units) lies in [min, max]. */
export function string(opts: LengthRange = {}): Parser<string> {
  const min = opts.min ?? 0
  const max = opts.max ?? Infinity
  checkLengthOptions('string', min, max)
  let reason = 'must be a string'
  if (min > 0 && max < Infinity)
    reason = min === max ? `must be a string of ${min} characters` : `must be a string of ${min} to ${max} characters`
  else if (min > 0) reason = min === 1 ? 'must be a non-empty string' : `must be a string of at least ${min} characters`
  else if (max < Infinity) reason = `must be a string of at most ${max} characters`
  return (value) => {
    if (typeof value !== 'string' || value.length < min || value.length > max) throw new ParamError(reason)
    return value
  }
}

const HEX_DIGITS = /^[0-9a-fA-F]*$/

/**
 * Hex of exactly `bytes` bytes, either case, with an optional `0x` prefix.
 * Returns the canonical form: lower case, no prefix.
 */
export function hex(opts: { bytes: number }): Parser<string> {
  const { bytes } = opts
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new TypeError(`hex(): bytes must be a positive integer, got ${bytes}`)
  const digits = bytes * 2
  const reason = `must be a hex string of ${bytes} byte${bytes === 1 ? '' : 's'} (${digits} hex digits, optional 0x prefix)`
  return (value) => {
    if (typeof value !== 'string') throw new ParamError(reason)
    const body = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value
    if (body.length !== digits || !HEX_DIGITS.test(body)) throw new ParamError(reason)
    return body.toLowerCase()
  }
}

export interface IntegerRange {
  min?: number
  max?: number
}

/** A JSON number that is a safe integer in [min, max]. `1e3` and `5.0` are accepted: JSON cannot tell them from 1000 and 5. */
export function integer(opts: IntegerRange = {}): Parser<number> {
  const { min, max } = integerBounds('integer', opts)
  const reason = `must be ${describeIntegerRange(min, max)}`
  return (value) => {
    if (!isSafeIntegerIn(value, min, max)) throw new ParamError(reason)
    return value === 0 ? 0 : value // normalises -0
  }
}

// Strict decimal: no sign on zero, no leading zeros, no exponent, no whitespace, no fraction.
const DECIMAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/

/**
 * A safe integer in [min, max] given either as a JSON number or as a decimal string
 * ("20"). Scripts written for the original node send amounts as strings, so both
 * must work; anything a reader could misread ("1e3", "0x10", " 5", "5.0", "007") is refused.
 */
export function integerLike(opts: IntegerRange = {}): Parser<number> {
  const { min, max } = integerBounds('integerLike', opts)
  const reason = `must be ${describeIntegerRange(min, max)} (a JSON number or a decimal string)`
  return (value) => {
    let n: unknown = value
    if (typeof value === 'string') {
      // The length cap keeps Number() from ever seeing a megabyte of digits.
      if (value.length > 17 || !DECIMAL_INTEGER.test(value)) throw new ParamError(reason)
      n = Number(value)
    }
    if (!isSafeIntegerIn(n, min, max)) throw new ParamError(reason)
    return n === 0 ? 0 : n
  }
}

/** A JSON boolean (strings such as "true" are refused: they are usually a quoting mistake). */
export function boolean(): Parser<boolean> {
  return (value) => {
    if (typeof value !== 'boolean') throw new ParamError('must be true or false')
    return value
  }
}

/** One of a fixed set of strings, e.g. oneOf(['latest', 'pending']). */
export function oneOf<const T extends string>(choices: readonly T[]): Parser<T> {
  if (choices.length === 0) throw new TypeError('oneOf(): needs at least one choice')
  const reason = `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`
  return (value) => {
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) throw new ParamError(reason)
    return value as T
  }
}

// ---------------------------------------------------------------- param specs

/** A ParamSpec that remembers what its parser yields, so `defineMethod` can type the handler. */
export interface Param<T> extends ParamSpec {
  parse: Parser<T>
  /** Type-level only: what the handler receives for this param. */
  readonly __type?: T
}

export function required<T>(name: string, parse: Parser<T>): Param<T> {
  return { name, parse }
}

/**
 * An optional param. When omitted, or given as JSON null, the handler receives
 * `defaultValue` as is (it is not passed through the parser).
 */
export function optional<T>(name: string, parse: Parser<T>): Param<T | undefined>
export function optional<T>(name: string, parse: Parser<T>, defaultValue: T): Param<T>
export function optional<T>(name: string, parse: Parser<T>, defaultValue?: T): Param<T | undefined> {
  return { name, parse, optional: true, default: defaultValue }
}

type HandlerArgs<P extends readonly Param<unknown>[]> = { -readonly [K in keyof P]: P[K] extends Param<infer T> ? T : never }

/**
 * Builds a MethodDef whose handler argument types follow from its params:
 * `defineMethod({ params: [required('address', hex({ bytes: 33 }))], handler: (address) => ... })`
 * gives `address: string`.
 */
export function defineMethod<const P extends readonly Param<unknown>[]>(def: {
  params: P
  handler: (...args: HandlerArgs<P>) => unknown
  description?: string
}): MethodDef {
  const names = new Set<string>()
  let sawOptional = false
  for (const p of def.params) {
    if (names.has(p.name)) throw new TypeError(`defineMethod(): duplicate param name "${p.name}"`)
    names.add(p.name)
    // A required param after an optional one could never be omitted positionally.
    if (p.optional) sawOptional = true
    else if (sawOptional) throw new TypeError(`defineMethod(): required param "${p.name}" follows an optional one`)
  }
  const out: MethodDef = { params: [...def.params], handler: def.handler as MethodDef['handler'] }
  if (def.description !== undefined) out.description = def.description
  return out
}

// ---------------------------------------------------------------- helpers

function checkLengthOptions(fn: string, min: number, max: number): void {
  if (!Number.isSafeInteger(min) || min < 0) throw new TypeError(`${fn}(): min must be a non-negative integer`)
  if (max !== Infinity && (!Number.isSafeInteger(max) || max < min)) throw new TypeError(`${fn}(): max must be an integer >= min`)
}

function integerBounds(fn: string, opts: IntegerRange): { min: number; max: number } {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER
  const max = opts.max ?? Number.MAX_SAFE_INTEGER
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
    throw new TypeError(`${fn}(): min and max must be safe integers with min <= max`)
  }
  return { min, max }
}

function isSafeIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

function describeIntegerRange(min: number, max: number): string {
  const noMin = min === Number.MIN_SAFE_INTEGER
  const noMax = max === Number.MAX_SAFE_INTEGER
  if (noMax) {
    if (noMin) return 'a safe integer'
    if (min === 1) return 'a positive integer'
    if (min === 0) return 'a non-negative integer'
    return `an integer of at least ${min}`
  }
  if (noMin) return `an integer of at most ${max}`
  return `an integer from ${min} to ${max}`
}
