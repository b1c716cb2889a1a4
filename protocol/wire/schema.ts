// A tiny runtime validator for decoded payloads (and, on the way out, for our
// own messages before they are encoded). Each schema both checks and
// normalises: integers come out as `number`, byte strings as `Buffer`, and
// objects are rebuilt with exactly the schema's fields in the schema's order,
// which is what makes encoding deterministic.
//
// Every failure is a MessageError('INVALID') whose message starts with the
// field path, e.g. `addrs[3].port: expected u16, got number 70000`. Values a
// peer sent are described by kind and size only, never echoed, so logs stay
// small and free of injected text.

import { MessageError } from './errors.js'
import { asBuffer, MAX_SAFE_U64 } from './bytes.js'

export interface Schema<T> {
  /** Short type description used in errors and docs, e.g. `u16`, `bytes32`, `string≤64`. */
  readonly description: string
  /** Returns the normalised value or throws MessageError('INVALID') naming `path`. */
  parse(value: unknown, path: string): T
}

/** Marks an object field that may be absent (an `undefined` value counts as absent). */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true
}

export type Infer<S> = S extends Schema<infer T> ? T : never

type Fields = Record<string, Schema<unknown>>
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalSchema<unknown> ? K : never }[keyof F]
type Simplify<T> = { [K in keyof T]: T[K] } & {}
export type InferFields<F extends Fields> = Simplify<
  { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Exclude<Infer<F[K]>, undefined> }
>

export interface ObjectSchema<T extends object> extends Schema<T> {
  /** Field names in wire order. */
  readonly keys: readonly string[]
}

/** Validates a whole value (root path). */
export function validate<T>(schema: Schema<T>, value: unknown): T {
  return schema.parse(value, '')
}

function fail(path: string, message: string): never {
  throw new MessageError('INVALID', `${path === '' ? '(root)' : path}: ${message}`)
}

/** Describes a value without echoing its content. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `array(len ${value.length})`
  if (value instanceof Uint8Array) return `bytes(len ${value.byteLength})`
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`
    case 'bigint':
      return `bigint ${value.toString().slice(0, 24)}`
    case 'string':
      return `string(len ${value.length})`
    case 'object': {
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto === Object.prototype || proto === null) return 'map'
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name
      return typeof name === 'string' ? name.slice(0, 32) : 'object'
    }
    default:
      return typeof value
  }
}

function expected(path: string, what: string, value: unknown): never {
  fail(path, `expected ${what}, got ${describeValue(value)}`)
}

/** An exact non-negative-or-not safe integer from number or bigint, normalising -0; null otherwise. */
function toSafeInteger(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value + 0 : null
  if (typeof value === 'bigint') return value >= -BigInt(MAX_SAFE_U64) && value <= BigInt(MAX_SAFE_U64) ? Number(value) : null
  return null
}

export interface IntRange {
  min?: number
  max?: number
}

function unsigned(name: string, limit: number) {
  return (range: IntRange = {}): Schema<number> => {
    const min = range.min ?? 0
    const max = range.max ?? limit
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max > limit || min > max) {
      throw new RangeError(`bad ${name} range ${min}..${max}`)
    }
    const description = min === 0 && max === limit ? name : `${name} in ${min}..${max}`
    return {
      description,
      parse(value, path) {
        const n = toSafeInteger(value)
        if (n === null || n < min || n > max) expected(path, description, value)
        return n
      },
    }
  }
}

export interface StringLimits {
  min?: number
  /** Maximum length in UTF-8 bytes. */
  max: number
}

export type BytesLimits = { len: number } | { min?: number; max: number }

export interface ArrayLimits {
  min?: number
  max: number
}

/** Lone surrogates cannot be encoded as UTF-8; `u` mode pairs valid surrogates, so only lone ones match. */
const LONE_SURROGATE = /\p{Cs}/u

type Literal = string | number | boolean | null

