// Account transitions: cumulative application inside a block, nonce rules,
// reward last, exact undo.
import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { toHex } from '../../../../protocol/wire/bytes.js'
import type { Transaction } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { RejectCode } from '../../../../node/chain/errors.js'
import { applyBlock, applyGenesis, revertChanges, touchedAddresses, type Account } from '../../../../node/chain/state.js'
import { genesisRef, hexAddress, mine, testNetwork } from '../../../../bench/lib/fixtures.js'
import { genesisAccounts, unsignedTransfer, withWrites } from '../../../helpers/tamper.js'

const [A, B, C, M] = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()].map((k) => k.address) as [
  Buffer,
  Buffer,
  Buffer,
  Buffer,
]
const hex = toHex
const net = testNetwork({ reward: 20 })
const rejects = (code: RejectCode) => ({ name: 'ValidationError', code })
/** A block rewarding `miner` with `transfers` after the reward (state ignores the header). */
const blockOf = (transfers: Transaction[], miner: Buffer = M): Block =>
  mine(net, genesisRef(net), { miner, txs: transfers, unsolved: true })
const accounts = (entries: Array<[Buffer, number, number?]>): Map<string, Account> =>
  new Map(entries.map(([a, balance, nonce]) => [hex(a), { balance, nonce: nonce ?? 0 }]))
const pay = unsignedTransfer

t.test('applyGenesis credits every allocation with nonce 0; undo deletes them', async (t) => {
  const k1 = generateKeyPair()
  const k2 = generateKeyPair()
  const gnet = testNetwork({ balances: { [hexAddress(k1)]: 100, [hexAddress(k2)]: 7 } })
  const { changes, undo } = applyGenesis(gnet.genesis)
  t.same(changes.get(hexAddress(k1)), { balance: 100, nonce: 0 })
  t.same(changes.get(hexAddress(k2)), { balance: 7, nonce: 0 })
  t.equal(changes.size, 2)
  t.same(
    new Map(undo),
    new Map([
      [hexAddress(k1), null],
      [hexAddress(k2), null],
    ]),
  )
  t.same(genesisAccounts(gnet), changes)
  t.equal(applyGenesis(testNetwork().genesis).changes.size, 0, 'empty genesis')
})

t.test('a plain transfer: sender debited and nonce bumped, recipient credited, reward last', async (t) => {
  const before = accounts([[A, 100, 3]])
  const { changes } = applyBlock(blockOf([pay(A, B, 30, 3)]), before)
  t.same(changes.get(hex(A)), { balance: 70, nonce: 4 })
  t.same(changes.get(hex(B)), { balance: 30, nonce: 0 })
  t.same(changes.get(hex(M)), { balance: 20, nonce: 0 })
  t.equal(changes.size, 3)
  t.same(before, accounts([[A, 100, 3]]), 'the input snapshot is not mutated')
})

t.test('overdraft', async (t) => {
  t.throws(() => applyBlock(blockOf([pay(A, B, 101, 0)]), accounts([[A, 100]])), rejects('INSUFFICIENT_BALANCE'))
  t.doesNotThrow(() => applyBlock(blockOf([pay(A, B, 100, 0)]), accounts([[A, 100]])), 'the whole balance is spendable')
  t.throws(() => applyBlock(blockOf([pay(A, B, 1, 0)]), new Map()), rejects('INSUFFICIENT_BALANCE'), 'unknown sender has nothing')
})

t.test('double spend inside one block', async (t) => {
  const start = accounts([[A, 100]])
  t.doesNotThrow(() => applyBlock(blockOf([pay(A, B, 60, 0)]), start))
  t.doesNotThrow(() => applyBlock(blockOf([pay(A, C, 60, 0)]), start))
  t.throws(
    () => applyBlock(blockOf([pay(A, B, 60, 0), pay(A, C, 60, 1)]), start),
    rejects('INSUFFICIENT_BALANCE'),
    'together they exceed it',
  )
  const ok = applyBlock(blockOf([pay(A, B, 60, 0), pay(A, C, 40, 1)]), start)
  t.same(ok.changes.get(hex(A)), { balance: 0, nonce: 2 })
})

t.test('nonces', async (t) => {
  const start = accounts([[A, 100, 2]])
  t.throws(() => applyBlock(blockOf([pay(A, B, 1, 1)]), start), rejects('BAD_NONCE'), 'already used')
  t.throws(() => applyBlock(blockOf([pay(A, B, 1, 3)]), start), rejects('BAD_NONCE'), 'gap')
  t.throws(() => applyBlock(blockOf([pay(A, B, 1, 2), pay(A, B, 2, 2)]), start), rejects('BAD_NONCE'), 'replayed in the same block')
  t.throws(() => applyBlock(blockOf([pay(A, B, 1, 3), pay(A, B, 2, 2)]), start), rejects('BAD_NONCE'), 'right nonces, wrong order')
  t.same(applyBlock(blockOf([pay(A, B, 1, 2), pay(A, B, 2, 3)]), start).changes.get(hex(A)), { balance: 97, nonce: 4 })
})

