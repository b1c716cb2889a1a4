// Chainstate over a real LevelDB in a temp dir: genesis, connecting blocks,
// orphans, duplicates, invalid and future blocks, restart, data-dir guards
// and reindex.
import t, { type Test } from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { merkleRoot } from '../../../../protocol/chain/merkle.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { TipChange } from '../../../../node/chain/chainstate.js'
import { ChainBatch, DataDirError } from '../../../../node/storage/chain-db.js'
import { GENESIS_TIME, MINER, genesisRef, mine, mineChain, parentOf, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { addressesOf, hashOf, openChain, snapshot, submitAll, testDir, txIdsOf } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const carol = generateKeyPair() // starts with nothing
const A = toHex(alice.address)
const B = toHex(bob.address)
const C = toHex(carol.address)
const M = toHex(MINER.address)
const net = testNetwork({ balances: { [A]: 1000, [B]: 500 } })
const dir = (t: Test): string => testDir(t, 'bkc-chainstate-')

/** Two blocks with transfers: alice→carol 100, bob→alice 50; then alice→bob 30 mined by carol. */
function twoBlocks() {
  const b1 = mine(net, genesisRef(net), { txs: [transfer(net, alice, carol.address, 100, 0), transfer(net, bob, alice.address, 50, 0)] })
  const b2 = mine(net, parentOf(b1), { miner: carol.address, txs: [transfer(net, alice, bob.address, 30, 1)] })
  return [b1, b2]
}

t.test('genesis: written on first open, balances and indexes from its allocations', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  t.equal(chain.tip.height, 0)
  t.equal(chain.tip.hash, toHex(net.genesisHash))
  t.same(await chain.getAccount(A), { balance: 1000, nonce: 0 })
  t.same(await chain.getAccount(B), { balance: 500, nonce: 0 })
  t.same(await chain.getAccount(C), { balance: 0, nonce: 0 }, 'unknown account reads as empty')
  t.equal((await chain.getBlockByHeight(0))?.hash, toHex(net.genesisHash))
  t.equal(await chain.getBlockByHeight(1), undefined)
  for (const [i, tx] of net.genesis.txs.entries()) {
    t.same(await chain.getTxLocation(toHex(txId(tx))), { blockHash: toHex(net.genesisHash), height: 0, index: i })
  }
})

t.test('connecting blocks updates balances, nonces, height index and tx index', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const events: TipChange[] = []
  chain.on('tip', (c) => events.push(c))
  const [b1, b2] = twoBlocks()
  const r1 = await chain.submitBlock(b1!)
  t.same(r1, { status: 'connected', hash: hashOf(b1!), height: 1 })
  t.same(await chain.submitBlock(b2!), { status: 'connected', hash: hashOf(b2!), height: 2 })

  t.equal(chain.tip.hash, hashOf(b2!))
  t.same(await chain.getAccount(A), { balance: 1000 - 100 + 50 - 30, nonce: 2 })
  t.same(await chain.getAccount(B), { balance: 500 - 50 + 30, nonce: 1 })
  t.same(await chain.getAccount(C), { balance: 100 + 20, nonce: 0 }, 'carol: received 100 and mined b2')
  t.same(await chain.getAccount(M), { balance: 20, nonce: 0 }, 'miner of b1 got the reward')
  t.equal((await chain.getBlockByHeight(1))?.hash, hashOf(b1!))
  t.equal((await chain.getBlockByHeight(2))?.hash, hashOf(b2!))
  t.equal(await chain.getBlockByHeight(3), undefined)
  for (const [b, height] of [
    [b1!, 1],
    [b2!, 2],
  ] as const) {
    for (const [index, tx] of b.txs.entries()) {
      t.same(await chain.getTxLocation(toHex(txId(tx))), { blockHash: hashOf(b), height, index })
    }
  }
  // Per-account index, newest first: alice sent in b2, sent and received in b1.
  const aliceTxs = await chain.db.accountTxIds(A, 100)
  t.same(aliceTxs, [
    toHex(txId(b2!.txs[1]!)),
    toHex(txId(b1!.txs[2]!)),
    toHex(txId(b1!.txs[1]!)),
    toHex(txId(net.genesis.txs.find((tx) => tx.to.equals(alice.address))!)),
  ])
  t.same(
    events.map((e) => [e.connected.map((c) => c.hash), e.disconnected.length]),
    [
      [[hashOf(b1!)], 0],
      [[hashOf(b2!)], 0],
    ],
  )
})

