// Regressions from the review, chain side (fixed in 80737f6): long catch-ups
// and reindexes announce bounded batches, a reorg writes the abandoned
// transactions back to the pool in its own batch (so a crash or a reorg
// during startup cannot lose them), and --reindex re-checks the contextual
// rules (target, median time) of stored blocks.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { encodeBlock, encodeHeader, type Block } from '../../../../protocol/chain/block-codec.js'
import { decodeTx, txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { Chainstate, type TipChange } from '../../../../node/chain/chainstate.js'
import { silentLogger } from '../../../../lib/log.js'
import { targetFromLeadingZeroBits } from '../../../../node/miner/pow.js'
import { BkcNode } from '../../../../node/node.js'
import { ChainBatch, ChainDb } from '../../../../node/storage/chain-db.js'
import { GENESIS_TIME, genesisRef, mine, mineChain, parentOf, tempDir, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, rpcResult, submitAll, urlOf } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })
const MAX_BATCH = 500

function dir(t: Test, prefix = 'bkc-review-chain-'): string {
  const d = tempDir(prefix)
  t.teardown(d.cleanup)
  return d.path
}

/** Stores blocks the way submitBlock does before connecting them, as if the node had stopped right after. */
async function storeUnconnected(db: ChainDb, blocks: readonly Block[]): Promise<void> {
  const batch = new ChainBatch()
  for (const b of blocks) batch.putBlock(hashOf(b), encodeBlock(b)).putEntry(hashOf(b), encodeHeader(b.header), 'unverified')
  await db.write(batch)
}

/** Ids of the transactions stored in the pool's on-disk table. */
async function storedPoolIds(db: ChainDb): Promise<string[]> {
  const ids: string[] = []
  for await (const { bytes } of db.poolTxs()) ids.push(toHex(txId(decodeTx(bytes))))
  return ids
}

/** Checks a sequence of tip changes against one long, purely forward move over `blocks`. */
function checkBatches(t: Test, changes: readonly TipChange[], blocks: readonly Block[], what: string): void {
  t.ok(changes.length > 1, `${what}: announced in more than one change (${changes.length})`)
  t.ok(
    changes.every((c) => c.connected.length >= 1 && c.connected.length <= MAX_BATCH),
    `${what}: every change connects 1..${MAX_BATCH} blocks (${changes.map((c) => c.connected.length).join(', ')})`,
  )
  t.ok(
    changes.every((c) => c.disconnected.length === 0),
    `${what}: nothing disconnected`,
  )
  t.ok(
    changes.every((c) => c.tip.hash === c.connected[c.connected.length - 1]!.hash),
    `${what}: each change's tip is its last connected block`,
  )
  t.same(
    changes.flatMap((c) => c.connected.map((b) => [b.height, b.hash])),
    blocks.map((b) => [b.header.height, hashOf(b)]),
    `${what}: together they connect all ${blocks.length} blocks once, in order`,
  )
}

t.test('a 1,200-block catch-up at open is announced in batches of at most 500, each committed before it is announced', async (t) => {
  const d = dir(t)
  const blocks = mineChain(net, genesisRef(net), 1200)
  const first = await openChain(net, d)
  await storeUnconnected(first.db, blocks)
  await first.close()

  const changes: TipChange[] = []
  const tipOnDiskWhenAnnounced: Array<string | undefined> = []
  const db = await ChainDb.open(d)
  t.teardown(() => db.close())
  // Chainstate.open runs the catch-up, so the listener is the pool hook (called right before each 'tip' event).
  const chain = await Chainstate.open(db, net, {
    logger: silentLogger(),
    onTipChange: async (c) => {
      changes.push(c)
      tipOnDiskWhenAnnounced.push(await db.getTip())
    },
  })
  t.equal(chain.tip.hash, hashOf(blocks[1199]!), 'the tip is the last block')
  checkBatches(t, changes, blocks, 'catch-up')
  t.same(
    tipOnDiskWhenAnnounced,
    changes.map((c) => c.tip.hash),
    'each batch is on disk before it is announced',
  )
})

