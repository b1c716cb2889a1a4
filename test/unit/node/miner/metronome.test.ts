// The metronome's decision, with a set clock: which slot it fills, on which
// tip, and when it holds back (a live tip of the slot, a node catching up).
import t from 'tap'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { encodeBlock } from '../../../../protocol/chain/block-codec.js'
import { silentLogger } from '../../../../lib/log.js'
import type { SubmitResult } from '../../../../node/chain/chainstate.js'
import type { ParentBlock } from '../../../../node/consensus/engine.js'
import { Metronome, STUCK_SLOTS } from '../../../../node/miner/metronome.js'
import { GRACE_MS, slotsEngine, slotsNetwork } from '../../../../bench/lib/slot-fixtures.js'

const net = slotsNetwork()
const engine = slotsEngine(net)
const g = net.genesis.header
const genesis: ParentBlock = {
  hash: net.genesisHash.toString('hex'),
  height: 0,
  timestamp: g.timestamp,
  target: g.target,
  proofType: g.proofType,
  seed: engine.seed(g),
}

function metronome(now: number, tip: ParentBlock, synced = true, clockRef = { now }) {
  const submitted: Block[] = []
  const m = new Metronome({
    clock: engine,
    tip: () => tip,
    submit: async (b): Promise<SubmitResult> => {
      submitted.push(b)
      return { status: 'connected', hash: 'h', height: b.header.height }
    },
    logger: silentLogger(),
    synced: () => synced,
    now: () => clockRef.now,
  })
  return { m, submitted, clockRef }
}

const afterGrace = (slot: number): number => engine.slotStart(slot + 1) + GRACE_MS

t.test('fills the slot whose grace just ended, with the block every node derives', async (t) => {
  const tip = { ...genesis, timestamp: engine.slotStart(4), height: 4 }
  const { m, submitted } = metronome(afterGrace(5), tip)
  await m.tick()
  t.equal(submitted.length, 1)
  t.same(encodeBlock(submitted[0]!), encodeBlock(engine.emptyBlock(tip, 5)))
  t.equal(m.added, 1)
})

t.test('does nothing while the grace of the slot runs, or when the slot has its block', async (t) => {
  const tip = { ...genesis, timestamp: engine.slotStart(4), height: 4 }
  const early = metronome(afterGrace(5) - 1, tip)
  await early.m.tick()
  t.equal(early.submitted.length, 0, 'slot 5 still in its grace: slot 4 is the last closed, and it has its block')
  const filled = metronome(afterGrace(5), { ...tip, timestamp: engine.slotStart(5) })
  await filled.m.tick()
  t.equal(filled.submitted.length, 0)
})

t.test('after an outage: one empty block for the last closed slot, and only once no peer is ahead', async (t) => {
  const old = { ...genesis, timestamp: engine.slotStart(10), height: 10 }
  const behind = metronome(afterGrace(700), old, false)
  await behind.m.tick()
  t.equal(behind.submitted.length, 0, 'a peer reports a longer chain: catch up first')
  behind.clockRef.now += STUCK_SLOTS * engine.slotMs
  await behind.m.tick()
  t.equal(behind.submitted.length, 1, 'but a tip that does not move for a few slots gets its empty block anyway')
  const alone = metronome(afterGrace(700), old, true)
  await alone.m.tick()
  t.equal(alone.submitted.length, 1)
  t.equal(engine.slotOf(alone.submitted[0]!.header.timestamp), 700, 'the last closed slot, not the 689 before it')
})

t.test('start and stop leave no timer behind', async (t) => {
  const { m } = metronome(Date.now(), genesis)
  m.start()
  await m.stop()
  t.pass('stopped')
})
