// Canonical transaction bytes: the one encoding used for the id, the
// signature, the wire (inside TX/BLOCK messages) and storage. Fixed layout,
// big-endian; see docs/PROTOCOL.md "Transactions".
import { CodecError } from '../wire/codec-error.js'
import { readU64, writeU64, isU64 } from '../wire/bytes.js'
import { sha256 } from '../wire/hash.js'

export const TX_VERSION = 1
export const TX_UNSIGNED_BYTES = 91
export const TX_BYTES = 155
const ADDRESS = 33
const SIGNATURE = 64

/** The reward transaction's sender and signature: all zero bytes. */
export const ZERO_ADDRESS: Buffer = Buffer.alloc(ADDRESS)
export const ZERO_SIGNATURE: Buffer = Buffer.alloc(SIGNATURE)

export interface Transaction {
  from: Buffer // 33-byte compressed public key; all zero for a reward
  to: Buffer
  amount: number // u64, whole coins, >= 1 for a transfer
  nonce: number // u64, the sender's sequence number; the height for a reward
  timestamp: number // u64, ms since the Unix epoch
  signature: Buffer // 64 bytes r‖s, low-S; all zero for a reward
}

function writeUnsigned(buf: Buffer, tx: Transaction): void {
  if (tx.from.length !== ADDRESS || tx.to.length !== ADDRESS) throw new CodecError('BAD_FIELD', 'address must be 33 bytes')
  for (const [name, v] of [
    ['amount', tx.amount],
    ['nonce', tx.nonce],
    ['timestamp', tx.timestamp],
  ] as const) {
    if (!isU64(v)) throw new CodecError('BAD_INTEGER', `${name} must be an integer in [0, 2^53-1]`)
  }
  buf[0] = TX_VERSION
  tx.from.copy(buf, 1)
  tx.to.copy(buf, 34)
  writeU64(buf, tx.amount, 67)
  writeU64(buf, tx.nonce, 75)
  writeU64(buf, tx.timestamp, 83)
}

export function encodeTx(tx: Transaction): Buffer {
  if (tx.signature.length !== SIGNATURE) throw new CodecError('BAD_FIELD', 'signature must be 64 bytes')
  const buf = Buffer.allocUnsafe(TX_BYTES)
  writeUnsigned(buf, tx)
  tx.signature.copy(buf, TX_UNSIGNED_BYTES)
  return buf
}

export function decodeTx(bytes: Uint8Array): Transaction {
  if (bytes.length !== TX_BYTES) throw new CodecError('BAD_LENGTH', `transaction must be ${TX_BYTES} bytes, got ${bytes.length}`)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf[0] !== TX_VERSION) throw new CodecError('BAD_VERSION', `unsupported transaction version ${buf[0]}`)
  const amount = readU64(buf, 67)
  const nonce = readU64(buf, 75)
  const timestamp = readU64(buf, 83)
  if (amount === null || nonce === null || timestamp === null) {
    throw new CodecError('BAD_INTEGER', 'transaction integer above 2^53-1')
  }
  // Copies, so a decoded transaction never pins a large network buffer.
  return {
    from: Buffer.from(buf.subarray(1, 34)),
    to: Buffer.from(buf.subarray(34, 67)),
    amount,
    nonce,
    timestamp,
    signature: Buffer.from(buf.subarray(TX_UNSIGNED_BYTES, TX_BYTES)),
  }
}

/** A transaction's id: sha256 of its canonical bytes, signature included. */
export function txId(tx: Transaction): Buffer {
  return sha256(encodeTx(tx))
}

const SIGNING_TAG = Buffer.from('bkc-tx-v1', 'ascii')

/**
 * The message a sender signs: a domain tag, the network id (so a signature
 * cannot be replayed on another network) and the unsigned bytes.
 */
export function txSigningMessage(networkId: string, tx: Transaction): Buffer {
  const net = Buffer.from(networkId, 'utf8')
  if (net.length > 255) throw new CodecError('BAD_FIELD', 'network id longer than 255 bytes')
  const buf = Buffer.allocUnsafe(SIGNING_TAG.length + 1 + net.length + TX_UNSIGNED_BYTES)
  SIGNING_TAG.copy(buf, 0)
  buf[SIGNING_TAG.length] = net.length
  net.copy(buf, SIGNING_TAG.length + 1)
  writeUnsigned(buf.subarray(SIGNING_TAG.length + 1 + net.length), tx)
  return buf
}

/** A reward ("coinbase") transaction: zero sender and signature. */
export function isRewardForm(tx: Transaction): boolean {
  return tx.from.equals(ZERO_ADDRESS)
}