t.test('a reindex of 1,200 blocks emits bounded "tip" events covering every block in order', async (t) => {
  const o = await openChain(net, dir(t))
  t.teardown(o.close)
  const blocks = mineChain(net, genesisRef(net), 1200)
  await submitAll(o.chain, blocks)
  t.equal(o.chain.tip.height, 1200, 'the 1,200 blocks are connected')

  const events: TipChange[] = []
  o.chain.on('tip', (c) => events.push(c))
  const { blocks: n } = await o.chain.reindex()
  t.equal(n, 1200, 'reindex applied 1,200 blocks')
  checkBatches(t, events, blocks, 'reindex')
  t.equal(o.chain.tip.hash, hashOf(blocks[1199]!), 'the tip is the last block again')
})

t.test('a reorg writes the abandoned transactions back to the pool in its own batch', async (t) => {
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const miner = generateKeyPair()
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  a.push(...mineChain(net, parentOf(a[0]!), 1))
  const b = mineChain(net, genesisRef(net), 3, { miner: miner.address })

  const seenInReorg: string[][] = []
  let db: ChainDb | undefined
  const o = await openChain(net, dir(t), {
    onTipChange: async (c) => {
      if (c.disconnected.length > 0 && db) seenInReorg.push(await storedPoolIds(db))
    },
  })
  db = o.db
  t.teardown(o.close)
  await submitAll(o.chain, a)
  t.ok(await o.chain.getTxLocation(tId), 'T is confirmed on chain A')
  t.same(await storedPoolIds(o.db), [], 'nothing pending yet')

  const results = await submitAll(o.chain, b)
  t.equal(results[2]!.status, 'connected', 'B is the best chain now')
  t.equal(seenInReorg.length, 1, 'one reorg')
  t.same(seenInReorg[0], [tId], 'T is in the pool on disk when the reorg is announced (same batch as the reorg)')
  t.same(await storedPoolIds(o.db), [tId], 'and it stays there')
  t.equal(await o.chain.getTxLocation(tId), undefined, 'T is no longer confirmed')

  // Back to a chain that holds T again: the connecting batch takes it out of the pool.
  const more = mineChain(net, parentOf(a[1]!), 2)
  await submitAll(o.chain, more)
  t.equal(o.chain.tip.hash, hashOf(more[1]!), 'A (extended) is best again')
  t.ok(await o.chain.getTxLocation(tId), 'T is confirmed again')
  t.same(await storedPoolIds(o.db), [], 'and no longer in the pool on disk')
})

t.test('a transaction in both branches is not left in the pool by the reorg', async (t) => {
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b1 = mineChain(net, genesisRef(net), 1, { miner: bob.address })
  const b2 = mine(net, parentOf(b1[0]!), { txs: [T] })
  const o = await openChain(net, dir(t))
  t.teardown(o.close)
  await submitAll(o.chain, [...a, ...b1, b2])
  t.equal(o.chain.tip.hash, hashOf(b2), 'B is best')
  t.equal((await o.chain.getTxLocation(tId))?.blockHash, hashOf(b2), 'T is confirmed in B')
  t.same(await storedPoolIds(o.db), [], 'T is not also pending')
})

t.test('startup: a reorg during the catch-up at open keeps the abandoned transaction pending', async (t) => {
  const data = dir(t, 'bkc-review-node-')
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  a.push(...mineChain(net, parentOf(a[0]!), 1))
  const b = mineChain(net, genesisRef(net), 4, { miner: bob.address })

  const chain = await openChain(net, join(data, 'chain'))
  await submitAll(chain.chain, a)
  t.ok(await chain.chain.getTxLocation(tId), 'T confirmed on A')
  await storeUnconnected(chain.db, b)
  await chain.close()

  const node = await BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  })
  t.teardown(() => node.stop())
  t.equal(node.chain.tip.hash, hashOf(b[3]!), 'the node moved to B while opening')
  const url = urlOf(node.rpcAddress)
  const tx = await rpcResult<{ status: string; hash: string } | null>(url, 'getTransaction', [tId])
  t.equal(tx?.status, 'pending', 'T is pending again')
  t.equal(tx?.hash, tId, 'it is T')
  t.equal(node.mempool.size, 1, 'one pending transaction')
})

