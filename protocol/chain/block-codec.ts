// Canonical block bytes: a header of 145 fixed bytes and a proof of variable
// length, a u32 transaction count and the transactions' canonical bytes.
// The proof is the header's last field, and the `work` engine's proof is its
// 8-byte nonce, so a miner hashes prefix‖nonce with the prefix fixed. What a
// proof holds is the consensus engine's business (node/consensus/); the codec
// only bounds its length. See docs/PROTOCOL.md "Blocks".
import { CodecError } from '../wire/codec-error.js'
import { readU64, writeU64, isU64, isU32 } from '../wire/bytes.js'
import { sha256 } from '../wire/hash.js'
import { TX_BYTES, decodeTx, encodeTx, type Transaction } from './tx-codec.js'

export const BLOCK_VERSION = 2
/** The header without its proof: version … proof type, and the u16 proof length. */
export const HEADER_FIXED_BYTES = 145
export const MAX_PROOF_BYTES = 255
export const MAX_HEADER_BYTES = HEADER_FIXED_BYTES + MAX_PROOF_BYTES
const PROOF_TYPE_OFFSET = 142
const PROOF_LENGTH_OFFSET = 143

/**
 * Proof types. `pow` is the `work` engine's proof of work over the header;
 * under the `slots` engine `pow`, `pom` and `pos` name how the validator
 * searched its record (all verify alike) and `empty` marks the block that
 * fills a slot nobody won.
 */
export const PROOF_TYPES = { pow: 0, pom: 1, pos: 2, empty: 3 } as const
export type ProofType = keyof typeof PROOF_TYPES
const PROOF_NAMES = new Map<number, ProofType>(Object.entries(PROOF_TYPES).map(([k, v]) => [v, k as ProofType]))

export interface BlockHeader {
  height: number // u32
  prevHash: Buffer // 32
  timestamp: number // u64 ms
  txRoot: Buffer // 32
  miner: Buffer // 33
  target: Buffer // 32, big-endian; what the proof must meet
  proofType: ProofType
  proof: Buffer // 0..MAX_PROOF_BYTES, laid out by the engine
}

export interface Block {
  header: BlockHeader
  txs: Transaction[]
}

function checkLen(name: string, b: Buffer, n: number): void {
  if (!Buffer.isBuffer(b) || b.length !== n) throw new CodecError('BAD_FIELD', `${name} must be ${n} bytes`)
}

/** The encoded size of a header with a proof of `proofBytes`. */
export function headerSize(proofBytes: number): number {
  return HEADER_FIXED_BYTES + proofBytes
}

export function encodeHeader(h: BlockHeader): Buffer {
  if (!isU32(h.height)) throw new CodecError('BAD_INTEGER', 'height must be a u32')
  if (!isU64(h.timestamp)) throw new CodecError('BAD_INTEGER', 'timestamp must be an integer in [0, 2^53-1]')
  checkLen('prevHash', h.prevHash, 32)
  checkLen('txRoot', h.txRoot, 32)
  checkLen('miner', h.miner, 33)
  checkLen('target', h.target, 32)
  // Own keys only: 'toString', '__proto__'… are on every object and would encode as 0 (pow).
  const proofType = Object.hasOwn(PROOF_TYPES, h.proofType) ? PROOF_TYPES[h.proofType] : undefined
  if (proofType === undefined) throw new CodecError('BAD_FIELD', `unknown proof type ${String(h.proofType)}`)
  if (!Buffer.isBuffer(h.proof) || h.proof.length > MAX_PROOF_BYTES) {
    throw new CodecError('BAD_FIELD', `proof must be at most ${MAX_PROOF_BYTES} bytes`)
  }
  const buf = Buffer.allocUnsafe(headerSize(h.proof.length))
  buf[0] = BLOCK_VERSION
  buf.writeUInt32BE(h.height, 1)
  h.prevHash.copy(buf, 5)
  writeU64(buf, h.timestamp, 37)
  h.txRoot.copy(buf, 45)
  h.miner.copy(buf, 77)
  h.target.copy(buf, 110)
  buf[PROOF_TYPE_OFFSET] = proofType
  buf.writeUInt16BE(h.proof.length, PROOF_LENGTH_OFFSET)
  h.proof.copy(buf, HEADER_FIXED_BYTES)
  return buf
}

