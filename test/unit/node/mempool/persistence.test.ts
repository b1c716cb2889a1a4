// The pending pool's copy on disk, over a real chain state and LevelDB:
// saved, restored at startup, and kept in line with the best chain after
// blocks connect and after reorgs.
import t, { type Test } from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { encodeTx, txId, type Transaction } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { silentLogger, type Logger } from '../../../../lib/log.js'
import { DEFAULT_POOL_OPTIONS, Mempool } from '../../../../node/mempool/pool.js'
import { PoolPersistence } from '../../../../node/mempool/persistence.js'
import { TxAdmission } from '../../../../node/mempool/admission.js'
import { ChainBatch, ChainDb } from '../../../../node/storage/chain-db.js'
import { genesisRef, mine, mineChain, parentOf, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { capturingLogger, hashOf, openChain, storedPoolIds, submitAll, testDir } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 100 } })
const idOf = (tx: Transaction) => toHex(txId(tx))
const dataDir = (t: Test): string => testDir(t, 'bkc-pool-persist-')

/** Ids (the keys) in the pool's on-disk table, sorted. */
const storedIds = async (db: ChainDb): Promise<string[]> => (await storedPoolIds(db)).sort()

/** Stores exactly `value` under pool key `id`, for damage putPoolTx cannot produce. */
async function putRawPoolValue(db: ChainDb, id: string, value: Buffer): Promise<void> {
  const batch = new ChainBatch().putPoolTx(id, Buffer.alloc(0), 0)
  const op = batch.ops[0]
  if (op?.type !== 'put') throw new Error('putPoolTx did not make one put')
  op.value = value
  await db.write(batch)
}

/** A chain state, pool, persistence and admission wired as the node wires them, over `dir`. */
async function open(t: Test, dir: string, logger: Logger = silentLogger()) {
  let persistence: PoolPersistence | undefined
  const o = await openChain(net, dir, { onTipChange: async (c) => persistence?.afterTipChange(c) })
  const pool = new Mempool({ ...DEFAULT_POOL_OPTIONS, networkId: net.networkId, maxFutureMs: net.consensus.maxFutureBlockTimeMs })
  const p = new PoolPersistence({ db: o.db, chain: o.chain, pool, logger })
  await p.restore()
  persistence = p
  const admission = new TxAdmission({
    chain: o.chain,
    pool,
    networkId: net.networkId,
    persist: (e) => p.save(e),
    announce: () => undefined,
    logger: silentLogger(),
  })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await o.close()
  }
  t.teardown(close)
  return { ...o, pool, admission, close }
}

t.test('admitted transactions come back after a restart, with their arrival times', async (t) => {
  const dir = dataDir(t)
  const first = await open(t, dir)
  const txs = [0, 1, 2].map((n) => transfer(net, alice, bob.address, 1, n))
  const entries = []
  for (const tx of txs) entries.push(await first.admission.submit(tx))
  t.same(await storedIds(first.db), txs.map(idOf).sort(), 'on disk')
  await first.close()

  const again = await open(t, dir)
  t.equal(again.pool.size, 3, 'all three are pending again')
  t.same(
    again.pool.fromSender(toHex(alice.address)).map((e) => [e.id, e.receivedAt]),
    entries.map((e) => [e.id, e.receivedAt]),
    'in nonce order, arrival times kept',
  )
})

t.test('restore drops, also from disk, what the chain made invalid while the node was down', async (t) => {
  const dir = dataDir(t)
  const first = await open(t, dir)
  const confirmed = transfer(net, alice, bob.address, 10, 0)
  const overdrawn = transfer(net, alice, bob.address, 85, 1)
  const fine = transfer(net, alice, bob.address, 5, 1)
  await first.admission.submit(confirmed)
  await first.admission.submit(overdrawn)
  await first.close()

  // While "down": the chain confirms the first and spends more of alice's balance at nonce 1.
  const chainOnly = await openChain(net, dir)
  await submitAll(chainOnly.chain, [mine(net, genesisRef(net), { txs: [confirmed, fine] })])
  await chainOnly.close()

  const again = await open(t, dir)
  t.equal(again.pool.size, 0, 'neither comes back: one is confirmed, the other reuses a spent nonce')
  t.same(await storedIds(again.db), [], 'and both are gone from disk')
})

