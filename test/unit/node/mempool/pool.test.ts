// The pending pool: admission rules, block selection, revalidation, indexes.
import t from 'tap'
import fc from 'fast-check'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId, type Transaction } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair, type KeyPair } from '../../../../protocol/chain/keys.js'
import type { Account } from '../../../../node/chain/state.js'
import { Mempool, type MempoolOptions, type PoolErrorCode } from '../../../../node/mempool/pool.js'
import { GENESIS_TIME, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { flipBit, highSTwin } from '../../../helpers/tamper.js'

const net = testNetwork()
const [alice, bob, carol] = [generateKeyPair(), generateKeyPair(), generateKeyPair()] as [KeyPair, KeyPair, KeyPair]
const sink = generateKeyPair().address
const NOW = GENESIS_TIME + 10_000
const opts = (patch: Partial<MempoolOptions> = {}): MempoolOptions => ({
  maxTxs: 100,
  maxNonceGap: 4,
  maxPerSender: 10,
  maxFutureMs: 60_000,
  networkId: net.networkId,
  ...patch,
})
const refuses = (code: PoolErrorCode) => ({ name: 'PoolError', code })
const acct = (balance: number, nonce = 0): Account => ({ balance, nonce })
const hex = (k: KeyPair) => toHex(k.address)
const pay = (from: KeyPair, amount: number, nonce: number, ts = GENESIS_TIME + 1) => transfer(net, from, sink, amount, nonce, ts)
const idOf = (tx: Transaction) => toHex(txId(tx))
/** Checks then adds, as the node does. */
function admit(pool: Mempool, tx: Transaction, sender: Account, receivedAt = NOW): void {
  pool.check(tx, idOf(tx), sender, NOW)
  pool.add(tx, idOf(tx), receivedAt)
}
const nonces = (entries: Array<{ tx: Transaction }>) => entries.map((e) => e.tx.nonce)

t.test('admission: a valid transfer is added and indexed', async (t) => {
  const pool = new Mempool(opts())
  const tx = pay(alice, 10, 0)
  admit(pool, tx, acct(100))
  t.equal(pool.size, 1)
  t.ok(pool.has(idOf(tx)))
  t.same(pool.get(idOf(tx))!.bytes.length, 155)
  t.same(pool.senders(), [hex(alice)])
  t.same(nonces(pool.fromSender(hex(alice))), [0])
  t.equal(pool.involving(toHex(sink)).length, 1)
})

t.test('admission: duplicates and nonces', async (t) => {
  const pool = new Mempool(opts())
  const tx = pay(alice, 10, 2)
  admit(pool, tx, acct(100, 2))
  t.throws(() => pool.check(tx, idOf(tx), acct(100, 2), NOW), refuses('DUPLICATE_TX'), 'same id')
  const other = pay(alice, 11, 2)
  t.throws(() => pool.check(other, idOf(other), acct(100, 2), NOW), refuses('BAD_NONCE'), 'nonce already pending')
  const old = pay(alice, 10, 1)
  t.throws(() => pool.check(old, idOf(old), acct(100, 2), NOW), refuses('BAD_NONCE'), 'nonce already used')
  // One pending (nonce 2): the next free nonce is 3, and the gap may be 4 wide.
  const far = pay(alice, 1, 3 + 4 + 1)
  t.throws(() => pool.check(far, idOf(far), acct(100, 2), NOW), refuses('BAD_NONCE'), 'nonce past the allowed gap')
  const edge = pay(alice, 1, 3 + 4)
  t.doesNotThrow(() => pool.check(edge, idOf(edge), acct(100, 2), NOW), 'nonce exactly at the allowed gap')
})

t.test('admission: signature and transfer rules', async (t) => {
  const pool = new Mempool(opts())
  const tx = pay(alice, 10, 0)
  const check = (bad: Transaction) => () => pool.check(bad, idOf(bad), acct(100), NOW)
  t.throws(check({ ...tx, signature: flipBit(tx.signature, 7) }), refuses('BAD_SIGNATURE'), 'flipped bit')
  t.throws(check({ ...tx, signature: highSTwin(tx.signature) }), refuses('BAD_SIGNATURE'), 'high-S')
  t.throws(check({ ...tx, amount: 11 }), refuses('BAD_SIGNATURE'), 'changed amount')
  t.throws(check(transfer(testNetwork({ networkId: 'other' }), alice, sink, 10, 0)), refuses('BAD_SIGNATURE'), 'other network')
  t.throws(check(pay(alice, 0, 0)), refuses('INVALID_TX'), 'zero amount')
  t.throws(check(transfer(net, alice, Buffer.alloc(33), 1, 0)), refuses('INVALID_TX'), 'recipient not a key')
  t.throws(check(pay(alice, 1, 0, NOW + 60_001)), refuses('INVALID_TX'), 'timestamp too far ahead')
  t.doesNotThrow(check(pay(alice, 1, 0, NOW + 60_000)), 'timestamp at the limit')
  t.equal(pool.size, 0)
})

t.test('admission: per-sender limit and pool size', async (t) => {
  const pool = new Mempool(opts({ maxPerSender: 3, maxTxs: 5, maxNonceGap: 10 }))
  for (let n = 0; n < 3; n++) admit(pool, pay(alice, 1, n), acct(100))
  const fourth = pay(alice, 1, 3)
  t.throws(() => pool.check(fourth, idOf(fourth), acct(100), NOW), refuses('SENDER_LIMIT'))
  admit(pool, pay(bob, 1, 0), acct(100))
  admit(pool, pay(bob, 1, 1), acct(100))
  const sixth = pay(carol, 1, 0)
  t.throws(() => pool.check(sixth, idOf(sixth), acct(100), NOW), refuses('POOL_FULL'))
  pool.remove(idOf(pay(bob, 1, 1)))
  t.doesNotThrow(() => pool.check(sixth, idOf(sixth), acct(100), NOW), 'room again after a removal')
})

t.test('admission: balance covers this amount plus pending spends with lower nonces', async (t) => {
  const pool = new Mempool(opts())
  admit(pool, pay(alice, 60, 0), acct(100))
  const tooMuch = pay(alice, 41, 1)
  t.throws(() => pool.check(tooMuch, idOf(tooMuch), acct(100), NOW), { ...refuses('INSUFFICIENT_BALANCE'), message: /60 already pending/ })
  admit(pool, pay(alice, 40, 1), acct(100))
  const gapped = pay(alice, 1, 3)
  t.throws(() => pool.check(gapped, idOf(gapped), acct(100), NOW), refuses('INSUFFICIENT_BALANCE'), 'pending spends count across a gap')
  t.throws(
    () => pool.check(pay(bob, 101, 0), idOf(pay(bob, 101, 0)), acct(100), NOW),
    refuses('INSUFFICIENT_BALANCE'),
    'more than the balance',
  )
  // Spends with higher nonces are not counted: a lower nonce replacing a gap is judged on what comes before it.
  const pool2 = new Mempool(opts())
  admit(pool2, pay(carol, 90, 2), acct(100))
  t.doesNotThrow(() => pool2.check(pay(carol, 100, 0), idOf(pay(carol, 100, 0)), acct(100), NOW))
})

t.test('selectForBlock: each sender in nonce order from the account nonce', async (t) => {
  const pool = new Mempool(opts())
  admit(pool, pay(alice, 1, 2), acct(100), 1)
  admit(pool, pay(alice, 1, 0), acct(100), 2)
  admit(pool, pay(alice, 1, 1), acct(100), 3)
  const accounts = new Map([[hex(alice), acct(100)]])
  t.same(nonces(pool.selectForBlock(accounts, 10)), [0, 1, 2], 'added out of order, selected in order')
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(100, 1)]]), 10)), [1, 2], 'starts at the account nonce')
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(100, 3)]]), 10)), [], 'nothing at the account nonce')
  t.same(pool.selectForBlock(new Map(), 10), [], 'unknown sender: nonce 0 but no balance')
})

