// Canonical block bytes: a fixed 151-byte header, a u32 transaction count and
// the transactions' canonical bytes. The nonce is the header's last field so
// a miner hashes prefix‖nonce with the prefix fixed. See docs/PROTOCOL.md "Blocks".
import { CodecError } from '../wire/codec-error.js'
import { readU64, writeU64, isU64, isU32 } from '../wire/bytes.js'
import { sha256 } from '../wire/hash.js'
import { TX_BYTES, decodeTx, encodeTx, type Transaction } from './tx-codec.js'

export const BLOCK_VERSION = 1
export const HEADER_BYTES = 151
export const HEADER_PREFIX_BYTES = HEADER_BYTES - 8

/** Proof types: only proof of work exists now; space and memory come later. */
export const PROOF_TYPES = { pow: 0 } as const
export type ProofType = keyof typeof PROOF_TYPES
const PROOF_NAMES = new Map<number, ProofType>(Object.entries(PROOF_TYPES).map(([k, v]) => [v, k as ProofType]))

export interface BlockHeader {
  height: number // u32
  prevHash: Buffer // 32
  timestamp: number // u64 ms
  txRoot: Buffer // 32
  miner: Buffer // 33
  target: Buffer // 32, big-endian; the hash must be <= target
  proofType: ProofType
  nonce: number // u64 (<= 2^53-1)
}

export interface Block {
  header: BlockHeader
  txs: Transaction[]
}

function checkLen(name: string, b: Buffer, n: number): void {
  if (!Buffer.isBuffer(b) || b.length !== n) throw new CodecError('BAD_FIELD', `${name} must be ${n} bytes`)
}

/** Header bytes without the nonce: what a miner hashes with each candidate nonce appended. */
export function encodeHeaderPrefix(h: BlockHeader): Buffer {
  if (!isU32(h.height)) throw new CodecError('BAD_INTEGER', 'height must be a u32')
  if (!isU64(h.timestamp)) throw new CodecError('BAD_INTEGER', 'timestamp must be an integer in [0, 2^53-1]')
  checkLen('prevHash', h.prevHash, 32)
  checkLen('txRoot', h.txRoot, 32)
  checkLen('miner', h.miner, 33)
  checkLen('target', h.target, 32)
  // Own keys only: 'toString', '__proto__'… are on every object and would encode as 0 (pow).
  const proof = Object.hasOwn(PROOF_TYPES, h.proofType) ? PROOF_TYPES[h.proofType] : undefined
  if (proof === undefined) throw new CodecError('BAD_FIELD', `unknown proof type ${String(h.proofType)}`)
  const buf = Buffer.allocUnsafe(HEADER_PREFIX_BYTES)
  buf[0] = BLOCK_VERSION
  buf.writeUInt32BE(h.height, 1)
  h.prevHash.copy(buf, 5)
  writeU64(buf, h.timestamp, 37)
  h.txRoot.copy(buf, 45)
  h.miner.copy(buf, 77)
  h.target.copy(buf, 110)
  buf[142] = proof
  return buf
}

export function encodeHeader(h: BlockHeader): Buffer {
  if (!isU64(h.nonce)) throw new CodecError('BAD_INTEGER', 'nonce must be an integer in [0, 2^53-1]')
  const buf = Buffer.allocUnsafe(HEADER_BYTES)
  encodeHeaderPrefix(h).copy(buf, 0)
  writeU64(buf, h.nonce, HEADER_PREFIX_BYTES)
  return buf
}

export function decodeHeader(bytes: Uint8Array): BlockHeader {
  if (bytes.length !== HEADER_BYTES) throw new CodecError('BAD_LENGTH', `header must be ${HEADER_BYTES} bytes, got ${bytes.length}`)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf[0] !== BLOCK_VERSION) throw new CodecError('BAD_VERSION', `unsupported block version ${buf[0]}`)
  const timestamp = readU64(buf, 37)
  const nonce = readU64(buf, HEADER_PREFIX_BYTES)
  if (timestamp === null || nonce === null) throw new CodecError('BAD_INTEGER', 'header integer above 2^53-1')
  const proofType = PROOF_NAMES.get(buf[142]!)
  if (proofType === undefined) throw new CodecError('BAD_FIELD', `unknown proof type ${buf[142]}`)
  return {
    height: buf.readUInt32BE(1),
    prevHash: Buffer.from(buf.subarray(5, 37)),
    timestamp,
    txRoot: Buffer.from(buf.subarray(45, 77)),
    miner: Buffer.from(buf.subarray(77, 110)),
    target: Buffer.from(buf.subarray(110, 142)),
    proofType,
    nonce,
  }
}

export function blockHash(h: BlockHeader): Buffer {
  return sha256(encodeHeader(h))
}

export function encodedBlockSize(txCount: number): number {
  return HEADER_BYTES + 4 + txCount * TX_BYTES
}

export function encodeBlock(block: Block): Buffer {
  const buf = Buffer.allocUnsafe(encodedBlockSize(block.txs.length))
  encodeHeader(block.header).copy(buf, 0)
  buf.writeUInt32BE(block.txs.length, HEADER_BYTES)
  let off = HEADER_BYTES + 4
  for (const tx of block.txs) {
    encodeTx(tx).copy(buf, off)
    off += TX_BYTES
  }
  return buf
}

/** Decodes a block; `maxBytes` bounds the work before anything is parsed. */
export function decodeBlock(bytes: Uint8Array, maxBytes = Infinity): Block {
  if (bytes.length > maxBytes) throw new CodecError('BAD_LENGTH', `block of ${bytes.length} bytes exceeds the limit of ${maxBytes}`)
  if (bytes.length < HEADER_BYTES + 4) throw new CodecError('BAD_LENGTH', `block too short (${bytes.length} bytes)`)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = buf.readUInt32BE(HEADER_BYTES)
  if (buf.length !== encodedBlockSize(count)) {
    throw new CodecError('BAD_LENGTH', `block announces ${count} transactions but has ${buf.length} bytes`)
  }
  const header = decodeHeader(buf.subarray(0, HEADER_BYTES))
  const txs: Transaction[] = new Array(count)
  for (let i = 0, off = HEADER_BYTES + 4; i < count; i++, off += TX_BYTES) {
    txs[i] = decodeTx(buf.subarray(off, off + TX_BYTES))
  }
  return { header, txs }
}
