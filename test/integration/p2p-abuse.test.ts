// Peers that lie or waste work: found by a review of the P2P layer, each
// must cost the offender its connection while the node keeps syncing from
// honest peers.
import t from 'tap'
import { encodeBlock } from '../../protocol/chain/block-codec.js'
import { targetFromLeadingZeroBits } from '../../node/consensus/pow.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import { mine } from '../../bench/lib/fixtures.js'
import { handshaken, mineBlocks, rawHost, startNet, waitConverged } from '../helpers/net-fixtures.js'

t.test('a peer that claims a far better chain but sends nothing is dropped, and sync goes on from an honest peer', async (t) => {
  const tn = await startNet(t, 2, { bootstrap: 'none' })
  const [victim, honest] = [tn.at(0).node, tn.at(1).node]
  await mineBlocks(honest, 5, generateKeyPair().address)
  const liar = await handshaken(tn, 0, rawHost(31), { bestHeight: 1_000_000 })
  // Answer every GET_BLOCKS with an empty batch.
  let asked = 0
  const answering = setInterval(() => {
    const n = liar.received.filter((m) => m.type === 'GET_BLOCKS').length
    for (; asked < n; asked++) liar.send({ type: 'BLOCKS', blocks: [] })
  }, 5)
  t.teardown(() => clearInterval(answering))
  await liar.waitClosed(10_000)
  t.ok(asked <= 5, `the liar was asked ${asked} times before being dropped (a loop would ask thousands)`)
  victim.connman!.addPeer(tn.at(1).p2p)
  const tip = await waitConverged([victim, honest], 30_000)
  t.ok(tip.height >= 5, 'the victim caught up from the honest peer')
})

t.test('a block with a target easier than the network allows is refused before any signature work, and its sender dropped', async (t) => {
  const tn = await startNet(t, 1, { bootstrap: 'none' })
  const raw = await handshaken(tn, 0, rawHost(32))
  const net = tn.network
  // An unknown parent (an orphan) with a trivial target: it must not be held, let alone verified.
  const easy = targetFromLeadingZeroBits(0)
  const block = mine(net, { hash: Buffer.alloc(32, 7), height: 41, timestamp: Date.now() }, { tamper: (h) => (h.target = easy) })
  raw.send({ type: 'BLOCK', block: encodeBlock(block) })
  await raw.waitClosed(10_000)
  t.equal(tn.at(0).node.net!.stats.orphans, 0, 'not kept as an orphan')
  t.ok(tn.at(0).node.connman!.addrman.isDiscouraged(rawHost(32)), 'its host is discouraged')
})

t.test('a BLOCKS batch that is not one chain gets its sender dropped', async (t) => {
  const tn = await startNet(t, 1, { bootstrap: 'none' })
  const raw = await handshaken(tn, 0, rawHost(33))
  const net = tn.network
  const g = { hash: net.genesisHash, height: 0, timestamp: net.genesis.header.timestamp }
  const a = mine(net, g)
  const b = mine(net, g, { miner: generateKeyPair().address }) // a sibling, not a child of a
  raw.send({ type: 'BLOCKS', blocks: [encodeBlock(a), encodeBlock(b)] })
  await raw.waitClosed(10_000)
  t.pass('dropped')
})
