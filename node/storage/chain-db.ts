// The node's LevelDB (classic-level). One keyspace, a one-byte prefix per
// table, so a block's every write — block, index entry, height, tx index,
// accounts, undo, pool removals, tip — commits in one atomic batch.
import { ClassicLevel } from 'classic-level'
import { mkdirSync } from 'node:fs'
import type { BlockStatus } from '../chain/block-index.js'
import type { Account, BlockUndo } from '../chain/state.js'
import {
  decodeAccount,
  decodeTxLocation,
  decodeUndo,
  encodeAccount,
  encodeTxLocation,
  encodeUndo,
  u32Key,
  type TxLocation,
} from './records.js'

const P = {
  block: 0x42, // B hash → canonical block bytes
  entry: 0x49, // I hash → header bytes ‖ status byte
  height: 0x48, // H u32 height → hash (best chain only)
  tx: 0x54, // T txid → TxLocation (best chain only)
  account: 0x41, // A address → balance ‖ nonce
  undo: 0x55, // U hash → undo data
  pool: 0x50, // P txid → tx bytes ‖ received-at u64
  byAccount: 0x58, // X address ‖ u32 height ‖ u32 index → txid (best chain only)
  meta: 0x4d, // M name → value
} as const

const key = (prefix: number, ...parts: Uint8Array[]): Buffer => Buffer.concat([Buffer.from([prefix]), ...parts])
const hex = (h: string): Buffer => Buffer.from(h, 'hex')
const metaKey = (name: string): Buffer => key(P.meta, Buffer.from(name, 'ascii'))

export const SCHEMA_VERSION = 1

const ENTRY_STATUS: Record<BlockStatus, number> = { unverified: 0, valid: 1, invalid: 2 }
const STATUS_NAMES: BlockStatus[] = ['unverified', 'valid', 'invalid']

export class DataDirError extends Error {
  override name = 'DataDirError'
}

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }

/** Accumulates writes for one atomic commit. */
export class ChainBatch {
  readonly ops: Op[] = []
  private put(k: Buffer, v: Buffer): this {
    this.ops.push({ type: 'put', key: k, value: v })
    return this
  }
  private del(k: Buffer): this {
    this.ops.push({ type: 'del', key: k })
    return this
  }
  putBlock(hash: string, bytes: Buffer): this {
    return this.put(key(P.block, hex(hash)), bytes)
  }
  putEntry(hash: string, header: Buffer, status: BlockStatus): this {
    return this.put(key(P.entry, hex(hash)), Buffer.concat([header, Buffer.from([ENTRY_STATUS[status]])]))
  }
  putHeight(height: number, hash: string): this {
    return this.put(key(P.height, u32Key(height)), hex(hash))
  }
  delHeight(height: number): this {
    return this.del(key(P.height, u32Key(height)))
  }
  putTx(txid: string, loc: TxLocation): this {
    return this.put(key(P.tx, hex(txid)), encodeTxLocation(loc))
  }
  delTx(txid: string): this {
    return this.del(key(P.tx, hex(txid)))
  }
  putAccount(addr: string, a: Account | null): this {
    return a === null ? this.del(key(P.account, hex(addr))) : this.put(key(P.account, hex(addr)), encodeAccount(a))
  }
  putUndo(hash: string, undo: BlockUndo): this {
    return this.put(key(P.undo, hex(hash)), encodeUndo(undo))
  }
  delUndo(hash: string): this {
    return this.del(key(P.undo, hex(hash)))
  }
  putAccountTx(addr: string, height: number, index: number, txid: string): this {
    return this.put(key(P.byAccount, hex(addr), u32Key(height), u32Key(index)), hex(txid))
  }
  delAccountTx(addr: string, height: number, index: number): this {
    return this.del(key(P.byAccount, hex(addr), u32Key(height), u32Key(index)))
  }
  putPoolTx(txid: string, bytes: Buffer, receivedAt: number): this {
    const v = Buffer.allocUnsafe(bytes.length + 8)
    bytes.copy(v)
    v.writeDoubleBE(receivedAt, bytes.length)
    return this.put(key(P.pool, hex(txid)), v)
  }
  delPoolTx(txid: string): this {
    return this.del(key(P.pool, hex(txid)))
  }
  putTip(hash: string): this {
    return this.put(metaKey('tip'), hex(hash))
  }
  putMeta(name: string, value: Buffer): this {
    return this.put(metaKey(name), value)
  }
  delMeta(name: string): this {
    return this.del(metaKey(name))
  }
}