t.test('a block whose parent is unknown is an orphan naming the missing parent', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const [b1, b2] = twoBlocks()
  t.same(await chain.submitBlock(b2!), { status: 'orphan', hash: hashOf(b2!), missing: hashOf(b1!) })
  t.equal(chain.tip.height, 0)
  t.equal(chain.entry(hashOf(b2!)), undefined, 'an orphan is not stored')
  t.equal((await chain.submitBlock(b1!)).status, 'connected')
  t.equal((await chain.submitBlock(b2!)).status, 'connected', 'the orphan connects once its parent arrives')
  t.equal(chain.tip.hash, hashOf(b2!))
})

t.test('submitting a known block again is a duplicate and changes nothing', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const [b1] = twoBlocks()
  await chain.submitBlock(b1!)
  t.same(await chain.submitBlock(b1!), { status: 'duplicate', hash: hashOf(b1!), height: 1 })
  t.same(await chain.getAccount(A), { balance: 950, nonce: 1 }, 'not applied twice')
  t.same(await chain.submitBlock(net.genesis), { status: 'duplicate', hash: toHex(net.genesisHash), height: 0 })
})

t.test('an overdraft caught at connect time: invalid, tip unmoved, remembered, descendants refused', async (t) => {
  const d = dir(t)
  let opened = await openChain(net, d)
  const [b1] = twoBlocks()
  await opened.chain.submitBlock(b1!)
  const before = await snapshot(opened.chain, addressesOf(net, [b1!]), txIdsOf([b1!]), 3)

  // carol holds 100 after b1; she sends 101. Sanity checks pass (signature
  // and form are fine), so only connecting the block finds the overdraft.
  const bad = mine(net, parentOf(b1!), { txs: [transfer(net, carol, bob.address, 101, 0)] })
  const r = await opened.chain.submitBlock(bad)
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') t.equal(r.error.code, 'INSUFFICIENT_BALANCE')
  t.equal(opened.chain.tip.hash, hashOf(b1!), 'tip did not move')
  t.equal(opened.chain.entry(hashOf(bad))?.status, 'invalid', 'the index marks it invalid')
  t.equal(await opened.chain.getBlockByHeight(2), undefined, 'not served at its height')
  t.equal(await opened.chain.getTxLocation(toHex(txId(bad.txs[1]!))), undefined, 'its transactions are not indexed')
  t.same(await snapshot(opened.chain, addressesOf(net, [b1!]), txIdsOf([b1!]), 3), before, 'state untouched')

  const again = await opened.chain.submitBlock(bad)
  t.equal(again.status, 'invalid', 'resubmitting is still invalid')
  if (again.status === 'invalid') t.equal(again.error.code, 'INSUFFICIENT_BALANCE', 'with the original reason')
  const child = mine(net, parentOf(bad))
  const rc = await opened.chain.submitBlock(child)
  t.equal(rc.status, 'invalid', 'a child of an invalid block is invalid')
  if (rc.status === 'invalid') t.equal(rc.error.code, 'INVALID_PARENT')

  // After a restart the block is still known to be invalid.
  await opened.close()
  opened = await openChain(net, d)
  t.teardown(() => opened.close())
  t.equal(opened.chain.tip.hash, hashOf(b1!))
  t.equal((await opened.chain.submitBlock(bad)).status, 'invalid', 'still invalid after a restart')
  t.equal((await opened.chain.submitBlock(child)).status, 'invalid')
  // A valid sibling still connects.
  const good = mine(net, parentOf(b1!), { txs: [transfer(net, carol, bob.address, 100, 0)] })
  t.equal((await opened.chain.submitBlock(good)).status, 'connected')
  t.same(await opened.chain.getAccount(C), { balance: 0, nonce: 1 })
})

