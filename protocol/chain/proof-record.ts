// Proof records of the `slots` engine (DataSys Coin): a record is the first
// 24 bytes of BLAKE3(fingerprint 16 ‖ public key 33 ‖ u64be nonce), a
// 57-byte input. Every validator kind (pow, pom, pos) produces the same
// records; they differ only in how they search them. See docs/PROTOCOL.md
// "Slots".
import { blake3Small, compressSingleBlock } from '../wire/blake3.js'
import { isU64, writeU64 } from '../wire/bytes.js'

export const FINGERPRINT_BYTES = 16
export const PUBLIC_KEY_BYTES = 33
export const RECORD_INPUT_BYTES = FINGERPRINT_BYTES + PUBLIC_KEY_BYTES + 8
/** The hash part of a record. */
export const RECORD_HASH_BYTES = 24
/** A stored entry (table or vault): record hash 24 ‖ u64be nonce 8. */
export const RECORD_ENTRY_BYTES = 32

const NONCE_OFFSET = FINGERPRINT_BYTES + PUBLIC_KEY_BYTES
const TWO_32 = 0x1_0000_0000

/** The input bytes of one record. */
export function recordInput(fingerprint: Uint8Array, publicKey: Uint8Array, nonce: number): Buffer {
  if (fingerprint.length !== FINGERPRINT_BYTES) throw new RangeError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`)
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key must be ${PUBLIC_KEY_BYTES} bytes`)
  if (!isU64(nonce)) throw new RangeError('nonce must be an integer in [0, 2^53-1]')
  const buf = Buffer.allocUnsafe(RECORD_INPUT_BYTES)
  buf.set(fingerprint, 0)
  buf.set(publicKey, FINGERPRINT_BYTES)
  writeU64(buf, nonce, NONCE_OFFSET)
  return buf
}

/** The record (24 bytes) of a validator identity and a nonce. */
export function proofRecord(fingerprint: Uint8Array, publicKey: Uint8Array, nonce: number): Buffer {
  return Buffer.from(blake3Small(recordInput(fingerprint, publicKey, nonce)).subarray(0, RECORD_HASH_BYTES))
}

/**
 * Hashes records of one identity fast: the message words of the fixed
 * fingerprint ‖ key part are laid out once, and each record only sets the
 * three words the nonce touches before the one compression. Nothing is
 * allocated per record.
 */
export class RecordHasher {
  /** The 57-byte input as BLAKE3 reads it: 16 little-endian words, zero-padded. */
  private readonly words = new Uint32Array(16)
  /** Input byte 48 (the key's last byte) shares word 12 with the nonce's first three bytes. */
  private readonly word12Base: number

  constructor(fingerprint: Uint8Array, publicKey: Uint8Array) {
    const input = recordInput(fingerprint, publicKey, 0)
    for (let i = 0; i < NONCE_OFFSET; i++) this.words[i >>> 2]! |= input[i]! << ((i & 3) << 3)
    this.word12Base = this.words[12]!
  }

  /** Writes the 24-byte record of `nonce` into `out` at `offset`. */
  hashInto(nonce: number, out: Uint8Array, offset = 0): void {
    if (!isU64(nonce)) throw new RangeError('nonce must be an integer in [0, 2^53-1]')
    checkSpace(out, offset, RECORD_HASH_BYTES)
    this.hash((nonce / TWO_32) >>> 0, nonce >>> 0, out, offset)
  }

  /**
   * Writes `count` entries (record 24 ‖ u64be nonce 8) for the nonces
   * startNonce, startNonce+1, … into `out` from `offset`: the layout of the
   * proof-of-memory table and the proof-of-space vault.
   */
  fillEntries(startNonce: number, count: number, out: Uint8Array, offset = 0): void {
    if (!isU64(startNonce)) throw new RangeError('start nonce must be an integer in [0, 2^53-1]')
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer')
    checkSpace(out, offset, count * RECORD_ENTRY_BYTES)
    // Compared this way round because startNonce + count may round back below 2^53.
    if (count > 0 && startNonce > Number.MAX_SAFE_INTEGER - (count - 1)) throw new RangeError('the last nonce must be at most 2^53-1')
    let hi = (startNonce / TWO_32) >>> 0
    let lo = startNonce >>> 0
    for (let i = 0, at = offset; i < count; i++, at += RECORD_ENTRY_BYTES) {
      this.hash(hi, lo, out, at)
      out[at + 24] = hi >>> 24
      out[at + 25] = hi >>> 16
      out[at + 26] = hi >>> 8
      out[at + 27] = hi
      out[at + 28] = lo >>> 24
      out[at + 29] = lo >>> 16
      out[at + 30] = lo >>> 8
      out[at + 31] = lo
      if (lo === 0xffffffff) {
        lo = 0
        hi++
      } else lo++
    }
  }

  /** The nonce is u64be at input bytes 49..56, so its bytes straddle words 12, 13 and 14. */
  private hash(hi: number, lo: number, out: Uint8Array, offset: number): void {
    const hiLE = byteSwap(hi)
    const loLE = byteSwap(lo)
    const words = this.words
    words[12] = this.word12Base | (hiLE << 8)
    words[13] = (hiLE >>> 24) | (loLE << 8)
    words[14] = loLE >>> 24
    compressSingleBlock(words, RECORD_INPUT_BYTES, out, offset, 6)
  }
}

function byteSwap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)
}

function checkSpace(out: Uint8Array, offset: number, bytes: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes > out.length) {
    throw new RangeError(`out needs ${bytes} bytes at offset ${offset}, has ${out.length}`)
  }
}

/**
 * The distance between a record and a challenge: |record − challenge[0..24]|
 * with both read as 192-bit big-endian integers. A record wins a slot when
 * its distance is below the slot's target.
 */
export function recordDistance(record: Uint8Array, challenge: Uint8Array): bigint {
  if (record.length < RECORD_HASH_BYTES) throw new RangeError(`record must be at least ${RECORD_HASH_BYTES} bytes`)
  if (challenge.length < RECORD_HASH_BYTES) throw new RangeError(`challenge must be at least ${RECORD_HASH_BYTES} bytes`)
  const r = BigInt(`0x${Buffer.from(record.subarray(0, RECORD_HASH_BYTES)).toString('hex')}`)
  const c = BigInt(`0x${Buffer.from(challenge.subarray(0, RECORD_HASH_BYTES)).toString('hex')}`)
  return r > c ? r - c : c - r
}