export const s = {
  u8: unsigned('u8', 0xff),
  u16: unsigned('u16', 0xffff),
  u32: unsigned('u32', 0xffffffff),
  /** Protocol u64s are capped at 2^53-1 so they stay exact JS numbers (see protocol/wire/bytes.ts). */
  u64: unsigned('u64', MAX_SAFE_U64),

  string(limits: StringLimits): Schema<string> {
    const min = limits.min ?? 0
    const description = min > 0 ? `string of ${min}..${limits.max} bytes` : `string≤${limits.max}`
    return {
      description,
      parse(value, path) {
        // UTF-8 never takes fewer bytes than UTF-16 code units, so `length` is a cheap first bound.
        if (typeof value !== 'string' || value.length > limits.max) expected(path, description, value)
        const bytes = Buffer.byteLength(value, 'utf8')
        if (bytes < min || bytes > limits.max) fail(path, `expected ${description}, got ${bytes} bytes`)
        if (LONE_SURROGATE.test(value)) fail(path, 'string is not valid Unicode (lone surrogate)')
        return value
      },
    }
  },

  bytes(limits: BytesLimits): Schema<Buffer> {
    const [min, max] = 'len' in limits ? [limits.len, limits.len] : [limits.min ?? 0, limits.max]
    const description = 'len' in limits ? `bytes${limits.len}` : `bytes≤${limits.max}`
    return {
      description,
      parse(value, path) {
        if (!(value instanceof Uint8Array)) expected(path, description, value)
        if (value.byteLength < min || value.byteLength > max) expected(path, description, value)
        return asBuffer(value)
      },
    }
  },

  array<T>(item: Schema<T>, limits: ArrayLimits): Schema<T[]> {
    const min = limits.min ?? 0
    const description = `array≤${limits.max} of ${item.description}`
    return {
      description,
      parse(value, path) {
        if (!Array.isArray(value) || value.length < min || value.length > limits.max) expected(path, description, value)
        const out = new Array<T>(value.length)
        for (let i = 0; i < value.length; i++) out[i] = item.parse(value[i], `${path}[${i}]`)
        return out
      },
    }
  },

  /** Exactly these fields: missing required fields and unknown extra fields are both rejected. */
  object<F extends Fields>(fields: F): ObjectSchema<InferFields<F>> {
    const keys = Object.keys(fields)
    for (const key of keys) {
      if (key === '__proto__') throw new RangeError('a schema field cannot be named __proto__')
    }
    const description = 'map'
    return {
      description,
      keys,
      parse(value, path) {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) expected(path, description, value)
        const proto: unknown = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) expected(path, description, value)
        const record = value as Record<string, unknown>
        for (const key of Object.keys(record)) {
          if (!Object.hasOwn(fields, key)) fail(joinPath(path, key.slice(0, 32)), 'unknown field')
        }
        const out: Record<string, unknown> = {}
        for (const key of keys) {
          const schema = fields[key]!
          const present = Object.hasOwn(record, key) && record[key] !== undefined
          if (!present) {
            if (isOptional(schema)) continue
            fail(joinPath(path, key), `missing field (${schema.description})`)
          }
          out[key] = schema.parse(record[key], joinPath(path, key))
        }
        return out as InferFields<F>
      },
    }
  },

  optional<T>(inner: Schema<T>): OptionalSchema<T> {
    return {
      description: `${inner.description}?`,
      optional: true,
      parse: (value, path) => (value === undefined ? undefined : inner.parse(value, path)),
    }
  },

  literal<const L extends Literal>(literal: L): Schema<L> {
    const description = JSON.stringify(literal)
    return {
      description,
      parse(value, path) {
        if (value !== literal) expected(path, description, value)
        return literal
      },
    }
  },
}

function isOptional(schema: Schema<unknown>): boolean {
  return (schema as Partial<OptionalSchema<unknown>>).optional === true
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

function joinPath(path: string, key: string): string {
  const segment = IDENTIFIER.test(key) ? key : JSON.stringify(key)
  if (path === '') return segment
  return IDENTIFIER.test(key) ? `${path}.${segment}` : `${path}[${segment}]`
}