/**
 * The length of the header at the start of `bytes` (a header or a whole
 * block), read from its proof length; null when `bytes` is too short to tell.
 */
export function headerLength(bytes: Uint8Array): number | null {
  if (bytes.length < HEADER_FIXED_BYTES) return null
  return HEADER_FIXED_BYTES + ((bytes[PROOF_LENGTH_OFFSET]! << 8) | bytes[PROOF_LENGTH_OFFSET + 1]!)
}

export function decodeHeader(bytes: Uint8Array): BlockHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < HEADER_FIXED_BYTES) throw new CodecError('BAD_LENGTH', `header too short (${buf.length} bytes)`)
  if (buf[0] !== BLOCK_VERSION) throw new CodecError('BAD_VERSION', `unsupported block version ${buf[0]}`)
  const length = headerLength(buf)!
  if (length - HEADER_FIXED_BYTES > MAX_PROOF_BYTES) throw new CodecError('BAD_LENGTH', `proof longer than ${MAX_PROOF_BYTES} bytes`)
  if (buf.length !== length) throw new CodecError('BAD_LENGTH', `header must be ${length} bytes, got ${buf.length}`)
  const timestamp = readU64(buf, 37)
  if (timestamp === null) throw new CodecError('BAD_INTEGER', 'header integer above 2^53-1')
  const proofType = PROOF_NAMES.get(buf[PROOF_TYPE_OFFSET]!)
  if (proofType === undefined) throw new CodecError('BAD_FIELD', `unknown proof type ${buf[PROOF_TYPE_OFFSET]}`)
  return {
    height: buf.readUInt32BE(1),
    prevHash: Buffer.from(buf.subarray(5, 37)),
    timestamp,
    txRoot: Buffer.from(buf.subarray(45, 77)),
    miner: Buffer.from(buf.subarray(77, 110)),
    target: Buffer.from(buf.subarray(110, 142)),
    proofType,
    proof: Buffer.from(buf.subarray(HEADER_FIXED_BYTES, length)),
  }
}

export function blockHash(h: BlockHeader): Buffer {
  return sha256(encodeHeader(h))
}

/** The encoded size of a block: header, count, transactions. */
export function encodedBlockSize(txCount: number, proofBytes: number): number {
  return headerSize(proofBytes) + 4 + txCount * TX_BYTES
}

export function encodeBlock(block: Block): Buffer {
  const header = encodeHeader(block.header)
  const buf = Buffer.allocUnsafe(header.length + 4 + block.txs.length * TX_BYTES)
  header.copy(buf, 0)
  buf.writeUInt32BE(block.txs.length, header.length)
  let off = header.length + 4
  for (const tx of block.txs) {
    encodeTx(tx).copy(buf, off)
    off += TX_BYTES
  }
  return buf
}

/** Decodes a block; `maxBytes` bounds the work before anything is parsed. */
export function decodeBlock(bytes: Uint8Array, maxBytes = Infinity): Block {
  if (bytes.length > maxBytes) throw new CodecError('BAD_LENGTH', `block of ${bytes.length} bytes exceeds the limit of ${maxBytes}`)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // Before the lengths: another version's header does not lay them out alike.
  if (buf.length > 0 && buf[0] !== BLOCK_VERSION) throw new CodecError('BAD_VERSION', `unsupported block version ${buf[0]}`)
  const hlen = headerLength(buf)
  if (hlen === null || buf.length < hlen + 4) throw new CodecError('BAD_LENGTH', `block too short (${bytes.length} bytes)`)
  const count = buf.readUInt32BE(hlen)
  if (buf.length !== hlen + 4 + count * TX_BYTES) {
    throw new CodecError('BAD_LENGTH', `block announces ${count} transactions but has ${buf.length} bytes`)
  }
  const header = decodeHeader(buf.subarray(0, hlen))
  const txs: Transaction[] = new Array(count)
  for (let i = 0, off = hlen + 4; i < count; i++, off += TX_BYTES) {
    txs[i] = decodeTx(buf.subarray(off, off + TX_BYTES))
  }
  return { header, txs }
}
