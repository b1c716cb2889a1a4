// A network whose file has consensus.retarget, end to end through Chainstate
// over a real LevelDB: blocks carrying the rule's targets are accepted, the
// rule survives a restart (the index and its block-1 anchor are rebuilt from
// the stored headers), and a block with any other target is BAD_TARGET.
import t, { type Test } from 'tap'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { targetFromLeadingZeroBits } from '../../../../node/consensus/pow.js'
import { genesisRef, mine, nextTarget, parentOf, testNetwork, type ParentRef } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, submitAll, testDir, tipRef } from '../../../helpers/node-fixtures.js'

const HALF_LIFE_MS = 10_000
const POW_LIMIT = targetFromLeadingZeroBits(2)
const net = testNetwork({ bits: 4, retarget: { halfLifeMs: HALF_LIFE_MS, powLimit: POW_LIMIT.toString('hex') } })
const dir = (t: Test): string => testDir(t, 'bkc-retarget-')
/** Block intervals (ms) off the 5 s schedule both ways, so the targets move both ways. */
const INTERVALS = [1000, 1000, 1000, 1000, 1000, 20_000, 3000, 9000, 500, 15_000, 2000, 30_000]

/** A chain mined with the rule's targets (the fixtures take them from the engine). */
function retargetedChain(): { blocks: Block[]; refs: ParentRef[] } {
  const blocks: Block[] = []
  const refs: ParentRef[] = [genesisRef(net)]
  for (const ms of INTERVALS) {
    const parent = refs.at(-1)!
    const b = mine(net, parent, { timestamp: parent.timestamp + ms })
    blocks.push(b)
    refs.push(parentOf(b, blocks[0]!.header.timestamp))
  }
  return { blocks, refs }
}

t.test('a chain mined with the rule’s targets is accepted, and the targets did move', async (t) => {
  const { blocks } = retargetedChain()
  const targets = blocks.map((b) => b.header.target.toString('hex'))
  t.equal(targets[0], net.consensus.target.toString('hex'), 'block 1 carries consensus.target')
  t.equal(targets[1], net.consensus.target.toString('hex'), 'block 2 carries consensus.target (block 1 is the anchor)')
  t.ok(Buffer.compare(blocks[5]!.header.target, net.consensus.target) < 0, 'five fast blocks made the target harder')
  t.ok(Buffer.compare(blocks.at(-1)!.header.target, net.consensus.target) > 0, 'slow blocks made it easier again')

  const dataDir = dir(t)
  const first = await openChain(net, dataDir)
  const results = await submitAll(first.chain, blocks)
  t.same(
    results.map((r) => r.status),
    blocks.map(() => 'connected'),
  )
  t.equal(first.chain.tip.hash, hashOf(blocks.at(-1)!))
  t.equal(first.chain.tip.firstBlockTime, blocks[0]!.header.timestamp, 'the index keeps block 1’s time as the anchor')
  const before = first.chain.expectedTarget(first.chain.tip)
  await first.close()

  const second = await openChain(net, dataDir)
  t.teardown(second.close)
  t.equal(second.chain.tip.hash, hashOf(blocks.at(-1)!), 'the tip survives a restart')
  t.equal(second.chain.tip.firstBlockTime, blocks[0]!.header.timestamp, 'the anchor is rebuilt from the stored headers')
  t.same(second.chain.expectedTarget(second.chain.tip), before, 'the next target is the same after a restart')
  const next = mine(net, tipRef(second.chain), { timestamp: second.chain.tip.timestamp + 4000 })
  t.same(await second.chain.submitBlock(next), { status: 'connected', hash: hashOf(next), height: blocks.length + 1 })
})

t.test('a block carrying the fixed initial target after the schedule moved is BAD_TARGET', async (t) => {
  const { blocks, refs } = retargetedChain()
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  await submitAll(chain, blocks.slice(0, 6))
  const parent = refs[6]!
  t.notSame(nextTarget(net, parent), net.consensus.target, 'the schedule moved')
  const fixed = mine(net, parent, { timestamp: parent.timestamp + 5000, tamper: (h) => (h.target = net.consensus.target) })
  const r = await chain.submitBlock(fixed)
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') t.equal(r.error.code, 'BAD_TARGET')
  t.equal(chain.tip.hash, hashOf(blocks[5]!), 'the tip did not move')
  const right = mine(net, parent, { timestamp: parent.timestamp + 5000 })
  t.equal((await chain.submitBlock(right)).status, 'connected', 'the same block with the rule’s target is accepted')
})

t.test('block 2 must carry consensus.target whatever block 1’s time', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const b1 = mine(net, genesisRef(net), { timestamp: genesisRef(net).timestamp + 86_400_000 })
  await submitAll(chain, [b1])
  const harder = targetFromLeadingZeroBits(5)
  const r = await chain.submitBlock(mine(net, parentOf(b1), { tamper: (h) => (h.target = harder) }))
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') t.equal(r.error.code, 'BAD_TARGET')
})

t.test('a target easier than powLimit is refused before any context', async (t) => {
  const { chain, close } = await openChain(net, dir(t))
  t.teardown(close)
  const easier = targetFromLeadingZeroBits(1)
  const r = await chain.submitBlock(mine(net, genesisRef(net), { tamper: (h) => (h.target = easier) }))
  t.equal(r.status, 'invalid')
  if (r.status === 'invalid') {
    t.equal(r.error.code, 'BAD_TARGET')
    t.match(r.error.message, /easier than the network allows/)
  }
})
