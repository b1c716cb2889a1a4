// The proof-of-work threads' first-8-bytes test never rejects a record that
// is within the target, and lets almost no distant record through.
import t from 'tap'
import fc from 'fast-check'
import { recordDistance } from '../../../../protocol/chain/proof-record.js'
import { top52, top52Limit } from '../../../../node/validator/pow-filter.js'

const TWO_192 = 1n << 192n
const toBytes = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(48, '0'), 'hex')
const value192 = fc.bigInt({ min: 0n, max: TWO_192 - 1n })
const passes = (r: Buffer, c: Buffer, target: bigint) => Math.abs(top52(r, 0) - top52(c, 0)) <= top52Limit(target)

t.test('top52 reads the top 52 bits exactly', async (t) => {
  fc.assert(fc.property(value192, (v) => BigInt(top52(toBytes(v), 0)) === v >> 140n))
  t.equal(top52(Buffer.alloc(24, 0xff), 0), 2 ** 52 - 1)
  t.equal(top52(Buffer.concat([Buffer.alloc(3), Buffer.alloc(24, 0x80)]), 3), 0x80808080 * 2 ** 20 + 0x80808)
})

t.test('a record within the target always passes, however tight the target', async (t) => {
  fc.assert(
    fc.property(value192, value192, fc.bigInt({ min: 1n, max: 1n << 100n }), fc.boolean(), (r, c, slack, tight) => {
      const target = recordDistance(toBytes(r), toBytes(c)) + (tight ? 1n : slack)
      return passes(toBytes(r), toBytes(c), target)
    }),
    { numRuns: 5000 },
  )
  // Across a boundary of the low 140 bits: the top bits differ by one, the distance is 1.
  const c = (5n << 140n) - 1n
  t.ok(passes(toBytes(c + 1n), toBytes(c), 2n), 'neighbours across a 2^140 boundary')
  t.ok(passes(toBytes(c), toBytes(c + 1n), 2n), 'and the other way')
})

t.test('a record far outside the target is rejected', async (t) => {
  const c = toBytes(1n << 191n)
  t.notOk(passes(toBytes((1n << 191n) + (3n << 140n)), c, 1n << 140n), 'three top-52 steps away, target one step')
  t.ok(passes(toBytes(TWO_192 - 1n), toBytes(0n), TWO_192), 'a target beyond every distance lets all through')
})
