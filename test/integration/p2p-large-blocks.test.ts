// Downloads that take more than one BLOCKS reply because the blocks are big:
// with a P2P frame cap of 64 KiB and blocks of about 12 KiB, a reply carries
// five blocks. Two real nodes over loopback sockets must still converge,
// both on a plain catch-up and on a fork deeper than one reply (where the
// first reply is a side branch that is not yet better than ours).
import t, { type Test } from 'tap'
import { encodeBlock, type Block } from '../../protocol/chain/block-codec.js'
import { generateKeyPair, type KeyPair } from '../../protocol/chain/keys.js'
import type { NetworkParams } from '../../node/chain/params.js'
import { fitBlocks } from '../../node/p2p/sync-rules.js'
import { genesisRef, hexAddress, mine, mineChain, parentOf, transfer } from '../../bench/lib/fixtures.js'
import { TestNet, waitConverged, waitPeers } from '../helpers/net-fixtures.js'

const CAP = 64 * 1024
const TXS_PER_BLOCK = 80
const SENDER = generateKeyPair()

/** `n` blocks on genesis, each carrying TXS_PER_BLOCK transfers from SENDER. */
function bigBlocks(net: NetworkParams, n: number, miner: KeyPair): Block[] {
  const out: Block[] = []
  let parent = genesisRef(net)
  let nonce = 0
  for (let i = 0; i < n; i++) {
    const timestamp = parent.timestamp + 1000
    const txs = Array.from({ length: TXS_PER_BLOCK }, () => transfer(net, SENDER, miner.address, 1, nonce++, timestamp))
    const b = mine(net, parent, { miner: miner.address, txs, timestamp })
    out.push(b)
    parent = parentOf(b)
  }
  return out
}

/** Two unconnected nodes with the small frame cap; SENDER is funded in genesis. */
async function twoNodes(t: Test): Promise<TestNet> {
  const tn = new TestNet({ bits: 8, bootstrap: 'none', balances: { [hexAddress(SENDER)]: 1_000_000 } })
  t.teardown(() => tn.close())
  await tn.start(0, { p2pMaxPayloadBytes: CAP })
  await tn.start(1, { p2pMaxPayloadBytes: CAP })
  return tn
}

async function submitAll(tn: TestNet, i: number, blocks: readonly Block[]): Promise<void> {
  for (const b of blocks) {
    const r = await tn.at(i).node.chain.submitBlock(b)
    if (r.status !== 'connected') throw new Error(`fixture block at height ${b.header.height} did not connect: ${r.status}`)
  }
}

t.test('the fixture blocks need several BLOCKS replies', async (t) => {
  const tn = new TestNet({ bits: 8, balances: { [hexAddress(SENDER)]: 1_000_000 } })
  t.teardown(() => tn.close())
  const blocks = bigBlocks(tn.network, 8, generateKeyPair())
  t.equal(
    fitBlocks(
      blocks.map((b) => encodeBlock(b).length),
      CAP,
    ),
    5,
    'five of them fill one reply',
  )
})

t.test('a node catches up on a chain of blocks too big for one BLOCKS reply', async (t) => {
  const tn = await twoNodes(t)
  const chain = bigBlocks(tn.network, 12, generateKeyPair())
  await submitAll(tn, 0, chain)
  tn.at(1).node.connman!.addPeer(tn.at(0).p2p)
  const tip = await waitConverged([tn.at(0).node, tn.at(1).node], 30_000)
  t.equal(tip.height, 12, 'the late node reached the full chain')
  t.ok(tn.at(1).node.net!.stats.blocksDownloaded >= 12, 'by download')
})

t.test('a fork deeper than one BLOCKS reply of big blocks resolves to the longer branch', async (t) => {
  const tn = await twoNodes(t)
  const longer = bigBlocks(tn.network, 8, generateKeyPair())
  await submitAll(tn, 0, longer)
  // Node 1's own branch is longer than one reply, so the first reply is a side branch not yet better than it.
  await submitAll(tn, 1, mineChain(tn.network, genesisRef(tn.network), 6, { miner: generateKeyPair().address }))
  tn.at(1).node.connman!.addPeer(tn.at(0).p2p)
  await waitPeers([tn.at(0).node, tn.at(1).node], 1)
  const tip = await waitConverged([tn.at(0).node, tn.at(1).node], 30_000)
  t.equal(tip.height, 8, 'both on the longer branch')
  t.equal(tn.at(1).node.chain.tip.hash, tn.at(0).node.chain.tip.hash)
  t.equal(tn.at(1).node.connman!.ready().length, 1, 'and the honest peer was not dropped')
})
