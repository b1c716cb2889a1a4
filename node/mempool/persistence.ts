// The pending pool's copy on disk: admitted transactions are stored, the
// pool is restored from them at startup, and after every tip change the
// pool and its copy are brought back in line with the new best chain.
//
// A reorg's own batch (in the chain state) writes the transactions of
// abandoned blocks back to the stored pool, so a crash right after it cannot
// lose them; afterTipChange then keeps those still valid in memory and
// deletes the rest from disk.
import { toHex } from '../../protocol/wire/bytes.js'
import { decodeTx, isRewardForm, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import type { Logger } from '../../lib/log.js'
import type { Chainstate, TipChange } from '../chain/chainstate.js'
import { ChainBatch, type ChainDb, type StoredPoolTx } from '../storage/chain-db.js'
import { checkAdmissible } from './admission.js'
import { PoolError, type Mempool, type PoolEntry } from './pool.js'

export type PersistenceChain = Pick<Chainstate, 'exclusive' | 'getTxLocation' | 'getAccount' | 'getAccounts'>
export type PoolDb = Pick<ChainDb, 'write' | 'poolTxs'>

export interface PoolPersistenceOptions {
  db: PoolDb
  chain: PersistenceChain
  pool: Mempool
  logger: Logger
}

export class PoolPersistence {
  constructor(private readonly opts: PoolPersistenceOptions) {}

  /** Stores an admitted transaction. */
  save(entry: PoolEntry): Promise<void> {
    return this.opts.db.write(new ChainBatch().putPoolTx(entry.id, entry.bytes, entry.receivedAt))
  }

  /**
   * Refills the (empty) pool from disk, dropping, also from disk, what the
   * chain has made invalid meanwhile and any entry that cannot be read.
   */
  async restore(): Promise<void> {
    const { db, chain, logger } = this.opts
    const stored: Array<{ tx: Transaction; id: string; receivedAt: number }> = []
    const drop = new ChainBatch()
    for await (const entry of db.poolTxs()) {
      const read = readStored(entry)
      if ('problem' in read) {
        // Left on disk it would be skipped again at every start, for good.
        logger.warn('unreadable pending transaction deleted from disk', { id: entry.id, problem: read.problem })
        drop.delPoolTx(entry.id)
      } else {
        stored.push({ tx: read.tx, id: entry.id, receivedAt: read.receivedAt })
      }
    }
    // Nonce order, so each sender's run is admitted without gaps.
    stored.sort((a, b) => a.tx.nonce - b.tx.nonce || a.receivedAt - b.receivedAt)
    let kept = 0
    await chain.exclusive(async () => {
      for (const { tx, id, receivedAt } of stored) {
        if (await this.readmit(tx, id, receivedAt)) kept++
        else drop.delPoolTx(id)
      }
    })
    await db.write(drop)
    if (stored.length > 0) logger.info('pending pool restored', { kept, dropped: stored.length - kept })
  }

  /** Pool upkeep after the tip moved; runs inside the chain lock (the chain state's onTipChange hook). */
  async afterTipChange(change: TipChange): Promise<void> {
    const { db, chain, pool, logger } = this.opts
    for (const b of change.connected) for (const id of b.txIds) pool.remove(id)
    const touched = new Set<string>()
    for (const b of [...change.connected, ...change.disconnected]) {
      for (const tx of b.block.txs) {
        touched.add(toHex(tx.from))
        touched.add(toHex(tx.to))
      }
    }
    const senders = pool.senders().filter((s) => touched.has(s))
    const batch = new ChainBatch()
    const removed = pool.revalidate(await chain.getAccounts(senders), senders)
    for (const e of removed) batch.delPoolTx(e.id)
    // Transactions of abandoned blocks, oldest block first: already on disk
    // (the reorg's batch); keep those still valid, drop the rest.
    let returned = 0
    for (const b of [...change.disconnected].reverse()) {
      for (const [i, tx] of b.block.txs.entries()) {
        const id = b.txIds[i]!
        if (isRewardForm(tx) || pool.has(id)) continue
        if (await chain.getTxLocation(id)) continue // in the new branch too: its batch removed it from disk
        if (await this.readmit(tx, id, Date.now())) returned++
        else batch.delPoolTx(id)
      }
    }
    await db.write(batch)
    if (removed.length > 0 || returned > 0) logger.info('pool updated', { dropped: removed.length, returned })
  }

  /** Puts a stored transaction back in the pool if it is still admissible; false when it is not. */
  private async readmit(tx: Transaction, id: string, receivedAt: number): Promise<boolean> {
    const { chain, pool } = this.opts
    try {
      await checkAdmissible(chain, pool, tx, id, Date.now())
      pool.add(tx, id, receivedAt)
      return true
    } catch (err) {
      if (!(err instanceof PoolError)) throw err
      return false
    }
  }
}

/** A stored entry's transaction, or why it is not one. */
function readStored({ id, record }: StoredPoolTx): { tx: Transaction; receivedAt: number } | { problem: string } {
  if (record === null) return { problem: 'no transaction bytes and arrival time' }
  let tx: Transaction
  try {
    tx = decodeTx(record.bytes)
  } catch (err) {
    return { problem: `cannot decode: ${(err as Error).message}` }
  }
  // Deleting it under the id it hashes to would leave the stored key behind.
  if (toHex(txId(tx)) !== id) return { problem: 'stored under another transaction id' }
  return { tx, receivedAt: record.receivedAt }
}
