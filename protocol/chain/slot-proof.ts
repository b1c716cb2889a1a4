// The proof field of a `slots` header (docs/PROTOCOL.md "Slots"). A proof
// block carries the slot's challenge, the validator's fingerprint and nonce
// (which give its record with the header's miner key) and the miner's
// signature over the header; an empty block carries only the challenge.
import { CodecError } from '../wire/codec-error.js'
import { isU64, readU64, writeU64 } from '../wire/bytes.js'
import { encodeHeader, type BlockHeader } from './block-codec.js'
import { SIGNATURE_BYTES } from './keys.js'
import { FINGERPRINT_BYTES } from './proof-record.js'

export const CHALLENGE_BYTES = 32
export const SLOT_PROOF_BYTES = CHALLENGE_BYTES + FINGERPRINT_BYTES + 8 + SIGNATURE_BYTES
export const EMPTY_PROOF_BYTES = CHALLENGE_BYTES
const SIGNING_TAG = Buffer.from('bkc-slot-block', 'utf8')

export interface SlotProof {
  challenge: Buffer // 32
  fingerprint: Buffer // 16
  nonce: number // u64
  signature: Buffer // 64, r‖s low-S, by the header's miner
}

export function encodeSlotProof(p: SlotProof): Buffer {
  if (p.challenge.length !== CHALLENGE_BYTES) throw new CodecError('BAD_FIELD', `challenge must be ${CHALLENGE_BYTES} bytes`)
  if (p.fingerprint.length !== FINGERPRINT_BYTES) throw new CodecError('BAD_FIELD', `fingerprint must be ${FINGERPRINT_BYTES} bytes`)
  if (!isU64(p.nonce)) throw new CodecError('BAD_INTEGER', 'nonce must be an integer in [0, 2^53-1]')
  if (p.signature.length !== SIGNATURE_BYTES) throw new CodecError('BAD_FIELD', `signature must be ${SIGNATURE_BYTES} bytes`)
  const buf = Buffer.allocUnsafe(SLOT_PROOF_BYTES)
  p.challenge.copy(buf, 0)
  p.fingerprint.copy(buf, CHALLENGE_BYTES)
  writeU64(buf, p.nonce, CHALLENGE_BYTES + FINGERPRINT_BYTES)
  p.signature.copy(buf, CHALLENGE_BYTES + FINGERPRINT_BYTES + 8)
  return buf
}

export function decodeSlotProof(proof: Buffer): SlotProof {
  if (proof.length !== SLOT_PROOF_BYTES)
    throw new CodecError('BAD_LENGTH', `a slot proof is ${SLOT_PROOF_BYTES} bytes, got ${proof.length}`)
  const nonce = readU64(proof, CHALLENGE_BYTES + FINGERPRINT_BYTES)
  if (nonce === null) throw new CodecError('BAD_INTEGER', 'proof nonce above 2^53-1')
  return {
    challenge: Buffer.from(proof.subarray(0, CHALLENGE_BYTES)),
    fingerprint: Buffer.from(proof.subarray(CHALLENGE_BYTES, CHALLENGE_BYTES + FINGERPRINT_BYTES)),
    nonce,
    signature: Buffer.from(proof.subarray(CHALLENGE_BYTES + FINGERPRINT_BYTES + 8)),
  }
}

/**
 * What the miner signs: a tag and the header's bytes up to its signature,
 * so the signature covers every other field, the proof's included.
 */
export function slotSigningMessage(header: BlockHeader): Buffer {
  if (header.proof.length !== SLOT_PROOF_BYTES) throw new CodecError('BAD_LENGTH', `a slot proof is ${SLOT_PROOF_BYTES} bytes`)
  const bytes = encodeHeader(header)
  return Buffer.concat([SIGNING_TAG, bytes.subarray(0, bytes.length - SIGNATURE_BYTES)])
}
