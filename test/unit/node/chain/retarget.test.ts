// A network whose file has consensus.retarget, end to end through Chainstate
// over a real LevelDB: blocks carrying the rule's targets are accepted, the
// rule survives a restart, a block with any other target is BAD_TARGET, and
// the schedule is the network file's anchorTimeMs, which no block moves.
import t, { type Test } from 'tap'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { targetFromLeadingZeroBits } from '../../../../node/consensus/pow.js'
import { GENESIS_TIME, genesisRef, mine, nextTarget, parentOf, testNetwork, type ParentRef } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, submitAll, testDir, tipRef } from '../../../helpers/node-fixtures.js'

const HALF_LIFE_MS = 10_000
const POW_LIMIT = targetFromLeadingZeroBits(2)
/** The fixtures' default anchorTimeMs: when `mine` puts block 1 by default. */
const ON_TIME = GENESIS_TIME + 1000
const netAnchoredAt = (anchorTimeMs: number) =>
  testNetwork({ bits: 4, retarget: { halfLifeMs: HALF_LIFE_MS, powLimit: POW_LIMIT.toString('hex'), anchorTimeMs } })
const net = netAnchoredAt(ON_TIME)
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
    refs.push(parentOf(b))
  }
  return { blocks, refs }
}

t.test('a chain mined with the rule’s targets is accepted, and the targets did move', async (t) => {
  const { blocks } = retargetedChain()
  const targets = blocks.map((b) => b.header.target.toString('hex'))
  t.equal(targets[0], net.consensus.target.toString('hex'), 'block 1 carries consensus.target')
  t.equal(blocks[0]!.header.timestamp, ON_TIME, 'block 1 came at anchorTimeMs')
  t.equal(targets[1], net.consensus.target.toString('hex'), 'so block 2 carries consensus.target')
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
  const before = first.chain.expectedTarget(first.chain.tip)
  await first.close()

  const second = await openChain(net, dataDir)
  t.teardown(second.close)
  t.equal(second.chain.tip.hash, hashOf(blocks.at(-1)!), 'the tip survives a restart')
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

t.test('a backdated block 1 does not move the schedule: from the same parent height and time, the same target', async (t) => {
  // Launched two half-lives after its genesis; block 1 may claim any time after the genesis.
  const launched = netAnchoredAt(ON_TIME + 2 * HALF_LIFE_MS)
  const anchor = launched.consensus.retarget!.anchorTimeMs
  const chainWith = (block1Time: number): Block[] => {
    const b1 = mine(launched, genesisRef(launched), { timestamp: block1Time })
    const b2 = mine(launched, parentOf(b1), { timestamp: anchor + 5000 })
    return [b1, b2, mine(launched, parentOf(b2), { timestamp: anchor + 10_000 })]
  }
  const onTime = chainWith(anchor)
  const backdated = chainWith(GENESIS_TIME + 1)
  t.notSame(onTime[0]!.header.timestamp, backdated[0]!.header.timestamp, 'the block 1s differ in time')
  t.ok(Buffer.compare(backdated[1]!.header.target, onTime[1]!.header.target) < 0, 'backdating makes block 2 harder, not easier')
  t.same(backdated[2]!.header.target, onTime[2]!.header.target, 'block 3 carries the same target on both chains')
  t.equal(onTime[2]!.header.target.toString('hex'), launched.consensus.target.toString('hex'), 'the on-schedule one')
  t.not(backdated[2]!.header.target.toString('hex'), POW_LIMIT.toString('hex'), 'not powLimit: the chain is not behind schedule')

  for (const blocks of [onTime, backdated]) {
    const { chain, close } = await openChain(launched, dir(t))
    t.teardown(close)
    t.same(
      (await submitAll(chain, blocks)).map((r) => r.status),
      ['connected', 'connected', 'connected'],
    )
    t.same(chain.expectedTarget(chain.tip), nextTarget(launched, parentOf(onTime[2]!)), 'the next target, as a chainstate sees it')
  }
})

t.test('anchorTimeMs against block 1’s time: behind schedule makes block 2 easier, ahead harder', async (t) => {
  const b1At = ON_TIME // block 1 is the same block on all three networks: retarget is not part of the genesis
  const target = (anchorTimeMs: number): Buffer => {
    const n = netAnchoredAt(anchorTimeMs)
    const b1 = mine(n, genesisRef(n), { timestamp: b1At })
    t.same(b1.header.target, n.consensus.target, `block 1 carries consensus.target (anchor ${anchorTimeMs - b1At} ms from it)`)
    return nextTarget(n, parentOf(b1))
  }
  t.same(target(b1At), net.consensus.target, 'on schedule: consensus.target')
  t.ok(Buffer.compare(target(b1At - HALF_LIFE_MS), net.consensus.target) > 0, 'an anchor in the past: behind schedule, easier')
  t.ok(Buffer.compare(target(b1At + HALF_LIFE_MS), net.consensus.target) < 0, 'an anchor in the future: ahead of schedule, harder')
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
