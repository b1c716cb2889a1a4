// The slots target rule in simulation: validators' records make a Poisson
// number of winners per slot (mean λ ∝ records · target); the rule must hold
// the share of empty slots near EMPTY_SHARE as the record count steps, and
// react in a stated number of blocks.
import t from 'tap'
import { mulberry32 as rng } from '../../../helpers/prng.js'
import fc from 'fast-check'
import { DOWN_FACTOR, EMPTY_SHARE, GAIN, nextSlotTarget, UP_FACTOR } from '../../../../node/consensus/slot-retarget.js'

const LIMIT = 1n << 190n

/** Simulates `blocks` slots; `recordsAt(i)` gives the records searched in slot i. Returns the empty flags. */
function simulate(
  blocks: number,
  recordsAt: (i: number) => number,
  seed: number,
  start = 1n << 170n,
): { empty: boolean[]; targets: bigint[] } {
  const rand = rng(seed)
  let target = start
  const empty: boolean[] = []
  const targets: bigint[] = []
  for (let i = 0; i < blocks; i++) {
    // λ = records · 2·target / 2^192: the expected records within the target.
    const lambda = (recordsAt(i) * 2 * Number(target >> 100n)) / 2 ** 92
    const isEmpty = rand() < Math.exp(-lambda)
    empty.push(isEmpty)
    targets.push(target)
    target = nextSlotTarget(target, isEmpty, LIMIT)
  }
  return { empty, targets }
}

const share = (xs: boolean[]): number => xs.filter(Boolean).length / xs.length

t.test('the factors balance at the stated empty share', async (t) => {
  const drift = EMPTY_SHARE * Math.log(Number(UP_FACTOR) / 65536) + (1 - EMPTY_SHARE) * Math.log(Number(DOWN_FACTOR) / 65536)
  t.ok(Math.abs(drift) < 1e-4, `log drift at equilibrium ${drift}`)
  t.ok(Math.abs(Math.log(Number(UP_FACTOR) / 65536) - GAIN * (1 - EMPTY_SHARE)) < 1e-4)
})

t.test('a steady network settles at 5-10 % empty slots', async (t) => {
  const { empty } = simulate(6000, () => 4_000_000, 1)
  const s = share(empty.slice(1000))
  t.ok(s > 0.05 && s < 0.1, `empty share ${s.toFixed(3)}`)
})

/** The target at which `records` records make EMPTY_SHARE of the slots empty. */
function equilibrium(records: number): number {
  return (-Math.log(EMPTY_SHARE) * 2 ** 192) / (2 * records)
}

t.test(
  'property: after a ×10 or ÷10 step in records, the target is within ×1.5 of the new balance in 100 blocks, and the share comes back to 5-10 %',
  async () => {
    await fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(10, 0.1),
        fc.integer({ min: 100_000, max: 50_000_000 }),
        (seed, step, base) => {
          const settleAt = 2000
          const { empty, targets } = simulate(settleAt + 3000, (i) => (i < settleAt ? base : base * step), seed)
          const goal = equilibrium(base * step)
          const reached = targets.slice(settleAt).findIndex((x) => Math.abs(Math.log(Number(x) / goal)) < Math.log(1.5))
          const after = share(empty.slice(settleAt + 150))
          return reached >= 0 && reached <= 100 && after > 0.05 && after < 0.1
        },
      ),
      { numRuns: 40 },
    )
  },
)

t.test('all validators stopped: the target rises to the limit, then falls back once they return', async (t) => {
  const { targets, empty } = simulate(3000, (i) => (i >= 500 && i < 600 ? 0 : 2_000_000), 7)
  t.equal(targets[599], LIMIT, 'a hundred empty slots reach the limit')
  const s = share(empty.slice(2000))
  t.ok(s > 0.04 && s < 0.11, `empty share after the return ${s.toFixed(3)}`)
})

t.test('the target stays in [1, limit]', async () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: LIMIT }), fc.boolean(), (target, isEmpty) => {
      const next = nextSlotTarget(target, isEmpty, LIMIT)
      return next >= 1n && next <= LIMIT && (isEmpty ? next >= target : next <= target)
    }),
  )
})
