// Downloads that take more than one BLOCKS reply because the blocks are big,
// at the real frame cap (MAX_P2P_PAYLOAD_BYTES). The fixture chain is three
// blocks of transfers that fill one reply to within less than an empty
// block, then two empty blocks, so a reply carries the three big ones and the
// rest needs a continuation. Real nodes over loopback sockets must converge,
// both on a plain catch-up and on a fork deeper than one reply: a node whose
// own branch is four blocks long first receives a three-block side branch
// that is not yet better than its own. Over 8 MiB of transfers is tens of
// thousands of signatures, so the blocks are signed with OpenSSL, once, and
// one node (node 0) holds them for every case.
import t, { type Test } from 'tap'
import { encodeBlock, encodedBlockSize, type Block } from '../../protocol/chain/block-codec.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import { MAX_BLOCK_BYTES, MAX_P2P_PAYLOAD_BYTES } from '../../protocol/chain/messages.js'
import { TX_BYTES, type Transaction } from '../../protocol/chain/tx-codec.js'
import type { NetworkParams } from '../../node/chain/params.js'
import { WORK_PROOF_BYTES } from '../../node/consensus/work.js'
import type { BkcNode } from '../../node/node.js'
import { DEFAULT_TIMEOUTS } from '../../node/p2p/peer.js'
import { BLOCK_BIN_HEADER_BYTES, BLOCKS_PAYLOAD_OVERHEAD_BYTES, fitBlocks } from '../../node/p2p/sync-rules.js'
import { FastSigner, genesisRef, hexAddress, mine, mineChain, parentOf } from '../../bench/lib/fixtures.js'
import { signedTransfer } from '../../bench/lib/harness.js'
import { TestNet, waitConverged, waitPeers, type NetOptions } from '../helpers/net-fixtures.js'

const BIG_BLOCKS = 3
const EMPTY_BLOCKS = 2
const SENDER = generateKeyPair()
const MINER = generateKeyPair()
// The nodes share this process, so a node validating a big batch also delays its peer's PONGs: the default timers, not the short ones.
const NET: NetOptions = {
  bits: 8,
  bootstrap: 'none',
  balances: { [hexAddress(SENDER)]: 1_000_000 },
  maxBlockBytes: MAX_BLOCK_BYTES,
  timeouts: DEFAULT_TIMEOUTS,
}

/**
 * Transfers in each big block so that together they fill a BLOCKS payload as
 * far as whole transactions allow: an encoded block is
 * encodedBlockSize(0, WORK_PROOF_BYTES) + TX_BYTES per transaction (its reward included).
 */
function bigBlockTransfers(): number[] {
  const room =
    MAX_P2P_PAYLOAD_BYTES - BLOCKS_PAYLOAD_OVERHEAD_BYTES - BIG_BLOCKS * (BLOCK_BIN_HEADER_BYTES + encodedBlockSize(1, WORK_PROOF_BYTES))
  const total = Math.floor(room / TX_BYTES)
  return Array.from({ length: BIG_BLOCKS }, (_, i) => Math.floor(total / BIG_BLOCKS) + (i < total % BIG_BLOCKS ? 1 : 0))
}

/** The fixture chain on genesis: the big blocks of transfers from SENDER, signed with OpenSSL for speed, then the empty ones. */
function fixtureChain(net: NetworkParams): Block[] {
  const signer = new FastSigner(SENDER.privateKey)
  const out: Block[] = []
  let parent = genesisRef(net)
  let nonce = 0
  for (const n of bigBlockTransfers()) {
    const timestamp = parent.timestamp + 1000
    const txs: Transaction[] = []
    for (let j = 0; j < n; j++) txs.push(signedTransfer(net, signer, SENDER.address, MINER.address, 1, nonce++, timestamp))
    const b = mine(net, parent, { miner: MINER.address, txs, timestamp })
    out.push(b)
    parent = parentOf(b)
  }
  return [...out, ...mineChain(net, parent, EMPTY_BLOCKS, { miner: MINER.address })]
}

async function submitAll(tn: TestNet, i: number, blocks: readonly Block[]): Promise<void> {
  for (const b of blocks) {
    const r = await tn.at(i).node.chain.submitBlock(b)
    if (r.status !== 'connected') throw new Error(`fixture block at height ${b.header.height} did not connect: ${r.status}`)
  }
}

// Node 0 validates the blocks once (about as costly as signing them) and serves them to each case's own node.
const tn = new TestNet(NET)
t.teardown(() => tn.close())
const CHAIN = fixtureChain(tn.network)
const PER_REPLY = fitBlocks(
  CHAIN.map((b) => encodeBlock(b).length),
  MAX_P2P_PAYLOAD_BYTES,
)
t.before(async () => {
  await tn.start(0)
  await submitAll(tn, 0, CHAIN)
})

/** Starts node i, unconnected, and stops it when the test ends. */
async function freshNode(t: Test, i: number): Promise<BkcNode> {
  t.teardown(() => tn.stop(i))
  return (await tn.start(i)).node
}

t.test('the fixture blocks need several BLOCKS replies', async (t) => {
  t.equal(PER_REPLY, BIG_BLOCKS, 'the big blocks fill one reply')
  t.ok(PER_REPLY < CHAIN.length, 'so the chain takes more than one')
  t.ok(
    CHAIN.every((b) => encodeBlock(b).length <= MAX_BLOCK_BYTES),
    'and each is a valid size for a BLOCK message',
  )
})

t.test('a node catches up on a chain of blocks too big for one BLOCKS reply', async (t) => {
  const late = await freshNode(t, 1)
  late.connman!.addPeer(tn.at(0).p2p)
  const tip = await waitConverged([tn.at(0).node, late], 60_000)
  t.equal(tip.height, CHAIN.length, 'the late node reached the full chain')
  t.ok(late.net!.stats.blocksDownloaded >= CHAIN.length, 'by download')
})

t.test('a fork deeper than one BLOCKS reply of big blocks resolves to the longer branch', async (t) => {
  const forked = await freshNode(t, 2)
  // Its own branch is longer than one reply, so the first reply is a side branch not yet better than it.
  await submitAll(tn, 2, mineChain(tn.network, genesisRef(tn.network), PER_REPLY + 1, { miner: generateKeyPair().address }))
  forked.connman!.addPeer(tn.at(0).p2p)
  await waitPeers([forked], 1)
  const tip = await waitConverged([tn.at(0).node, forked], 60_000)
  t.equal(tip.height, CHAIN.length, 'both on the longer branch')
  t.equal(forked.chain.tip.hash, tn.at(0).node.chain.tip.hash)
  t.equal(forked.connman!.ready().length, 1, 'and the honest peer was not dropped')
})
