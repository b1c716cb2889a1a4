// Binary layouts of the values the chain store keeps (fixed-size, big-endian).
import { readU64, writeU64 } from '../../protocol/wire/bytes.js'
import type { Account, BlockUndo } from '../chain/state.js'

/**
 * A stored record that cannot be what the node wrote: a damaged database.
 * Never read as a default value, which would silently rewrite balances.
 */
export class CorruptRecordError extends Error {
  override name = 'CorruptRecordError'
  constructor(
    /** Which record, e.g. "account 02ab…". */
    readonly record: string,
    problem: string,
  ) {
    super(`corrupt ${record} in the chain database: ${problem}`)
  }
}

const ACCOUNT_BYTES = 16

export function encodeAccount(a: Account): Buffer {
  for (const field of ['balance', 'nonce'] as const) {
    if (!Number.isSafeInteger(a[field]) || a[field] < 0)
      throw new RangeError(`account ${field} ${a[field]} is not an integer in [0, 2^53-1]`)
  }
  const buf = Buffer.allocUnsafe(ACCOUNT_BYTES)
  writeU64(buf, a.balance, 0)
  writeU64(buf, a.nonce, 8)
  return buf
}

/** `record` names the record in the error when the bytes are not a valid account. */
export function decodeAccount(buf: Buffer, record = 'account record'): Account {
  if (buf.length !== ACCOUNT_BYTES) throw new CorruptRecordError(record, `${buf.length} bytes, expected ${ACCOUNT_BYTES}`)
  const balance = readU64(buf, 0)
  const nonce = readU64(buf, 8)
  if (balance === null) throw new CorruptRecordError(record, `balance 0x${buf.toString('hex', 0, 8)} is above 2^53-1`)
  if (nonce === null) throw new CorruptRecordError(record, `nonce 0x${buf.toString('hex', 8, 16)} is above 2^53-1`)
  return { balance, nonce }
}

/** Undo: per account, its 33-byte address, a flag (0 = did not exist, 1 = existed) and the old account. */
export function encodeUndo(undo: BlockUndo): Buffer {
  const buf = Buffer.alloc(4 + undo.length * 50)
  buf.writeUInt32BE(undo.length, 0)
  let off = 4
  for (const [addr, prev] of undo) {
    buf.write(addr, off, 33, 'hex')
    buf[off + 33] = prev === null ? 0 : 1
    if (prev !== null) encodeAccount(prev).copy(buf, off + 34)
    off += 50
  }
  return buf
}

export function decodeUndo(buf: Buffer, record = 'undo record'): BlockUndo {
  if (buf.length < 4 || buf.length !== 4 + buf.readUInt32BE(0) * 50) {
    throw new CorruptRecordError(record, `${buf.length} bytes do not hold the account count it starts with`)
  }
  const n = buf.readUInt32BE(0)
  const undo: BlockUndo = []
  for (let i = 0, off = 4; i < n; i++, off += 50) {
    const addr = buf.toString('hex', off, off + 33)
    const flag = buf[off + 33]
    if (flag !== 0 && flag !== 1) throw new CorruptRecordError(record, `entry ${i} has existence flag ${flag}`)
    undo.push([addr, flag === 0 ? null : decodeAccount(buf.subarray(off + 34, off + 50), `${record} (entry ${i}, account ${addr})`)])
  }
  return undo
}

/** Where a confirmed transaction lives. */
export interface TxLocation {
  blockHash: string
  height: number
  index: number
}

export function encodeTxLocation(loc: TxLocation): Buffer {
  const buf = Buffer.allocUnsafe(40)
  buf.write(loc.blockHash, 0, 32, 'hex')
  buf.writeUInt32BE(loc.height, 32)
  buf.writeUInt32BE(loc.index, 36)
  return buf
}

export function decodeTxLocation(buf: Buffer): TxLocation {
  return { blockHash: buf.toString('hex', 0, 32), height: buf.readUInt32BE(32), index: buf.readUInt32BE(36) }
}

export function u32Key(n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n)
  return b
}
