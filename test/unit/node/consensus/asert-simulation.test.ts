// The `work` engine's retargeting against a simulated miner: each block's
// interval is drawn from the exponential distribution with mean = expected
// hashes for the target it carries / hash rate, and the targets are the
// engine's own nextTarget. From equilibrium the hash rate steps ×10, then
// ÷10 back to the original rate. What is measured is the actual intervals:
// their mean over the last WINDOW blocks of the phase, averaged over SEEDS
// (one run alone is dice: 50 exponential draws have a 14% standard error,
// and ASERT's steady state itself wanders by about ±10%). Deterministic.
import t from 'tap'
import { networkFromJson } from '../../../../node/chain/params.js'
import type { ParentBlock } from '../../../../node/consensus/engine.js'
import { workForTarget } from '../../../../node/consensus/pow.js'
import { GENESIS_TIME, testNetworkJson } from '../../../../bench/lib/fixtures.js'

const TARGET_MS = 5000
const HALF_LIFE_BLOCKS = 36
/** Hash rate of each phase, relative to the equilibrium one. */
const RATES = [1, 10, 1]
const PHASE_BLOCKS = 720
/** The moving mean of the actual intervals, in blocks. */
const WINDOW = 50
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
/**
 * Blocks after a step by which the seed-averaged mean interval is within ±20%
 * of the target, and after which it stays there. The chain must get (or fall)
 * log2(10) ≈ 3.3 half-lives off schedule for the target to move ×10, ever
 * more slowly as the gap closes, and the window must then flush the blocks
 * mined on the way. Measured with these seeds, the seed-averaged mean
 * returns after about 6 half-lives (×10) and 3 (÷10), single runs after up
 * to 7.5 and 3.9; 8 half-lives leaves room for the dice without hiding a
 * rule that is slower than ASERT should be.
 */
const SETTLE_BLOCKS = 8 * HALF_LIFE_BLOCKS
const LOW = 0.8 * TARGET_MS
const HIGH = 1.2 * TARGET_MS

/** Block 1's time, a day after the genesis, and the network's anchorTimeMs: the simulation starts on schedule. */
const FIRST_BLOCK_TIME = GENESIS_TIME + 86_400_000
const json = testNetworkJson({ bits: 16 }) as { consensus: Record<string, unknown> }
json.consensus.retarget = {
  rule: 'asert',
  halfLifeMs: HALF_LIFE_BLOCKS * TARGET_MS,
  powLimit: '00' + 'ff'.repeat(31),
  anchorTimeMs: FIRST_BLOCK_TIME,
}
json.consensus.maxFutureBlockTimeMs = 15_000
const net = networkFromJson(json, 'simulated network')

/** mulberry32: a small seeded PRNG, uniform in (0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return (((x ^ (x >>> 14)) >>> 0) + 1) / 4294967297
  }
}

/** The actual interval (ms) of each block, by phase. */
function simulate(seed: number): number[][] {
  const random = rng(seed)
  const equilibrium = Number(workForTarget(net.consensus.target)) / TARGET_MS // hashes per ms
  let parent: ParentBlock = {
    hash: '',
    height: 1,
    timestamp: FIRST_BLOCK_TIME,
    target: net.consensus.target,
    proofType: 'pow',
    seed: Buffer.alloc(0),
  }
  return RATES.map((rate) => {
    const intervals: number[] = []
    for (let i = 0; i < PHASE_BLOCKS; i++) {
      const mean = Number(workForTarget(net.engine.nextTarget(parent))) / (equilibrium * rate)
      const interval = Math.max(1, Math.round(-Math.log(random()) * mean))
      intervals.push(interval)
      parent = { ...parent, height: parent.height + 1, timestamp: parent.timestamp + interval }
    }
    return intervals
  })
}

/** Mean of the last WINDOW intervals of the phase up to block i (fewer near its start). */
function windowMeans(intervals: number[]): number[] {
  const out: number[] = []
  let sum = 0
  for (let i = 0; i < intervals.length; i++) {
    sum += intervals[i]!
    if (i >= WINDOW) sum -= intervals[i - WINDOW]!
    out.push(sum / Math.min(i + 1, WINDOW))
  }
  return out
}

const inside = (m: number): boolean => m >= LOW && m <= HIGH
/** The first block of the phase whose full window's mean is within ±20% (-1: none). */
const returnsAt = (means: number[]): number => means.findIndex((m, i) => i >= WINDOW - 1 && inside(m))
const outsideAfter = (means: number[], from: number): number[] => means.flatMap((m, i) => (i >= from && !inside(m) ? [i] : []))

const runs = SEEDS.map((seed) => simulate(seed).map(windowMeans))
const averaged = RATES.map((_, p) => Array.from({ length: PHASE_BLOCKS }, (_, i) => runs.reduce((s, r) => s + r[p]![i]!, 0) / runs.length))

t.test('at equilibrium the seed-averaged mean interval stays within ±20% of the target', async (t) => {
  const out = outsideAfter(averaged[0]!, WINDOW - 1)
  t.same(out, [], `blocks outside ±20% (full windows): ${out.length}`)
})

for (const [p, label] of [
  [1, '×10'],
  [2, '÷10 back to the original'],
] as const) {
  t.test(`after a ${label} hash-rate step the mean interval is within ±20% by ${SETTLE_BLOCKS} blocks and stays there`, async (t) => {
    const means = averaged[p]!
    const back = returnsAt(means)
    const out = outsideAfter(means, SETTLE_BLOCKS)
    const perSeed = runs.map((r, s) => `seed ${SEEDS[s]}: ${returnsAt(r[p]!)}`)
    t.comment(`${label}: blocks to return within ±20% (${WINDOW}-block mean): ${perSeed.join(', ')}; seed-averaged: ${back}`)
    t.ok(back >= 0 && back <= SETTLE_BLOCKS, `seed-averaged mean back within ±20% after ${back} blocks`)
    t.same(out, [], `and outside it at no block from ${SETTLE_BLOCKS} to ${PHASE_BLOCKS - 1}`)
    t.notOk(inside(means[0]!), 'the step moved it out of ±20% in the first place')
  })
}

t.test('the simulation is deterministic', async (t) => {
  t.same(simulate(3), simulate(3))
})
