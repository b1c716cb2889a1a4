// Proof-of-work arithmetic of the `work` engine, shared by its checks and
// its nonce search. A block hash is sha256(prefix ‖ u64be(nonce)) read as a
// 256-bit big-endian integer; the proof is valid when it is <= the target.
import { hash as oneShotHash } from 'node:crypto'
import { isU64, writeU64 } from '../../protocol/wire/bytes.js'

export const HASH_BYTES = 32
export const TARGET_BYTES = 32
export const NONCE_BYTES = 8

const TWO_POW_256 = 1n << 256n

/** Big-endian unsigned comparison: true when hash <= target. Both must be 32 bytes. */
export function hashMeetsTarget(hash: Uint8Array, target: Uint8Array): boolean {
  if (hash.length !== HASH_BYTES || target.length !== TARGET_BYTES) {
    throw new RangeError(`hash and target must be ${HASH_BYTES} bytes (got ${hash.length} and ${target.length})`)
  }
  for (let i = 0; i < HASH_BYTES; i++) {
    const h = hash[i]!
    const t = target[i]!
    if (h !== t) return h < t
  }
  return true
}

/** sha256(prefix ‖ u64be(nonce)): the block hash for a header prefix and nonce. */
export function headerHash(prefix: Uint8Array, nonce: number): Buffer {
  if (!isU64(nonce)) throw new RangeError('nonce must be an integer in [0, 2^53-1]')
  const buf = Buffer.allocUnsafe(prefix.length + NONCE_BYTES)
  buf.set(prefix, 0)
  writeU64(buf, nonce, prefix.length)
  return oneShotHash('sha256', buf, 'buffer')
}

/**
 * Expected number of hashes to meet the target: floor(2^256 / (target + 1)),
 * as Bitcoin's GetBlockProof. Chain work is the sum of this over the blocks.
 */
export function workForTarget(target: Uint8Array): bigint {
  if (target.length !== TARGET_BYTES) throw new RangeError(`target must be ${TARGET_BYTES} bytes, got ${target.length}`)
  const t = BigInt('0x' + Buffer.from(target.buffer, target.byteOffset, target.byteLength).toString('hex'))
  return TWO_POW_256 / (t + 1n)
}

/** The target whose valid hashes start with `bits` zero bits: 16 → 0x0000ffff…ff. */
export function targetFromLeadingZeroBits(bits: number): Buffer {
  if (!Number.isInteger(bits) || bits < 0 || bits > 256) throw new RangeError('bits must be an integer in [0, 256]')
  const target = Buffer.alloc(TARGET_BYTES, 0xff)
  const whole = Math.floor(bits / 8)
  target.fill(0, 0, whole)
  if (whole < TARGET_BYTES) target[whole] = 0xff >>> (bits % 8)
  return target
}
