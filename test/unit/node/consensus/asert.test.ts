// ASERT (aserti3-2d in milliseconds): exactly the anchor target on schedule,
// a doubling or halving per half-life behind or ahead, monotonic in time,
// always in [1, powLimit], and cheap for any timestamp a peer can send.
import t from 'tap'
import fc from 'fast-check'
import { asertTarget, bigIntToTarget, checkAsertParams, targetToBigInt, type AsertParams } from '../../../../node/consensus/asert.js'

const T = 5000
const HALF = 120_000
const params = (anchorTarget: bigint, powLimit = (1n << 256n) - 1n): AsertParams => ({
  anchorTarget,
  powLimit,
  targetBlockTimeMs: T,
  halfLifeMs: HALF,
})
const p = params(1n << 232n, (1n << 240n) - 1n)
const target256 = fc.bigInt({ min: 1n, max: (1n << 256n) - 1n })
const height = fc.integer({ min: 0, max: 10_000_000 })
const timeDelta = fc.integer({ min: -(2 ** 45), max: 2 ** 45 })

t.test('on schedule the target is exactly the anchor target', async (t) => {
  t.equal(asertTarget(p, 0, 0), p.anchorTarget, 'the anchor itself')
  t.equal(asertTarget(p, 100, 100 * T), p.anchorTarget, '100 blocks on schedule')
  fc.assert(
    fc.property(target256, height, (anchor, h) => {
      const q = params(anchor)
      return asertTarget(q, h, h * T) === anchor
    }),
    { numRuns: 500 },
  )
  t.pass('any anchor, any height')
})

t.test('each half-life behind doubles the target, each ahead halves it', async (t) => {
  for (let k = -8; k <= 7; k++) {
    const want = k >= 0 ? p.anchorTarget << BigInt(k) : p.anchorTarget >> BigInt(-k)
    t.equal(asertTarget(p, 50, 50 * T + k * HALF), want, `${k} half-lives`)
  }
  t.equal(asertTarget(p, 50, 50 * T + 8 * HALF), p.powLimit, 'the limit bounds it (2^240 > powLimit)')
})

t.test('between whole half-lives: the cubic approximation of 2^x, fixed to the integer', async (t) => {
  // factor(32768) = 65536 + ((C1·x + C2·x² + C3·x³ + 2^47) >> 48) = 92674 ≈ 65536·√2
  t.equal(asertTarget(params(1n << 240n), 0, HALF / 2), ((1n << 240n) * 92674n) >> 16n, 'half a half-life behind')
  t.equal(asertTarget(params(1n << 240n), 0, HALF / 2), 0x16a0200000000000000000000000000000000000000000000000000000000n)
  t.equal(asertTarget(params(1n << 240n), 0, -HALF / 2), ((1n << 240n) * 92674n) >> 17n, 'half a half-life ahead')
})

t.test('the target never falls as the parent gets later (property)', async (t) => {
  fc.assert(
    fc.property(target256, height, timeDelta, timeDelta, (anchor, h, a, b) => {
      const q = params(anchor, anchor + ((1n << 256n) - 1n - anchor) / 2n)
      const [lo, hi] = a <= b ? [a, b] : [b, a]
      return asertTarget(q, h, lo) <= asertTarget(q, h, hi)
    }),
    { numRuns: 2000 },
  )
  t.pass('monotonic')
  // Every step of the fraction, across the boundary of a whole shift.
  let prev = 0n
  for (let d = -HALF - 10; d <= HALF + 10; d++) {
    const v = asertTarget(params(1n << 200n), 0, d)
    if (v < prev) t.fail(`falls at ${d}`)
    prev = v
  }
  t.pass('no dip at any millisecond over two half-lives')
})

t.test('always in [1, powLimit], never zero (property)', async (t) => {
  fc.assert(
    fc.property(target256, target256, height, timeDelta, (a, b, h, d) => {
      const [anchor, limit] = a <= b ? [a, b] : [b, a]
      const v = asertTarget(params(anchor, limit), h, d)
      return v >= 1n && v <= limit
    }),
    { numRuns: 2000 },
  )
  t.equal(asertTarget(params(1n), 0, -100 * HALF), 1n, 'far ahead of schedule: 1, not 0')
  t.equal(asertTarget(params(1n), 10, 0), 1n, 'ahead with the smallest anchor')
})

t.test('extreme timestamps are clamped at once, without huge shifts', async (t) => {
  const q = { ...p, halfLifeMs: 1 }
  const start = process.hrtime.bigint()
  t.equal(asertTarget(q, 0, Number.MAX_SAFE_INTEGER), q.powLimit)
  t.equal(asertTarget(q, 0, Number.MIN_SAFE_INTEGER), 1n)
  t.equal(asertTarget(q, Number.MAX_SAFE_INTEGER, 0), 1n)
  t.ok(process.hrtime.bigint() - start < 1_000_000_000n, 'well under a second')
})

t.test('bad arguments are refused', async (t) => {
  t.throws(() => asertTarget(p, -1, 0), RangeError)
  t.throws(() => asertTarget(p, 1.5, 0), RangeError)
  t.throws(() => asertTarget(p, 0, 2 ** 53), RangeError)
  t.doesNotThrow(() => checkAsertParams(p))
  t.throws(() => checkAsertParams({ ...p, powLimit: p.anchorTarget - 1n }), /powLimit/)
  t.throws(() => checkAsertParams({ ...p, anchorTarget: 0n }), /anchorTarget/)
  t.throws(() => checkAsertParams({ ...p, halfLifeMs: 0 }), /halfLifeMs/)
  t.throws(() => checkAsertParams({ ...p, targetBlockTimeMs: 0 }), /targetBlockTimeMs/)
})

t.test('targets convert to and from 32 big-endian bytes', async (t) => {
  fc.assert(fc.property(target256, (v) => targetToBigInt(bigIntToTarget(v)) === v && bigIntToTarget(v).length === 32))
  t.equal(bigIntToTarget(1n).toString('hex'), '00'.repeat(31) + '01')
  t.throws(() => bigIntToTarget(1n << 256n), RangeError)
})