t.test('a connected block takes its transactions out of the pool and drops what it made unaffordable', async (t) => {
  const s = await open(t, dataDir(t))
  const a = transfer(net, alice, bob.address, 10, 0)
  const b = transfer(net, alice, bob.address, 80, 1)
  await s.admission.submit(a)
  await s.admission.submit(b)
  // A block with a, plus a different nonce-1 spend that leaves too little for b.
  const other = transfer(net, alice, generateKeyPair().address, 50, 1)
  await submitAll(s.chain, [mine(net, genesisRef(net), { txs: [a, other] })])
  t.equal(s.pool.size, 0, 'a is confirmed, b is no longer valid')
  t.same(await storedIds(s.db), [], 'neither stays on disk (the block removed a, the upkeep removed b)')
})

t.test('a reorg: an abandoned transaction still valid is pending again, in memory and on disk, and survives a restart', async (t) => {
  const dir = dataDir(t)
  const s = await open(t, dir)
  const T = transfer(net, alice, bob.address, 10, 0)
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = mineChain(net, genesisRef(net), 2, { miner: bob.address })
  await submitAll(s.chain, [...a, ...b])
  t.equal(s.chain.tip.hash, hashOf(b[1]!), 'B is best')
  t.ok(s.pool.has(idOf(T)), 'T is pending')
  t.same(await storedIds(s.db), [idOf(T)], 'and on disk')
  await s.close()
  const again = await open(t, dir)
  t.ok(again.pool.has(idOf(T)), 'still pending after a restart')
})

t.test('a reorg: an abandoned transaction the new branch double-spends is dropped, also from disk', async (t) => {
  const s = await open(t, dataDir(t))
  const T = transfer(net, alice, bob.address, 10, 0)
  const conflict = transfer(net, alice, bob.address, 11, 0)
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = [mine(net, genesisRef(net), { miner: bob.address, txs: [conflict] })]
  b.push(...mineChain(net, parentOf(b[0]!), 1, { miner: bob.address }))
  await submitAll(s.chain, [...a, ...b])
  t.equal(s.chain.tip.hash, hashOf(b[1]!), 'B is best')
  t.equal(s.pool.size, 0, 'T is not pending: its nonce is spent on B')
  t.same(await storedIds(s.db), [], 'nor kept on disk')
})

t.test('restore deletes stored entries it cannot read, naming each in a warning, and restores the rest', async (t) => {
  const dir = dataDir(t)
  const first = await open(t, dir)
  const valid = [0, 1].map((n) => transfer(net, alice, bob.address, 1, n))
  for (const tx of valid) await first.admission.submit(tx)
  await first.close()

  const db = await ChainDb.open(dir)
  const misfiled = transfer(net, alice, bob.address, 2, 2)
  const damaged = {
    garbage: 'a1'.repeat(32),
    tooShort: 'a2'.repeat(32),
    noArrivalTime: idOf(transfer(net, alice, bob.address, 3, 2)),
    underAnotherId: 'a3'.repeat(32),
  }
  await db.write(
    new ChainBatch()
      .putPoolTx(damaged.garbage, Buffer.from('not a transaction'), Date.now())
      .putPoolTx(damaged.noArrivalTime, encodeTx(transfer(net, alice, bob.address, 3, 2)), Number.NaN)
      .putPoolTx(damaged.underAnotherId, encodeTx(misfiled), Date.now()),
  )
  await putRawPoolValue(db, damaged.tooShort, Buffer.from([1, 2, 3]))
  await db.close()

  const { logger, lines } = capturingLogger()
  const again = await open(t, dir, logger)
  const warned = lines
    .map((l) => JSON.parse(l))
    .filter((l) => l.level === 'warn' && l.message === 'unreadable pending transaction deleted from disk')
  t.same(warned.map((l) => l.id).sort(), Object.values(damaged).sort(), 'one warning per damaged entry, naming it')
  t.ok(
    warned.every((l) => typeof l.problem === 'string' && l.problem.length > 0),
    'each says what is wrong',
  )
  t.same(await storedIds(again.db), valid.map(idOf).sort(), 'the damaged entries are gone from disk')
  t.same(
    again.pool.fromSender(toHex(alice.address)).map((e) => e.id),
    valid.map(idOf),
    'the valid ones are pending again',
  )
  t.notOk(again.pool.has(idOf(misfiled)), 'a transaction stored under another id is not admitted')
  await again.close()

  const { logger: quiet, lines: later } = capturingLogger()
  const third = await open(t, dir, quiet)
  t.equal(later.filter((l) => JSON.parse(l).level === 'warn').length, 0, 'the next start finds nothing to warn about')
  t.equal(third.pool.size, 2)
})
