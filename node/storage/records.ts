// Binary layouts of the values the chain store keeps (fixed-size, big-endian).
import { readU64, writeU64 } from '../../protocol/wire/bytes.js'
import type { Account, BlockUndo } from '../chain/state.js'

export function encodeAccount(a: Account): Buffer {
  const buf = Buffer.allocUnsafe(16)
  writeU64(buf, a.balance, 0)
  writeU64(buf, a.nonce, 8)
  return buf
}

export function decodeAccount(buf: Buffer): Account {
  return { balance: readU64(buf, 0) ?? 0, nonce: readU64(buf, 8) ?? 0 }
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

export function decodeUndo(buf: Buffer): BlockUndo {
  const n = buf.readUInt32BE(0)
  const undo: BlockUndo = []
  for (let i = 0, off = 4; i < n; i++, off += 50) {
    const addr = buf.toString('hex', off, off + 33)
    undo.push([addr, buf[off + 33] === 0 ? null : decodeAccount(buf.subarray(off + 34, off + 50))])
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
