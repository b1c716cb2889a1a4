// Admission to the pending pool over a real chain state: checks against the
// best chain and the pool, persistence before the caller hears "pending",
// and the node's own signed sends.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId, txSigningMessage } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair, verify } from '../../../../protocol/chain/keys.js'
import { silentLogger } from '../../../../lib/log.js'
import { DEFAULT_POOL_OPTIONS, Mempool, PoolError, type PoolEntry } from '../../../../node/mempool/pool.js'
import { nextNonce, TxAdmission } from '../../../../node/mempool/admission.js'
import { genesisRef, mine, tempDir, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { openChain, submitAll } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 100 } })

async function setup(t: Test, persist?: (e: PoolEntry) => Promise<void>) {
  const d = tempDir('bkc-admission-')
  t.teardown(d.cleanup)
  const o = await openChain(net, d.path)
  t.teardown(o.close)
  const pool = new Mempool({ ...DEFAULT_POOL_OPTIONS, networkId: net.networkId, maxFutureMs: net.consensus.maxFutureBlockTimeMs })
  const stored: string[] = []
  const announced: string[] = []
  const admission = new TxAdmission({
    chain: o.chain,
    pool,
    networkId: net.networkId,
    persist:
      persist ??
      (async (e) => {
        stored.push(e.id)
      }),
    announce: (e) => announced.push(e.id),
    logger: silentLogger(),
  })
  return { ...o, pool, admission, stored, announced }
}

const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'accepted',
    (err: unknown) => (err instanceof PoolError ? err.code : `not a PoolError: ${String(err)}`),
  )

t.test('a valid transfer enters the pool and is persisted before submit resolves', async (t) => {
  const s = await setup(t)
  const tx = transfer(net, alice, bob.address, 10, 0)
  const entry = await s.admission.submit(tx)
  t.equal(entry.id, toHex(txId(tx)))
  t.ok(s.pool.has(entry.id), 'in the pool')
  t.same(s.stored, [entry.id], 'persisted')
  t.same(s.announced, [], 'a peer-submitted transaction is not announced by admission')
})

t.test('a confirmed transaction is refused as DUPLICATE_TX', async (t) => {
  const s = await setup(t)
  const tx = transfer(net, alice, bob.address, 10, 0)
  await submitAll(s.chain, [mine(net, genesisRef(net), { txs: [tx] })])
  t.equal(await codeOf(s.admission.submit(tx)), 'DUPLICATE_TX')
  t.equal(s.pool.size, 0)
})

t.test('balance and nonce are checked against the best chain', async (t) => {
  const s = await setup(t)
  t.equal(await codeOf(s.admission.submit(transfer(net, alice, bob.address, 101, 0))), 'INSUFFICIENT_BALANCE')
  t.equal(
    await codeOf(s.admission.submit(transfer(net, bob, alice.address, 1, 0))),
    'INSUFFICIENT_BALANCE',
    'an unknown sender has nothing',
  )
  await submitAll(s.chain, [mine(net, genesisRef(net), { txs: [transfer(net, alice, bob.address, 10, 0)] })])
  t.equal(await codeOf(s.admission.submit(transfer(net, alice, bob.address, 1, 0))), 'BAD_NONCE', 'nonce 0 is used on chain')
  t.equal(await codeOf(s.admission.submit(transfer(net, alice, bob.address, 1, 1))), 'accepted')
})

t.test('a transaction that cannot be persisted is not kept in the pool either', async (t) => {
  const s = await setup(t, async () => {
    throw new Error('disk full')
  })
  const tx = transfer(net, alice, bob.address, 10, 0)
  const err = await s.admission.submit(tx).then(
    () => null,
    (e: Error) => e,
  )
  t.match(err?.message, /disk full/, 'the storage error reaches the caller')
  t.equal(s.pool.size, 0, 'and the pool does not claim it is pending')
})

t.test('sendSigned signs with the given key, picks consecutive nonces, and announces', async (t) => {
  const s = await setup(t)
  const key = { address: toHex(alice.address), privateKey: Buffer.from(alice.privateKey) }
  const sends = await Promise.all([1, 2, 3].map((n) => s.admission.sendSigned(key, bob.address, n)))
  t.same(
    sends.map((e) => e.tx.nonce),
    [0, 1, 2],
    'concurrent sends get consecutive nonces',
  )
  t.ok(
    sends.every((e) => verify(alice.address, txSigningMessage(net.networkId, e.tx), e.tx.signature)),
    'every signature verifies against the key',
  )
  t.same(
    s.announced,
    sends.map((e) => e.id),
    'each is announced, in order',
  )
  t.notOk(
    key.privateKey.every((b) => b === 0),
    'the caller keeps its key',
  )
  t.equal(await codeOf(s.admission.sendSigned(key, bob.address, 95)), 'INSUFFICIENT_BALANCE', 'the balance covers pending spends too')
  t.equal(s.announced.length, 3, 'a refused send is not announced')
})

t.test('nextNonce: the confirmed nonce moved past the pending run that starts at it', async (t) => {
  const e = (nonce: number) => ({ tx: { nonce } }) as PoolEntry
  t.equal(nextNonce(5, []), 5)
  t.equal(nextNonce(5, [e(5), e(6), e(7)]), 8)
  t.equal(nextNonce(5, [e(5), e(7)]), 6, 'a gap is filled first')
  t.equal(nextNonce(5, [e(6), e(7)]), 5)
  fc.assert(
    fc.property(fc.nat(1000), fc.uniqueArray(fc.nat(1100)), (confirmed, ns) => {
      const pending = ns.filter((n) => n >= confirmed).sort((a, b) => a - b)
      const next = nextNonce(confirmed, pending.map(e))
      return next >= confirmed && !pending.includes(next) && pending.filter((n) => n < next).length === next - confirmed
    }),
  )
})
