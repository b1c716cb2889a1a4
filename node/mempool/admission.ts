// Admission to the pending pool: a transaction enters only after it is
// checked against the best chain (not already confirmed; signature, nonce and
// balance against the sender's confirmed account) and against the pool, all
// under the chain lock so no block can move the state in between. Also builds
// and signs transfers for the node's own account.
import { toHex } from '../../protocol/wire/bytes.js'
import { txId, txSigningMessage, type Transaction } from '../../protocol/chain/tx-codec.js'
import { sign } from '../../protocol/chain/keys.js'
import type { Logger } from '../../lib/log.js'
import type { Chainstate } from '../chain/chainstate.js'
import { PoolError, type Mempool, type PoolEntry } from './pool.js'

/** What admission reads from the chain. */
export type AdmissionChain = Pick<Chainstate, 'exclusive' | 'getTxLocation' | 'getAccount'>

/**
 * Throws PoolError unless `tx` may enter `pool` now; the caller holds the
 * chain lock. Adds nothing.
 */
export async function checkAdmissible(chain: AdmissionChain, pool: Mempool, tx: Transaction, id: string, now: number): Promise<void> {
  if (await chain.getTxLocation(id)) throw new PoolError('DUPLICATE_TX', `transaction ${id} is already confirmed`)
  pool.check(tx, id, await chain.getAccount(toHex(tx.from)), now)
}

/** The sender's next nonce: its confirmed nonce, moved past the run of pending nonces that follows it. */
export function nextNonce(confirmedNonce: number, pending: readonly PoolEntry[]): number {
  let nonce = confirmedNonce
  for (const e of pending) if (e.tx.nonce === nonce) nonce++
  return nonce
}

export interface AdmissionOptions {
  chain: AdmissionChain
  pool: Mempool
  networkId: string
  /** Keeps an admitted transaction across restarts; resolves once it is stored. */
  persist: (entry: PoolEntry) => Promise<void>
  /** Announces a transaction signed here to the peers. */
  announce: (entry: PoolEntry) => void
  logger: Logger
}

export class TxAdmission {
  constructor(private readonly opts: AdmissionOptions) {}

  /** Checks `tx`, then keeps it in the pool and on disk. */
  submit(tx: Transaction, now = Date.now()): Promise<PoolEntry> {
    return this.opts.chain.exclusive(() => this.admitLocked(tx, now))
  }

  /**
   * Builds a transfer from `key`'s account with its next free nonce, signs
   * and admits it, then announces it. Built under the chain lock so two quick
   * sends get consecutive nonces. The caller keeps ownership of `key`.
   */
  sendSigned(key: { address: string; privateKey: Buffer }, to: Buffer, amount: number): Promise<PoolEntry> {
    const { chain, pool, networkId } = this.opts
    return chain.exclusive(async () => {
      const confirmed = await chain.getAccount(key.address)
      const nonce = nextNonce(confirmed.nonce, pool.fromSender(key.address))
      const now = Date.now()
      const unsigned: Transaction = {
        from: Buffer.from(key.address, 'hex'),
        to,
        amount,
        nonce,
        timestamp: now,
        signature: Buffer.alloc(64),
      }
      const tx = { ...unsigned, signature: sign(key.privateKey, txSigningMessage(networkId, unsigned)) }
      const entry = await this.admitLocked(tx, now)
      this.opts.announce(entry)
      return entry
    })
  }

  private async admitLocked(tx: Transaction, now: number): Promise<PoolEntry> {
    const { chain, pool } = this.opts
    const id = toHex(txId(tx))
    await checkAdmissible(chain, pool, tx, id, now)
    const entry = pool.add(tx, id, now)
    try {
      await this.opts.persist(entry)
    } catch (err) {
      // Not kept on disk: not kept at all, or a restart would lose what the caller was told is pending.
      pool.remove(id)
      throw err
    }
    this.opts.logger.debug('transaction accepted', { id, from: entry.from, to: entry.to, amount: tx.amount, nonce: tx.nonce })
    return entry
  }
}
