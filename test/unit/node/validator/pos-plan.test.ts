// Choosing single-write passes or two phases: one pass whenever the vault
// fits the memory, more only while hashing outruns the disk that many times.
import t from 'tap'
import { groupBucketsFor, planBuild } from '../../../../node/validator/pos-plan.js'
import { vaultLayout } from '../../../../node/validator/pos-vault.js'

const L = vaultLayout({ buckets: 16, cupSize: 64, cupsPerBucket: 4 })
const R = L.regionBytes

t.test('a vault that fits the memory is one pass, however slow the hashing', async (t) => {
  t.same(planBuild(L, { memoryBytes: 16 * R, hashBytesPerSecond: 1, writeBytesPerSecond: 1e9 }), {
    method: 'passes',
    groupBuckets: 16,
    passes: 1,
  })
  t.same(
    planBuild(L, { memoryBytes: 1e12, hashBytesPerSecond: 0, writeBytesPerSecond: 1e9 }).groupBuckets,
    16,
    'never more buckets than there are',
  )
})

t.test('less memory than one region builds in two phases', async (t) => {
  for (const memoryBytes of [0, R - 1, Number.NaN, -5])
    t.equal(planBuild(L, { memoryBytes, hashBytesPerSecond: 1e12, writeBytesPerSecond: 1 }).method, 'two-phase', String(memoryBytes))
  t.equal(groupBucketsFor(L, R - 1), 0)
  t.equal(groupBucketsFor(L, 3.5 * R), 3)
})

t.test('several passes only while hashing is that many times faster than writing', async (t) => {
  const memoryBytes = 5 * R // 4 passes
  t.same(planBuild(L, { memoryBytes, hashBytesPerSecond: 400, writeBytesPerSecond: 100 }), { method: 'passes', groupBuckets: 4, passes: 4 })
  t.equal(planBuild(L, { memoryBytes, hashBytesPerSecond: 399, writeBytesPerSecond: 100 }).method, 'two-phase')
})

t.test('the groups are as even as the passes allow', async (t) => {
  // 7 regions of memory: 3 passes; 6 buckets each hold as much as 7 would.
  t.same(planBuild(L, { memoryBytes: 7 * R, hashBytesPerSecond: 1e12, writeBytesPerSecond: 1 }), {
    method: 'passes',
    groupBuckets: 6,
    passes: 3,
  })
})
