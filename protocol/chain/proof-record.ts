// Proof records of the `slots` engine (DataSys Coin): a record is the first
// 24 bytes of BLAKE3(fingerprint 16 ‖ public key 33 ‖ u64be nonce), a
// 57-byte input. Every validator kind (pow, pom, pos) produces the same
// records; they differ only in how they search them. See docs/PROTOCOL.md
// "Slots".
import { blake3 } from '@noble/hashes/blake3.js'
import { isU64, writeU64 } from '../wire/bytes.js'

export const FINGERPRINT_BYTES = 16
export const PUBLIC_KEY_BYTES = 33
export const RECORD_INPUT_BYTES = FINGERPRINT_BYTES + PUBLIC_KEY_BYTES + 8
/** The hash part of a record. */
export const RECORD_HASH_BYTES = 24
/** A stored entry (table or vault): record hash 24 ‖ u64be nonce 8. */
export const RECORD_ENTRY_BYTES = 32

/** The input bytes of one record. */
export function recordInput(fingerprint: Uint8Array, publicKey: Uint8Array, nonce: number): Buffer {
  if (fingerprint.length !== FINGERPRINT_BYTES) throw new RangeError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`)
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key must be ${PUBLIC_KEY_BYTES} bytes`)
  if (!isU64(nonce)) throw new RangeError('nonce must be an integer in [0, 2^53-1]')
  const buf = Buffer.allocUnsafe(RECORD_INPUT_BYTES)
  buf.set(fingerprint, 0)
  buf.set(publicKey, FINGERPRINT_BYTES)
  writeU64(buf, nonce, FINGERPRINT_BYTES + PUBLIC_KEY_BYTES)
  return buf
}

/** The record (24 bytes) of a validator identity and a nonce. */
export function proofRecord(fingerprint: Uint8Array, publicKey: Uint8Array, nonce: number): Buffer {
  return Buffer.from(blake3(recordInput(fingerprint, publicKey, nonce)).subarray(0, RECORD_HASH_BYTES))
}

/**
 * Hashes records of one identity fast: the fixed part of the input is laid
 * out once and each call writes the 24-byte record of `nonce` into `out`.
 */
export class RecordHasher {
  private readonly input: Buffer

  constructor(fingerprint: Uint8Array, publicKey: Uint8Array) {
    this.input = recordInput(fingerprint, publicKey, 0)
  }

  hashInto(nonce: number, out: Uint8Array, offset = 0): void {
    writeU64(this.input, nonce, FINGERPRINT_BYTES + PUBLIC_KEY_BYTES)
    out.set(blake3(this.input).subarray(0, RECORD_HASH_BYTES), offset)
  }
}

/**
 * The distance between a record and a challenge: |record − challenge[0..24]|
 * with both read as 192-bit big-endian integers. A record wins a slot when
 * its distance is below the slot's target.
 */
export function recordDistance(record: Uint8Array, challenge: Uint8Array): bigint {
  const r = BigInt(`0x${Buffer.from(record.subarray(0, RECORD_HASH_BYTES)).toString('hex')}`)
  const c = BigInt(`0x${Buffer.from(challenge.subarray(0, RECORD_HASH_BYTES)).toString('hex')}`)
  return r > c ? r - c : c - r
}