export interface StoredEntry {
  hash: string
  header: Buffer
  status: BlockStatus
}

/** A pending transaction as stored, under the txid it was saved with. */
export interface StoredPoolTx {
  id: string
  /** Null when the value cannot be transaction bytes followed by an arrival time. */
  record: { bytes: Buffer; receivedAt: number } | null
}

export class ChainDb {
  private constructor(private readonly db: ClassicLevel<Buffer, Buffer>) {}

  static async open(dir: string): Promise<ChainDb> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new DataDirError(`data directory ${dir} is in use by another bkc process (LevelDB lock held)`)
      }
      throw new DataDirError(`cannot open the database in ${dir}: ${cause?.message ?? (err as Error).message}`)
    }
    return new ChainDb(db)
  }

  close(): Promise<void> {
    return this.db.close()
  }

  write(batch: ChainBatch): Promise<void> {
    return batch.ops.length === 0 ? Promise.resolve() : this.db.batch(batch.ops)
  }

  async getMeta(name: string): Promise<Buffer | undefined> {
    return this.db.get(metaKey(name))
  }

  async getTip(): Promise<string | undefined> {
    return (await this.getMeta('tip'))?.toString('hex')
  }

  async getBlock(hash: string): Promise<Buffer | undefined> {
    return this.db.get(key(P.block, hex(hash)))
  }

  async hasBlock(hash: string): Promise<boolean> {
    return (await this.db.get(key(P.block, hex(hash)))) !== undefined
  }

  async getHashAtHeight(height: number): Promise<string | undefined> {
    return (await this.db.get(key(P.height, u32Key(height))))?.toString('hex')
  }

  async getTxLocation(txid: string): Promise<TxLocation | undefined> {
    const v = await this.db.get(key(P.tx, hex(txid)))
    return v && decodeTxLocation(v)
  }

  async getAccount(addr: string): Promise<Account | undefined> {
    const v = await this.db.get(key(P.account, hex(addr)))
    return v && decodeAccount(v, `account ${addr}`)
  }

  async getAccounts(addrs: string[]): Promise<Map<string, Account>> {
    const values = await this.db.getMany(addrs.map((a) => key(P.account, hex(a))))
    const out = new Map<string, Account>()
    values.forEach((v, i) => v && out.set(addrs[i]!, decodeAccount(v, `account ${addrs[i]}`)))
    return out
  }

  async getUndo(hash: string): Promise<BlockUndo | undefined> {
    const v = await this.db.get(key(P.undo, hex(hash)))
    return v && decodeUndo(v, `undo record of block ${hash}`)
  }

  /** Every stored index entry (unordered). */
  async *entries(): AsyncGenerator<StoredEntry> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([P.entry]), lt: Buffer.from([P.entry + 1]) })) {
      yield { hash: k.toString('hex', 1), header: v.subarray(0, v.length - 1), status: STATUS_NAMES[v[v.length - 1]!] ?? 'unverified' }
    }
  }

  /** Confirmed txids touching an address, newest first. */
  async accountTxIds(addr: string, limit: number): Promise<string[]> {
    const prefix = key(P.byAccount, hex(addr))
    const out: string[] = []
    const it = this.db.iterator({ gte: prefix, lt: key(P.byAccount, hex(addr), Buffer.alloc(8, 0xff)), reverse: true, limit })
    for await (const [, v] of it) out.push(v.toString('hex'))
    return out
  }

  /** Every stored pending transaction, damaged ones included so that the caller can delete them by id. */
  async *poolTxs(): AsyncGenerator<StoredPoolTx> {
    for await (const [k, v] of this.db.iterator({ gt: Buffer.from([P.pool]), lt: Buffer.from([P.pool + 1]) })) {
      const receivedAt = v.length > 8 ? v.readDoubleBE(v.length - 8) : Number.NaN
      const record = Number.isFinite(receivedAt) ? { bytes: v.subarray(0, v.length - 8), receivedAt } : null
      yield { id: k.toString('hex', 1), record }
    }
  }

  /** Deletes derived state (everything but blocks, index entries and the pool) for a reindex. */
  async clearState(): Promise<void> {
    // The tip goes first: a crash part-way must not leave a tip over emptied state.
    await this.db.del(metaKey('tip'))
    for (const p of [P.height, P.tx, P.account, P.undo, P.byAccount]) {
      await this.db.clear({ gte: Buffer.from([p]), lt: Buffer.from([p + 1]) })
    }
  }
}
