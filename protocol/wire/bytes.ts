// Byte helpers shared by the codecs. Everything on the wire is big-endian.

const HEX_RE = /^(?:[0-9a-f]{2})*$/

/** Lower-case hex of the bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Parses lower- or upper-case hex; returns null when it is not hex of whole bytes. */
export function fromHex(hex: string): Buffer | null {
  const lower = hex.toLowerCase()
  if (!HEX_RE.test(lower)) return null
  return Buffer.from(lower, 'hex')
}

/** True when the string is hex of exactly `byteLength` bytes. */
export function isHexOfLength(value: unknown, byteLength: number): value is string {
  return typeof value === 'string' && value.length === byteLength * 2 && HEX_RE.test(value.toLowerCase())
}

/** Views any Uint8Array as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Protocol integers are u64 on the wire but limited to 2^53-1 so that they
 * are exact JavaScript numbers everywhere (JSON-RPC, msgpack, arithmetic).
 */
export const MAX_SAFE_U64 = Number.MAX_SAFE_INTEGER

export function isU64(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
}

/** Writes a safe non-negative integer as u64 BE. */
export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset)
  buf.writeUInt32BE(value >>> 0, offset + 4)
}

/** Reads u64 BE; returns null when it does not fit a safe integer. */
export function readU64(buf: Buffer, offset: number): number | null {
  const hi = buf.readUInt32BE(offset)
  const lo = buf.readUInt32BE(offset + 4)
  if (hi > 0x1fffff) return null
  return hi * 0x1_0000_0000 + lo
}