t.test('startup: an abandoned transaction that B double-spends is dropped, also from disk', async (t) => {
  const data = dir(t, 'bkc-review-node-')
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const conflict = transfer(net, alice, bob.address, 11, 0) // same nonce: T can never be mined on B
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = [mine(net, genesisRef(net), { miner: bob.address, txs: [conflict] })]
  b.push(...mineChain(net, parentOf(b[0]!), 2, { miner: bob.address }))

  const chain = await openChain(net, join(data, 'chain'))
  await submitAll(chain.chain, a)
  await storeUnconnected(chain.db, b)
  await chain.close()

  const opts = {
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  }
  const node = await BkcNode.start(opts)
  t.equal(node.chain.tip.hash, hashOf(b[2]!), 'the node moved to B while opening')
  t.equal(await rpcResult(urlOf(node.rpcAddress), 'getTransaction', [tId]), null, 'T is gone: its nonce is spent on B')
  t.same(await storedPoolIds(node.db), [], 'and not kept on disk')
  await node.stop()
  const again = await BkcNode.start(opts)
  t.teardown(() => again.stop())
  t.equal(again.mempool.size, 0, 'nothing comes back after a restart')
})

t.test('in a running node: T abandoned by a reorg is pending, on disk too, and survives a restart', async (t) => {
  const data = dir(t, 'bkc-review-node-')
  const opts = {
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  }
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = mineChain(net, genesisRef(net), 2, { miner: bob.address })
  const node = await BkcNode.start(opts)
  for (const blk of [...a, ...b]) await node.chain.submitBlock(blk)
  t.equal(node.chain.tip.hash, hashOf(b[1]!), 'B is best')
  t.equal(node.mempool.get(tId)?.id, tId, 'T is pending in memory')
  t.same(await storedPoolIds(node.db), [tId], 'and on disk')
  await node.stop()
  const again = await BkcNode.start(opts)
  t.teardown(() => again.stop())
  t.equal(
    (await rpcResult<{ status: string }>(urlOf(again.rpcAddress), 'getTransaction', [tId])).status,
    'pending',
    'still pending after a restart',
  )
})

// ---------------------------------------------------------------- reindex re-checks context

/**
 * Builds a 5-block chain, then stores (without connecting) a crafted child of
 * its tip plus descendants that make the crafted branch the best one; reopens
 * with reindex, and checks the branch is rejected (also after a plain restart).
 */
async function reindexWithCrafted(t: Test, craft: (tip: Block) => Block): Promise<void> {
  const d = dir(t)
  const main = mineChain(net, genesisRef(net), 5)
  const crafted = craft(main[4]!)
  const descendants = mineChain(net, { ...parentOf(crafted), timestamp: main[4]!.header.timestamp + 1000 }, 3)
  const first = await openChain(net, d)
  await submitAll(first.chain, main)
  await storeUnconnected(first.db, [crafted, ...descendants])
  await first.close()

  const reindexed = await openChain(net, d, { reindex: true })
  t.equal(reindexed.chain.tip.hash, hashOf(main[4]!), 'the node stays on the old tip')
  t.equal(reindexed.chain.tip.height, 5, 'at height 5')
  t.equal(reindexed.chain.entry(hashOf(crafted))?.status, 'invalid', 'the crafted block is marked invalid')
  t.ok(
    descendants.every((b) => reindexed.chain.entry(hashOf(b))?.status === 'invalid'),
    'and its descendants too',
  )
  t.equal(await reindexed.chain.getBlockByHeight(6), undefined, 'nothing above the old tip')
  await reindexed.close()

  // A plain restart afterwards must not pick the rejected branch up again.
  const plain = await openChain(net, d)
  t.teardown(plain.close)
  t.equal(plain.chain.tip.hash, hashOf(main[4]!), 'a plain restart stays on the old tip')
  t.equal(plain.chain.entry(hashOf(crafted))?.status, 'invalid', 'the crafted block is still invalid')
  t.equal((await plain.chain.submitBlock(crafted)).status, 'invalid', 'and is refused when offered again')
}

t.test('--reindex rejects a stored block with the wrong target (PoW valid for its own target)', async (t) => {
  const easier = targetFromLeadingZeroBits(2)
  t.notOk(easier.equals(net.consensus.target), 'the crafted target differs from the network target')
  await reindexWithCrafted(t, (tip) => mine(net, parentOf(tip), { tamper: (h) => void (h.target = easier) }))
})

t.test('--reindex rejects a stored block whose timestamp is not after the median time past', async (t) => {
  // Timestamps G+0 .. G+5000 for heights 0..5: the median of those six is G+3000.
  await reindexWithCrafted(t, (tip) => mine(net, parentOf(tip), { timestamp: GENESIS_TIME + 3000 }))
})
