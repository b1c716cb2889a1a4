// shuffleInPlace: a permutation every time, and every order about equally
// often (a fixed seed and a fixed tolerance).
import t from 'tap'
import { mulberry32 as seeded } from '../../helpers/prng.js'
import fc from 'fast-check'
import { shuffleInPlace } from '../../../lib/shuffle.js'

const RUNS = 48_000
const ITEMS = [0, 1, 2, 3] // 24 orders: 2000 runs each when uniform

/** How often each order of ITEMS comes out of `order` over RUNS runs. */
function orderCounts(order: (items: number[]) => number[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < RUNS; i++) {
    const key = order([...ITEMS]).join('')
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

/** Largest relative distance of any order's count from the uniform expectation (missing orders count as 0). */
function worstDeviation(counts: Map<string, number>): number {
  const expected = RUNS / 24
  let worst = 24 - counts.size // any missing order: deviation 1 per order, at least
  for (const n of counts.values()) worst = Math.max(worst, Math.abs(n - expected) / expected)
  return worst
}

// About 2000 ± 44 per order: 10% is more than 4 standard deviations.
const TOLERANCE = 0.1

t.test('every order of four items comes out about equally often', async (t) => {
  const random = seeded(42)
  const counts = orderCounts((items) => shuffleInPlace(items, random))
  t.equal(counts.size, 24, 'all 24 orders occur')
  t.ok(worstDeviation(counts) < TOLERANCE, `worst deviation ${worstDeviation(counts).toFixed(3)} < ${TOLERANCE}`)
})

t.test('the check tells a biased shuffle apart: sorting with a random comparator fails it', async (t) => {
  const random = seeded(42)
  const counts = orderCounts((items) => items.sort(() => random() - 0.5))
  t.ok(worstDeviation(counts) >= TOLERANCE, `worst deviation ${worstDeviation(counts).toFixed(3)} ≥ ${TOLERANCE}`)
})

t.test('the result is the same array, a permutation of what went in', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer(), { maxLength: 50 }), fc.integer(), (items, seed) => {
      const copy = [...items]
      const out = shuffleInPlace(copy, seeded(seed))
      return out === copy && [...out].sort((a, b) => a - b).join() === [...items].sort((a, b) => a - b).join()
    }),
  )
  t.pass('permutation for every input')
})

t.test('a broken random source still yields a permutation', async (t) => {
  for (const bad of [Number.NaN, -1, 1, 7, Number.POSITIVE_INFINITY]) {
    const out = shuffleInPlace([1, 2, 3, 4, 5], () => bad)
    t.same([...out].sort(), [1, 2, 3, 4, 5], `random() = ${bad}`)
  }
})