t.test('a block failing a sanity rule is invalid and remembered without being stored', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  // A reward of 21 that the header commits to (root recomputed, then solved).
  const bad = mine(net, genesisRef(net), {
    tamper: (h, txs) => {
      txs[0] = { ...txs[0]!, amount: 21 }
      h.txRoot = merkleRoot(txs.map(txId))
    },
  })
  const r = await chain.submitBlock(bad)
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') {
    t.equal(r.error.code, 'BAD_REWARD')
    t.equal(r.error.permanent, true)
  }
  t.equal(chain.entry(hashOf(bad)), undefined)
  t.equal(await chain.db.hasBlock(hashOf(bad)), false)
  t.equal((await chain.submitBlock(bad)).status, 'invalid')
})

t.test('a copy of a block with a mutated body does not get the real block refused', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const real = mine(net, genesisRef(net), { txs: [transfer(net, alice, bob.address, 5, 0)] })
  const [reward, pay] = real.txs
  const mutants: Array<[string, typeof real.txs, string]> = [
    ['a transaction dropped', [reward!], 'BAD_TX_ROOT'],
    ['a transaction added', [reward!, pay!, transfer(net, alice, bob.address, 6, 1)], 'BAD_TX_ROOT'],
    ['the reward inflated', [{ ...reward!, amount: 1000 }, pay!], 'BAD_TX_ROOT'],
    ['the transfers padded past the size limit', [reward!, ...Array<typeof pay>(7000).fill(pay!)], 'TOO_LARGE'],
  ]
  for (const [label, txs, code] of mutants) {
    const r = await chain.submitBlock({ header: real.header, txs: txs as typeof real.txs })
    t.equal(r.status, 'invalid', label)
    if (r.status === 'invalid') {
      t.equal(r.error.code, code, `${label}: ${code}`)
      t.equal(r.error.permanent, false, `${label}: not held against the header`)
    }
  }
  t.same(await chain.submitBlock(real), { status: 'connected', hash: hashOf(real), height: 1 }, 'the real block still connects')
})

t.test('a block too far in the future is refused but not remembered', async (t) => {
  let clock = GENESIS_TIME + 10_000
  const { chain, close } = await openChain(net, dir(t), { now: () => clock })
  t.teardown(close)
  const maxFuture = net.consensus.maxFutureBlockTimeMs
  const future = mine(net, genesisRef(net), { timestamp: clock + maxFuture + 1000 })
  const r = await chain.submitBlock(future)
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') {
    t.equal(r.error.code, 'TIME_TOO_NEW')
    t.equal(r.error.permanent, false)
  }
  t.equal(chain.tip.height, 0)
  t.equal(chain.entry(hashOf(future)), undefined, 'not stored')
  t.equal((await chain.submitBlock(future)).status, 'invalid', 'still too new while the clock stands')
  clock += 1000
  t.same(await chain.submitBlock(future), { status: 'connected', hash: hashOf(future), height: 1 }, 'accepted once its time has come')
  // Exactly at the limit is fine.
  clock += 1
  const atLimit = mine(net, parentOf(future), { timestamp: clock + maxFuture })
  t.equal((await chain.submitBlock(atLimit)).status, 'connected')
})

t.test('a timestamp not after the median of recent blocks is invalid', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const blocks = mineChain(net, genesisRef(net), 3)
  await submitAll(chain, blocks)
  // Median of [t1, t2, t3, genesis] sorted is t2: a child at t2 is too old.
  const old = mine(net, parentOf(blocks[2]!), { timestamp: blocks[1]!.header.timestamp })
  const r = await chain.submitBlock(old)
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') t.equal(r.error.code, 'TIME_TOO_OLD')
  t.equal(chain.tip.hash, hashOf(blocks[2]!))
})