t.test('selectForBlock: stops at a gap or when the balance runs out', async (t) => {
  const pool = new Mempool(opts())
  for (const n of [0, 1, 3]) admit(pool, pay(alice, 30, n), acct(1000))
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(1000)]]), 10)), [0, 1], 'gap at 2')
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(59)]]), 10)), [0], 'balance covers one')
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(60)]]), 10)), [0, 1], 'balance covers exactly two')
  t.same(nonces(pool.selectForBlock(new Map([[hex(alice), acct(29)]]), 10)), [])
})

t.test('selectForBlock: merges senders oldest first and respects maxTxs', async (t) => {
  const pool = new Mempool(opts())
  const big = acct(1000)
  admit(pool, pay(alice, 1, 1), big, 0) // arrived first but waits for alice's nonce 0
  admit(pool, pay(bob, 1, 0), big, 5)
  admit(pool, pay(alice, 1, 0), big, 10)
  admit(pool, pay(carol, 1, 0), big, 7)
  admit(pool, pay(bob, 1, 1), big, 20)
  admit(pool, pay(carol, 1, 1), big, 8)
  const accounts = new Map([
    [hex(alice), big],
    [hex(bob), big],
    [hex(carol), big],
  ])
  const label = (e: { from: string; tx: Transaction }) => `${e.from === hex(alice) ? 'a' : e.from === hex(bob) ? 'b' : 'c'}${e.tx.nonce}`
  t.same(pool.selectForBlock(accounts, 100).map(label), ['b0', 'c0', 'c1', 'a0', 'a1', 'b1'])
  t.same(pool.selectForBlock(accounts, 3).map(label), ['b0', 'c0', 'c1'], 'maxTxs')
  t.same(pool.selectForBlock(accounts, 0), [])
})

