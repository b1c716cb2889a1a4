// Account state transitions, pure: given the accounts a block touches, apply
// its transactions cumulatively and return the new values plus the undo data
// that restores the old ones on a reorg.
import { toHex } from '../../protocol/wire/bytes.js'
import type { Block } from '../../protocol/chain/block-codec.js'
import type { Transaction } from '../../protocol/chain/tx-codec.js'
import { ValidationError } from './errors.js'

export interface Account {
  balance: number
  nonce: number
}

export const EMPTY_ACCOUNT: Readonly<Account> = Object.freeze({ balance: 0, nonce: 0 })

/** Previous value of each account a block changed; null = did not exist. */
export type BlockUndo = Array<[address: string, previous: Account | null]>

export interface AppliedBlock {
  /** New value of every account the block touched, keyed by address hex. */
  changes: Map<string, Account>
  undo: BlockUndo
}

/** Addresses a block reads or writes: what to load before applying it. */
export function touchedAddresses(block: Block): string[] {
  const set = new Set<string>()
  for (const tx of block.txs) {
    set.add(toHex(tx.to))
    set.add(toHex(tx.from))
  }
  return [...set]
}

/**
 * Applies a block's transactions to `accounts` (a snapshot holding at least
 * every touched address; missing = never seen). Transfers run in order, each
 * against the balances left by the ones before it, so two spends in one block
 * cannot together exceed the balance. The reward (first transaction) is
 * credited after the transfers: a miner cannot spend a reward in the block
 * that creates it.
 */
export function applyBlock(block: Block, accounts: ReadonlyMap<string, Account>): AppliedBlock {
  const changes = new Map<string, Account>()
  const undo: BlockUndo = []
  const read = (addr: string): Account => changes.get(addr) ?? accounts.get(addr) ?? EMPTY_ACCOUNT
  const write = (addr: string, acct: Account): void => {
    if (!changes.has(addr)) undo.push([addr, accounts.get(addr) ?? null])
    changes.set(addr, acct)
  }
  const credit = (addr: string, amount: number, what: string): void => {
    const acct = read(addr)
    const balance = acct.balance + amount
    if (!Number.isSafeInteger(balance)) throw new ValidationError('OVERFLOW', `${what} overflows the balance of ${addr}`)
    write(addr, { balance, nonce: acct.nonce })
  }

  const [reward, ...transfers] = block.txs
  for (const tx of transfers) applyTransfer(tx, read, write, credit)
  if (reward !== undefined) credit(toHex(reward.to), reward.amount, 'reward')
  return { changes, undo }
}

function applyTransfer(
  tx: Transaction,
  read: (a: string) => Account,
  write: (a: string, v: Account) => void,
  credit: (a: string, amount: number, what: string) => void,
): void {
  const from = toHex(tx.from)
  const sender = read(from)
  if (tx.nonce !== sender.nonce) {
    throw new ValidationError('BAD_NONCE', `nonce ${tx.nonce} from ${from}: expected ${sender.nonce}`)
  }
  if (sender.balance < tx.amount) {
    throw new ValidationError('INSUFFICIENT_BALANCE', `${from} spends ${tx.amount} with a balance of ${sender.balance}`)
  }
  write(from, { balance: sender.balance - tx.amount, nonce: sender.nonce + 1 })
  credit(toHex(tx.to), tx.amount, 'transfer')
}

/** Turns undo data into the writes that restore the previous state (null = delete). */
export function revertChanges(undo: BlockUndo): Map<string, Account | null> {
  return new Map(undo)
}

/** Genesis allocations: every transaction of the genesis block is a credit. */
export function applyGenesis(block: Block): AppliedBlock {
  const changes = new Map<string, Account>()
  for (const tx of block.txs) {
    const addr = toHex(tx.to)
    const balance = (changes.get(addr)?.balance ?? 0) + tx.amount
    if (!Number.isSafeInteger(balance)) throw new ValidationError('OVERFLOW', `genesis balance of ${addr} overflows`)
    changes.set(addr, { balance, nonce: 0 })
  }
  return { changes, undo: [...changes.keys()].map((a) => [a, null]) }
}