t.test('receive then spend in order within a block', async (t) => {
  const start = accounts([[A, 100]])
  const { changes } = applyBlock(blockOf([pay(A, B, 30, 0), pay(B, C, 20, 0)]), start)
  t.same(changes.get(hex(B)), { balance: 10, nonce: 1 })
  t.same(changes.get(hex(C)), { balance: 20, nonce: 0 })
  t.throws(() => applyBlock(blockOf([pay(B, C, 20, 0), pay(A, B, 30, 0)]), start), rejects('INSUFFICIENT_BALANCE'), 'spend before receive')
})

t.test('the reward is credited after the transfers', async (t) => {
  t.throws(
    () => applyBlock(blockOf([pay(M, A, 1, 0)], M), new Map()),
    rejects('INSUFFICIENT_BALANCE'),
    'miner spends the reward of its own block',
  )
  const { changes } = applyBlock(blockOf([pay(M, A, 5, 0)], M), accounts([[M, 5]]))
  t.same(changes.get(hex(M)), { balance: 20, nonce: 1 }, 'spends what it had, then gets the reward')
})

t.test('paying oneself keeps the balance and uses a nonce', async (t) => {
  const { changes } = applyBlock(blockOf([pay(A, A, 100, 0)]), accounts([[A, 100]]))
  t.same(changes.get(hex(A)), { balance: 100, nonce: 1 })
})

t.test('balances that would pass 2^53-1 are refused', async (t) => {
  const max = Number.MAX_SAFE_INTEGER
  t.throws(
    () =>
      applyBlock(
        blockOf([pay(A, B, 1, 0)]),
        accounts([
          [A, 1],
          [B, max],
        ]),
      ),
    rejects('OVERFLOW'),
    'transfer',
  )
  t.throws(() => applyBlock(blockOf([]), accounts([[M, max - 19]])), rejects('OVERFLOW'), 'reward')
  t.same(applyBlock(blockOf([]), accounts([[M, max - 20]])).changes.get(hex(M)), { balance: max, nonce: 0 })
})

t.test('touchedAddresses lists every sender and recipient once', async (t) => {
  const block = blockOf([pay(A, B, 1, 0), pay(B, A, 1, 0)])
  const touched = touchedAddresses(block)
  t.same(new Set(touched), new Set([hex(A), hex(B), hex(M), hex(block.txs[0]!.from)]))
  t.equal(touched.length, new Set(touched).size)
})

// ---- undo property ----
const KEYS = Array.from({ length: 6 }, () => generateKeyPair().address)
interface Plan {
  initial: Array<[number, number, number]> // key index, balance, nonce
  steps: Array<[number, number, number]> // from, to, amount seed
  miner: number
}
const planArb: fc.Arbitrary<Plan> = fc.record({
  // Only the first four keys may pre-exist, so the last two are always new accounts.
  initial: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 5 })), {
    selector: (e) => e[0],
    maxLength: 4,
  }),
  steps: fc.array(fc.tuple(fc.nat(5), fc.nat(5), fc.nat()), { maxLength: 12 }),
  miner: fc.nat(5),
})

/** Builds a valid block from the plan with a simple model, returning the expected accounts too. */
function build(plan: Plan): { start: Map<string, Account>; block: Block; expected: Map<string, Account> } {
  const start = new Map(plan.initial.map(([i, balance, nonce]) => [hex(KEYS[i]!), { balance, nonce }]))
  const model = new Map([...start].map(([k, v]) => [k, { ...v }]))
  const get = (i: number) => model.get(hex(KEYS[i]!)) ?? { balance: 0, nonce: 0 }
  const txs: Transaction[] = []
  for (const [f, to, seed] of plan.steps) {
    const sender = get(f)
    if (sender.balance === 0) continue
    const amount = 1 + (seed % sender.balance)
    txs.push(pay(KEYS[f]!, KEYS[to]!, amount, sender.nonce))
    model.set(hex(KEYS[f]!), { balance: sender.balance - amount, nonce: sender.nonce + 1 })
    const r = get(to)
    model.set(hex(KEYS[to]!), { balance: r.balance + amount, nonce: r.nonce })
  }
  const m = get(plan.miner)
  model.set(hex(KEYS[plan.miner]!), { balance: m.balance + net.consensus.blockReward, nonce: m.nonce })
  return { start, block: blockOf(txs, KEYS[plan.miner]!), expected: model }
}

t.test('applying then reverting restores the accounts exactly (property)', async (t) => {
  fc.assert(
    fc.property(planArb, (plan) => {
      const { start, block, expected } = build(plan)
      const snapshot = structuredClone(start)
      const { changes, undo } = applyBlock(block, start)
      const after = withWrites(start, changes)
      const reverted = withWrites(after, revertChanges(undo))
      return (
        isDeepStrictEqual(after, expected) && // matches the model
        isDeepStrictEqual(new Set(undo.map(([a]) => a)), new Set(changes.keys())) && // undo covers exactly the changes
        undo.every(([addr, prev]) => isDeepStrictEqual(prev, start.get(addr) ?? null)) && // the value before the block
        isDeepStrictEqual(reverted, snapshot) && // revert gives back the original map…
        KEYS.slice(4).every((k) => !reverted.has(hex(k))) && // …deleting accounts that did not exist
        isDeepStrictEqual(start, snapshot) // input untouched
      )
    }),
    { numRuns: 200 },
  )
  t.pass('200 random blocks applied and reverted')
})
