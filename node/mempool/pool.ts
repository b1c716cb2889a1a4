// The pending pool (the report's UTXpool): valid transactions waiting for a
// block. Pure and in memory; the node persists admissions and removals in
// LevelDB so the pool survives a restart.
import { toHex } from '../../protocol/wire/bytes.js'
import { encodeTx, type Transaction } from '../../protocol/chain/tx-codec.js'
import { ValidationError } from '../chain/errors.js'
import type { Account } from '../chain/state.js'
import { checkTransferSanity } from '../chain/validation.js'

export type PoolErrorCode =
  | 'DUPLICATE_TX'
  | 'POOL_FULL'
  | 'BAD_NONCE'
  | 'INSUFFICIENT_BALANCE'
  | 'BAD_SIGNATURE'
  | 'INVALID_TX'
  | 'SENDER_LIMIT'

export class PoolError extends Error {
  override name = 'PoolError'
  constructor(
    public readonly code: PoolErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export interface PoolEntry {
  tx: Transaction
  id: string
  from: string
  to: string
  bytes: Buffer
  receivedAt: number
}

export interface MempoolOptions {
  maxTxs: number
  /** How far past the sender's next free nonce (account nonce + pending) a transaction may be queued. */
  maxNonceGap: number
  maxPerSender: number
  maxFutureMs: number
  networkId: string
}

export const DEFAULT_POOL_OPTIONS = { maxTxs: 50_000, maxNonceGap: 64, maxPerSender: 10_000, maxFutureMs: 2 * 60_000 }

export class Mempool {
  private readonly byId = new Map<string, PoolEntry>()
  /** sender → nonce → entry */
  private readonly bySender = new Map<string, Map<number, PoolEntry>>()

  constructor(private readonly opts: MempoolOptions) {}

  get size(): number {
    return this.byId.size
  }

  get(id: string): PoolEntry | undefined {
    return this.byId.get(id)
  }

  has(id: string): boolean {
    return this.byId.has(id)
  }

  senders(): string[] {
    return [...this.bySender.keys()]
  }

  /** A sender's pending transactions in nonce order. */
  fromSender(address: string): PoolEntry[] {
    const m = this.bySender.get(address)
    return m ? [...m.values()].sort((a, b) => a.tx.nonce - b.tx.nonce) : []
  }

  /** Pending transactions sent or received by an address, newest first. */
  involving(address: string): PoolEntry[] {
    const out: PoolEntry[] = []
    for (const e of this.byId.values()) if (e.from === address || e.to === address) out.push(e)
    return out.sort((a, b) => b.receivedAt - a.receivedAt)
  }

  /**
   * Checks a transaction against the sender's confirmed account and the
   * sender's other pending transactions, without adding it. The balance must
   * cover this amount plus every pending spend with a lower nonce.
   */
  check(tx: Transaction, id: string, sender: Account, now: number): void {
    if (this.byId.has(id)) throw new PoolError('DUPLICATE_TX', `transaction ${id} is already pending`)
    try {
      checkTransferSanity(tx, this.opts.networkId)
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err
      throw new PoolError(err.code === 'BAD_SIGNATURE' ? 'BAD_SIGNATURE' : 'INVALID_TX', err.message)
    }
    if (tx.timestamp > now + this.opts.maxFutureMs) throw new PoolError('INVALID_TX', 'transaction timestamp is too far in the future')
    const from = toHex(tx.from)
    if (tx.nonce < sender.nonce) {
      throw new PoolError('BAD_NONCE', `nonce ${tx.nonce} is already used (the next nonce of ${from} is ${sender.nonce})`)
    }
    const mine = this.bySender.get(from)
    // The window is measured from the sender's next free nonce (the account
    // nonce plus what is pending), so a busy sender can queue a long run,
    // while a gap may be at most maxNonceGap wide.
    const nextFree = sender.nonce + (mine?.size ?? 0)
    if (tx.nonce > nextFree + this.opts.maxNonceGap) {
      throw new PoolError('BAD_NONCE', `nonce ${tx.nonce} is too far ahead (the next free nonce of ${from} is ${nextFree})`)
    }
    if (mine?.has(tx.nonce)) throw new PoolError('BAD_NONCE', `a transaction with nonce ${tx.nonce} from ${from} is already pending`)
    if ((mine?.size ?? 0) >= this.opts.maxPerSender)
      throw new PoolError('SENDER_LIMIT', `${from} already has ${mine!.size} pending transactions`)
    if (this.byId.size >= this.opts.maxTxs) throw new PoolError('POOL_FULL', `the pending pool is full (${this.opts.maxTxs} transactions)`)
    let committed = 0
    for (const e of mine?.values() ?? []) if (e.tx.nonce < tx.nonce) committed += e.tx.amount
    if (committed + tx.amount > sender.balance) {
      throw new PoolError(
        'INSUFFICIENT_BALANCE',
        `insufficient balance: ${from} has ${sender.balance}` +
          (committed > 0 ? `, ${committed} already pending,` : '') +
          ` and sends ${tx.amount}`,
      )
    }
  }

  /** Adds a checked transaction; returns the entry. */
  add(tx: Transaction, id: string, receivedAt: number): PoolEntry {
    // check() must have run; this only keeps the two indexes from diverging.
    if (this.byId.has(id) || this.bySender.get(toHex(tx.from))?.has(tx.nonce)) {
      throw new PoolError('DUPLICATE_TX', `transaction ${id} or its nonce is already pending`)
    }
    const entry: PoolEntry = { tx, id, from: toHex(tx.from), to: toHex(tx.to), bytes: encodeTx(tx), receivedAt }
    this.byId.set(id, entry)
    let mine = this.bySender.get(entry.from)
    if (!mine) this.bySender.set(entry.from, (mine = new Map()))
    mine.set(tx.nonce, entry)
    return entry
  }

  remove(id: string): PoolEntry | undefined {
    const e = this.byId.get(id)
    if (!e) return undefined
    this.byId.delete(id)
    const mine = this.bySender.get(e.from)
    mine?.delete(e.tx.nonce)
    if (mine?.size === 0) this.bySender.delete(e.from)
    return e
  }

  /**
   * After the chain moved: drops a sender's transactions that can no longer
   * be mined — nonces already used, or a spend the balance no longer covers
   * together with everything after it. Returns the removed entries.
   */
  revalidate(accounts: ReadonlyMap<string, Account>, senders: Iterable<string>): PoolEntry[] {
    const removed: PoolEntry[] = []
    for (const from of senders) {
      const acct = accounts.get(from) ?? { balance: 0, nonce: 0 }
      let spent = 0
      let broken = false
      for (const e of this.fromSender(from)) {
        if (e.tx.nonce < acct.nonce || broken || spent + e.tx.amount > acct.balance) {
          if (e.tx.nonce >= acct.nonce) broken = true
          removed.push(this.remove(e.id)!)
          continue
        }
        spent += e.tx.amount
      }
    }
    return removed
  }

  /**
   * Transactions for the next block: each sender's run of consecutive nonces
   * from its account nonce, within its balance, merged across senders
   * oldest first. `accounts` must hold every pending sender.
   */
  selectForBlock(accounts: ReadonlyMap<string, Account>, maxTxs: number): PoolEntry[] {
    const runs: PoolEntry[][] = []
    for (const from of this.bySender.keys()) {
      const acct = accounts.get(from) ?? { balance: 0, nonce: 0 }
      const run: PoolEntry[] = []
      let balance = acct.balance
      for (let nonce = acct.nonce; ; nonce++) {
        const e = this.bySender.get(from)!.get(nonce)
        if (!e || e.tx.amount > balance) break
        balance -= e.tx.amount
        run.push(e)
      }
      if (run.length > 0) runs.push(run)
    }
    return mergeOldestFirst(runs, maxTxs)
  }
}

/** K-way merge of per-sender runs by arrival time, keeping each run's order. */
function mergeOldestFirst(runs: PoolEntry[][], max: number): PoolEntry[] {
  const out: PoolEntry[] = []
  const heads = runs.map(() => 0)
  // A binary heap of run indexes keyed by their head's arrival time.
  const heap: number[] = []
  const key = (r: number): number => runs[r]![heads[r]!]!.receivedAt
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (key(heap[p]!) <= key(heap[i]!)) break
      ;[heap[p], heap[i]] = [heap[i]!, heap[p]!]
      i = p
    }
  }
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && key(heap[l]!) < key(heap[m]!)) m = l
      if (r < heap.length && key(heap[r]!) < key(heap[m]!)) m = r
      if (m === i) return
      ;[heap[m], heap[i]] = [heap[i]!, heap[m]!]
      i = m
    }
  }
  runs.forEach((_, r) => {
    heap.push(r)
    up(heap.length - 1)
  })
  while (heap.length > 0 && out.length < max) {
    const r = heap[0]!
    out.push(runs[r]![heads[r]!]!)
    heads[r]!++
    if (heads[r]! >= runs[r]!.length) {
      heap[0] = heap[heap.length - 1]!
      heap.pop()
    }
    if (heap.length > 0) down(0)
  }
  return out
}