t.test('revalidate drops used nonces and overdrawn tails', async (t) => {
  const pool = new Mempool(opts({ maxNonceGap: 10 }))
  const amounts = [10, 10, 10, 50, 1, 1]
  amounts.forEach((amount, n) => admit(pool, pay(alice, amount, n), acct(1000)))
  admit(pool, pay(bob, 5, 0), acct(100))
  // The chain moved: alice's nonces 0 and 1 were mined and her balance is now 30.
  const removed = pool.revalidate(
    new Map([
      [hex(alice), acct(30, 2)],
      [hex(bob), acct(100)],
    ]),
    [hex(alice), hex(bob)],
  )
  t.same(nonces(removed).sort(), [0, 1, 3, 4, 5], 'used nonces, the spend of 50, and the 1s behind it that could never be mined')
  t.same(nonces(pool.fromSender(hex(alice))), [2])
  t.equal(pool.fromSender(hex(bob)).length, 1, 'a sender not overdrawn is untouched')
  t.same(pool.revalidate(new Map([[hex(alice), acct(30, 2)]]), [hex(alice)]), [], 'nothing more to drop')
  t.same(nonces(pool.revalidate(new Map([[hex(alice), acct(9, 2)]]), [hex(alice)])), [2], 'balance below the next spend')
  t.same(nonces(pool.revalidate(new Map(), [hex(bob)])), [0], 'a sender with no account has nothing')
  t.equal(pool.size, 0)
  t.same(pool.senders(), [])
})

// ---- index consistency ----
const SENDERS = [alice, bob, carol]
const SIGNED = SENDERS.flatMap((k) => [0, 1, 2, 3].flatMap((n) => [pay(k, 1 + n, n), pay(k, 7 + n, n)]))
const opArb = fc.array(fc.tuple(fc.boolean(), fc.nat(SIGNED.length - 1)), { maxLength: 40 })

t.test('random add/remove sequences keep size, fromSender, get and senders consistent (property)', async (t) => {
  fc.assert(
    fc.property(opArb, (ops) => {
      const pool = new Mempool(opts({ maxPerSender: 3, maxTxs: 7 }))
      const model = new Map<string, Transaction>()
      for (const [isAdd, i] of ops) {
        const tx = SIGNED[i]!
        const id = idOf(tx)
        if (isAdd) {
          try {
            pool.check(tx, id, acct(100), NOW)
          } catch {
            continue
          }
          pool.add(tx, id, NOW)
          model.set(id, tx)
        } else {
          const e = pool.remove(id)
          if ((e !== undefined) !== model.has(id)) return false
          model.delete(id)
        }
        if (pool.size !== model.size) return false
        for (const s of SENDERS) {
          const expected = [...model.values()]
            .filter((x) => x.from.equals(s.address))
            .map((x) => x.nonce)
            .sort((a, b) => a - b)
          const got = pool.fromSender(hex(s))
          if (nonces(got).join() !== expected.join()) return false
          if (got.some((e) => pool.get(e.id) !== e || !model.has(e.id))) return false
          if (pool.senders().includes(hex(s)) !== expected.length > 0) return false
        }
        for (const x of SIGNED) if (pool.has(idOf(x)) !== model.has(idOf(x))) return false
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass('indexes agree with a model')
})

t.test('a sender can queue a consecutive run far longer than the gap', async (t) => {
  const pool = new Mempool(opts({ maxPerSender: 100 }))
  for (let n = 0; n < 40; n++) admit(pool, pay(alice, 1, n), acct(1000, 0))
  t.equal(pool.fromSender(alice.address.toString('hex')).length, 40, '40 consecutive nonces with a gap limit of 4')
})