t.test('restart: tip, balances, height index and tx index survive closing the database', async (t) => {
  const d = dir(t)
  const first = await openChain(net, d)
  const [b1, b2] = twoBlocks()
  const more = mineChain(net, parentOf(b2!), 3, { miner: bob.address })
  const blocks = [b1!, b2!, ...more]
  await submitAll(first.chain, blocks)
  const addrs = addressesOf(net, blocks)
  const ids = txIdsOf(blocks)
  const before = await snapshot(first.chain, addrs, ids, 8)
  await first.close()

  const second = await openChain(net, d)
  t.teardown(second.close)
  t.same(await snapshot(second.chain, addrs, ids, 8), before)
  t.equal(second.chain.tip.chainWork, first.chain.tip.chainWork, 'chain work rebuilt from stored headers')
  // Genesis was not written again: alice's balance is still the spent one.
  t.same(await second.chain.getAccount(A), { balance: 920, nonce: 2 })
  // And the chain continues from where it stopped.
  const next = mine(net, parentOf(more[2]!))
  t.same(await second.chain.submitBlock(next), { status: 'connected', hash: hashOf(next), height: 6 })
})

t.test('a data directory of another network is refused with a DataDirError', async (t) => {
  const d = dir(t)
  const first = await openChain(net, d)
  await first.close()
  const other = testNetwork({ networkId: 'bkc-other', balances: { [A]: 1 } })
  const err = await openChain(other, d).then(
    (o) => o.close().then(() => null),
    (e: unknown) => e,
  )
  t.ok(err instanceof DataDirError, 'a DataDirError')
  t.match((err as Error).message, /holds a chain of bkc-test .*not of bkc-other.*--data-dir/)
  // The refused open released the lock and changed nothing.
  const again = await openChain(net, d)
  t.teardown(again.close)
  t.same(await again.chain.getAccount(A), { balance: 1000, nonce: 0 })
})

t.test('opening a data directory that is already open fails with "in use"', async (t) => {
  const d = dir(t)
  const first = await openChain(net, d)
  t.teardown(first.close)
  const err = await openChain(net, d).then(
    (o) => o.close().then(() => null),
    (e: unknown) => e,
  )
  t.ok(err instanceof DataDirError, 'a DataDirError')
  t.match((err as Error).message, /in use/)
  t.equal(first.chain.tip.height, 0, 'the first handle still works')
  t.same(await first.chain.getAccount(A), { balance: 1000, nonce: 0 })
})

t.test('reindex rebuilds every account, the indexes and the tip from the stored blocks', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const [b1, b2] = twoBlocks()
  const b3 = mine(net, parentOf(b2!), {
    miner: bob.address,
    txs: [transfer(net, carol, alice.address, 120, 0), transfer(net, bob, carol.address, 1, 1)],
  })
  const tail = mineChain(net, parentOf(b3), 4)
  // A side block that must not leak into the rebuilt state.
  const side = mine(net, parentOf(b1!), { miner: carol.address, timestamp: b2!.header.timestamp + 5 })
  const blocks = [b1!, b2!, b3, ...tail]
  await submitAll(chain, [...blocks, side])
  t.equal(chain.entry(hashOf(side))?.status, 'unverified')
  const addrs = addressesOf(net, blocks, [side])
  const ids = txIdsOf(blocks, [side])
  const before = await snapshot(chain, addrs, ids, 8)

  // Damage the derived state: reindex must not read it.
  await chain.db.write(new ChainBatch().putAccount(A, { balance: 1, nonce: 99 }).delTx(ids[0]!).delHeight(3))
  const { blocks: n } = await chain.reindex()
  t.equal(n, 7)
  t.same(await snapshot(chain, addrs, ids, 8), before)
  t.equal(before.txs[toHex(txId(side.txs[0]!))], null, 'the side block reward is not indexed')
})
