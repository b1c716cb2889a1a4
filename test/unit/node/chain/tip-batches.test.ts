// Long catch-ups at open and reindexes announce the tip in bounded batches,
// each committed before it is announced.
import t, { type Test } from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { Chainstate, type TipChange } from '../../../../node/chain/chainstate.js'
import { silentLogger } from '../../../../lib/log.js'
import { ChainDb } from '../../../../node/storage/chain-db.js'
import { genesisRef, mineChain, testNetwork } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, storeUnconnected, submitAll, testDir } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })
const MAX_BATCH = 500

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
  const d = testDir(t, 'bkc-chain-')
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
  const o = await openChain(net, testDir(t, 'bkc-chain-'))
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
