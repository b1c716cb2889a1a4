// The msgpack profile used by every frame payload: plain, portable msgpack.
//
// Allowed: nil, bool, int (any width), float32/64, str (valid UTF-8), bin,
// array, and map whose keys are unique str other than `__proto__`; nesting at
// most MAX_MSGPACK_DEPTH containers deep. Forbidden: every ext/fixext type
// (timestamp -1, msgpackr records, structured-clone ids, Sets, Errors,
// RegExps, typed arrays, BigInt ext, bundled strings...) and the unused 0xc1.
//
// Why a separate profile check before msgpackr: msgpackr's ext registry is
// process-global (any `addExtension` call anywhere changes what we decode), and
// its record extension (0x72) is honoured even with `useRecords: false`; a
// record definition in a payload turns later fixints 0x40-0x7f into objects.
// Scanning the bytes first means msgpackr only ever sees the subset above, so
// a peer cannot make us build Maps, Dates, Sets, Errors or records, and every
// failure is one typed MessageError('MALFORMED').

import { isUtf8 } from 'node:buffer'
import { Packr, Unpackr, FLOAT32_OPTIONS } from 'msgpackr'
import { MessageError } from './errors.js'

/** Deep enough for any message we define (the deepest is 3), shallow enough that recursion is harmless. */
export const MAX_MSGPACK_DEPTH = 16

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // fixmap for small maps ("preferred serialization"), not msgpackr's default map16 header.
  variableMapSize: true,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  useFloat32: FLOAT32_OPTIONS.NEVER,
  useTimestamp32: false,
  encodeUndefinedAsNil: false,
})

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  // bin values are copied so a small field kept for later (a tx in the mempool)
  // does not pin the whole socket chunk its frame arrived in.
  copyBuffers: true,
  // uint64/int64 come back as exact bigints; the schema turns safe ones into numbers.
  int64AsType: 'bigint',
})

const keyDecoder = new TextDecoder('utf-8', { fatal: true })

function malformed(message: string, cause?: unknown): MessageError {
  return new MessageError('MALFORMED', `msgpack: ${message}`, cause === undefined ? undefined : { cause })
}

/**
 * Encodes a value that a schema already normalised (plain objects, arrays,
 * strings, safe integers, Buffers). The result is a view into msgpackr's write
 * buffer that later packs do not overwrite; copy it if it is kept for long
 * (encodeFrame does).
 */
export function packPlain(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decodes one complete msgpack value in the profile; trailing bytes are an error. */
export function unpackStrict(payload: Uint8Array): unknown {
  checkProfile(payload)
  try {
    return unpackr.unpack(payload)
  } catch (error) {
    // The profile check accepted it, so this would be a msgpackr disagreement; still the peer's bytes.
    throw malformed('undecodable payload', error)
  }
}

/** Throws MessageError('MALFORMED') unless `buf` is exactly one value in the profile. */
export function checkProfile(buf: Uint8Array): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const end = buf.byteLength
  let pos = 0

  const need = (n: number): void => {
    if (n > end - pos) throw malformed(`truncated at byte ${pos} (need ${n} more bytes, ${end - pos} left)`)
  }
  const u8 = (): number => {
    need(1)
    return buf[pos++]!
  }
  const u16 = (): number => {
    need(2)
    const v = view.getUint16(pos)
    pos += 2
    return v
  }
  const u32 = (): number => {
    need(4)
    const v = view.getUint32(pos)
    pos += 4
    return v
  }
  const skip = (n: number): void => {
    need(n)
    pos += n
  }
  const str = (length: number): void => {
    need(length)
    if (!isUtf8(buf.subarray(pos, pos + length))) throw malformed(`invalid UTF-8 in string at byte ${pos}`)
    pos += length
  }

  /** Reads a map key (must be str) and returns it decoded. */
  const key = (): string => {
    const at = pos
    const t = u8()
    let length: number
    if (t >= 0xa0 && t <= 0xbf) length = t & 0x1f
    else if (t === 0xd9) length = u8()
    else if (t === 0xda) length = u16()
    else if (t === 0xdb) length = u32()
    else throw malformed(`map key at byte ${at} is not a string (token 0x${t.toString(16)})`)
    need(length)
    let text: string
    try {
      text = keyDecoder.decode(buf.subarray(pos, pos + length))
    } catch {
      throw malformed(`invalid UTF-8 in map key at byte ${pos}`)
    }
    pos += length
    if (text === '__proto__') throw malformed(`map key "__proto__" at byte ${at} is not allowed`)
    return text
  }

  const container = (depth: number): void => {
    if (depth >= MAX_MSGPACK_DEPTH) throw malformed(`nesting deeper than ${MAX_MSGPACK_DEPTH} at byte ${pos - 1}`)
  }

  const array = (count: number, depth: number): void => {
    container(depth)
    need(count) // every element takes at least one byte: rejects absurd counts before looping
    for (let i = 0; i < count; i++) value(depth + 1)
  }

  const map = (count: number, depth: number): void => {
    container(depth)
    const at = pos
    need(count * 2)
    const seen = count > 1 ? new Set<string>() : null
    for (let i = 0; i < count; i++) {
      const k = key()
      if (seen !== null) {
        if (seen.has(k)) throw malformed(`duplicate map key in map at byte ${at - 1}`)
        seen.add(k)
      }
      value(depth + 1)
    }
  }

  const value = (depth: number): void => {
    const at = pos
    const t = u8()
    if (t <= 0x7f || t >= 0xe0) return // positive / negative fixint
    if (t <= 0x8f) return map(t & 0x0f, depth)
    if (t <= 0x9f) return array(t & 0x0f, depth)
    if (t <= 0xbf) return str(t & 0x1f)
    switch (t) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        return
      case 0xc4:
        return skip(u8()) // bin 8
      case 0xc5:
        return skip(u16()) // bin 16
      case 0xc6:
        return skip(u32()) // bin 32
      case 0xca:
        return skip(4) // float 32
      case 0xcb:
        return skip(8) // float 64
      case 0xcc:
      case 0xd0:
        return skip(1)
      case 0xcd:
      case 0xd1:
        return skip(2)
      case 0xce:
      case 0xd2:
        return skip(4)
      case 0xcf:
      case 0xd3:
        return skip(8)
      case 0xd9:
        return str(u8())
      case 0xda:
        return str(u16())
      case 0xdb:
        return str(u32())
      case 0xdc:
        return array(u16(), depth)
      case 0xdd:
        return array(u32(), depth)
      case 0xde:
        return map(u16(), depth)
      case 0xdf:
        return map(u32(), depth)
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {
        // The ext type byte follows the length field, which fixext lacks.
        const typeAt = pos + (t === 0xc7 ? 1 : t === 0xc8 ? 2 : t === 0xc9 ? 4 : 0)
        const extType = typeAt < end ? String(view.getInt8(typeAt)) : '(truncated)'
        throw malformed(`ext type ${extType} at byte ${at} is not allowed`)
      }
      default: // 0xc1
        throw malformed(`reserved token 0x${t.toString(16)} at byte ${at}`)
    }
  }

  if (end === 0) throw malformed('empty payload')
  value(0)
  if (pos !== end) throw malformed(`${end - pos} trailing bytes after the value`)
}
