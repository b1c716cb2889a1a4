// The block tree and fork choice.
import t from 'tap'
import fc from 'fast-check'
import type { BlockHeader } from '../../../../protocol/chain/block-codec.js'
import { BlockIndex, compareChains, type IndexEntry } from '../../../../node/chain/block-index.js'
import { medianTime } from '../../../../node/chain/validation.js'
import { targetFromLeadingZeroBits, workForTarget } from '../../../../node/consensus/pow.js'
import { WorkEngine, workProof } from '../../../../node/consensus/work.js'
import { indexEntry } from '../../../helpers/tamper.js'

const T4 = targetFromLeadingZeroBits(4) // work 16
const T5 = targetFromLeadingZeroBits(5) // work 32
const engine = new WorkEngine({ target: T4 })
const newIndex = () => new BlockIndex(engine)

/** A header with the fields the index reads; the rest are placeholders. */
function header({ nonce, ...fields }: { height: number; timestamp: number; nonce: number; target: Buffer }): BlockHeader {
  return {
    prevHash: Buffer.alloc(32),
    txRoot: Buffer.alloc(32),
    miner: Buffer.alloc(33),
    proofType: 'pow',
    proof: workProof(nonce),
    ...fields,
  }
}
const sign = (n: number) => Math.sign(n)

/** Adds `hash` under `prev` (genesis when prev is '') and returns the entry. */
function grow(
  index: BlockIndex,
  hash: string,
  prev: string,
  opts: { timestamp?: number; nonce?: number; target?: Buffer } = {},
): IndexEntry {
  const parent = index.get(prev)
  const entry = index.makeEntry(
    hash,
    prev,
    header({
      height: parent ? parent.height + 1 : 0,
      timestamp: opts.timestamp ?? (parent ? parent.timestamp + 10 : 1000),
      nonce: opts.nonce ?? 0,
      target: opts.target ?? T4,
    }),
  )
  index.add(entry)
  return entry
}

t.test('compareChains: work, then earlier timestamp, then larger tie-break value, then smaller hash', async (t) => {
  const base = indexEntry({ hash: 'bb', chainWork: 100n, timestamp: 50, tieBreak: 5n })
  t.equal(
    compareChains(indexEntry({ ...base, hash: 'cc', chainWork: 101n, timestamp: 99, tieBreak: 0n }), base),
    1,
    'more work wins over everything',
  )
  t.equal(compareChains(base, indexEntry({ ...base, hash: 'cc', chainWork: 101n })), -1)
  t.equal(compareChains(indexEntry({ ...base, hash: 'cc', timestamp: 49, tieBreak: 0n }), base), 1, 'equal work: earlier timestamp wins')
  t.equal(compareChains(indexEntry({ ...base, hash: 'aa', timestamp: 51, tieBreak: 9n }), base), -1, 'later timestamp loses')
  t.equal(compareChains(indexEntry({ ...base, hash: 'cc', tieBreak: 6n }), base), 1, 'equal time: larger tie-break wins')
  t.equal(compareChains(indexEntry({ ...base, hash: 'aa', tieBreak: 4n }), base), -1, 'smaller tie-break loses')
  t.equal(compareChains(indexEntry({ ...base, hash: 'aa' }), base), 1, 'all equal: smaller hash wins')
  t.equal(compareChains(indexEntry({ ...base, hash: 'cc' }), base), -1)
  t.equal(compareChains(base, indexEntry({ ...base })), 0, 'same block')
})

const entryArb = fc
  .record({
    hash: fc.constantFrom('00', '01', '7f', 'ff'),
    chainWork: fc.bigInt({ min: 1n, max: 3n }),
    timestamp: fc.integer({ min: 0, max: 2 }),
    tieBreak: fc.bigInt({ min: 0n, max: 2n }),
  })
  .map((f) => indexEntry(f))

t.test('compareChains is an antisymmetric, transitive total order (property)', async (t) => {
  fc.assert(
    fc.property(entryArb, entryArb, entryArb, (a, b, c) => {
      const ab = compareChains(a, b)
      const antisymmetric = sign(ab) === -sign(compareChains(b, a))
      const reflexive = compareChains(a, a) === 0
      const zeroOnlyForEqualKeys =
        (ab === 0) === (a.hash === b.hash && a.chainWork === b.chainWork && a.timestamp === b.timestamp && a.tieBreak === b.tieBreak)
      const transitive = !(ab > 0 && compareChains(b, c) > 0) || compareChains(a, c) > 0
      return antisymmetric && reflexive && zeroOnlyForEqualKeys && transitive
    }),
    { numRuns: 2000 },
  )
  t.pass('order laws hold')
})

t.test('makeEntry/add: work, status inheritance, unknown parents, duplicates', async (t) => {
  const index = newIndex()
  const g = grow(index, 'g', '')
  t.equal(g.work, workForTarget(T4))
  t.equal(g.work, 16n)
  const a = grow(index, 'a', 'g', { target: T5, nonce: 7 })
  t.equal(a.chainWork, 16n + 32n)
  t.equal(a.tieBreak, 7n, "the entry keeps the engine's tie-break value (work: the nonce)")
  t.equal(a.status, 'unverified')
  t.throws(() => index.add(indexEntry({ hash: 'x', prev: 'nope', height: 5 })), /parent nope unknown/)
  t.notOk(index.has('x'))
  index.add({ ...a, chainWork: 1n })
  t.equal(index.get('a')!.chainWork, 48n, 'a second add of a known hash is ignored')
  t.equal(index.size, 2)
  index.markInvalid('a')
  const child = index.makeEntry('c', 'a', header({ height: 2, timestamp: 2000, nonce: 0, target: T4 }))
  t.equal(child.status, 'invalid', 'a child of an invalid block is invalid')
  index.add(child)
  t.equal(index.best()?.hash, 'g', 'an invalid child does not hide its parent')
  index.setStatus('a', 'valid')
  t.equal(index.get('a')!.status, 'invalid', 'setStatus cannot revive an invalid block')
  index.setStatus('g', 'valid')
  t.equal(index.get('g')!.status, 'valid')
})

t.test('an entry added already invalid does not hide a valid parent', async (t) => {
  const index = newIndex()
  grow(index, 'g', '')
  grow(index, 'a', 'g')
  index.add({ ...index.makeEntry('bad', 'a', header({ height: 2, timestamp: 5000, nonce: 0, target: T4 })), status: 'invalid' })
  t.equal(index.best()?.hash, 'a')
})

t.test('best() falls back after markInvalid, including to a parent that is a leaf again', async (t) => {
  // g ─ a1 ─ a2 ─ a3        (a: timestamps 10 apart)
  //   └ b1 ─ b2             (b: later timestamps, so a wins ties)
  const index = newIndex()
  grow(index, 'g', '')
  grow(index, 'a1', 'g')
  grow(index, 'a2', 'a1')
  grow(index, 'a3', 'a2')
  grow(index, 'b1', 'g', { timestamp: 1500 })
  grow(index, 'b2', 'b1', { timestamp: 1600 })
  t.equal(index.best()?.hash, 'a3', 'most work')
  t.same(index.markInvalid('a3'), ['a3'])
  t.equal(index.best()?.hash, 'a2', 'a2 is a leaf again and wins the tie with b2 on time (1020 < 1600)')
  t.same(new Set(index.markInvalid('a1')), new Set(['a1', 'a2', 'a3']), 'descendants are marked too')
  t.equal(index.best()?.hash, 'b2')
  t.equal(index.get('a2')!.status, 'invalid')
  index.markInvalid('b1')
  t.equal(index.best()?.hash, 'g', 'genesis is a leaf again once every child is invalid')
  index.markInvalid('g')
  t.equal(index.best(), undefined, 'nothing valid is left')
})

t.test('markInvalid keeps a parent that still has a live child off the leaf set', async (t) => {
  const index = newIndex()
  grow(index, 'g', '')
  grow(index, 'a', 'g', { timestamp: 1010 })
  grow(index, 'b', 'g', { timestamp: 1020 })
  index.markInvalid('a')
  t.equal(index.best()?.hash, 'b', 'not g: g has less work than b')
})

t.test('best() equals the best non-invalid entry on random trees (property)', async (t) => {
  const treeArb = fc.record({
    parents: fc.array(fc.nat(), { minLength: 1, maxLength: 25 }),
    bits: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 26, maxLength: 26 }),
    times: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 26, maxLength: 26 }),
    invalid: fc.array(fc.nat(), { maxLength: 6 }),
  })
  fc.assert(
    fc.property(treeArb, ({ parents, bits, times, invalid }) => {
      const index = newIndex()
      const hashes = ['h00']
      grow(index, 'h00', '', { target: targetFromLeadingZeroBits(bits[0]!) })
      parents.forEach((p, i) => {
        const hash = `h${String(i + 1).padStart(2, '0')}`
        const prev = hashes[p % hashes.length]!
        grow(index, hash, prev, { target: targetFromLeadingZeroBits(bits[i + 1]!), timestamp: index.get(prev)!.timestamp + times[i + 1]! })
        hashes.push(hash)
      })
      for (const n of invalid) index.markInvalid(hashes[n % hashes.length]!)
      // Work is positive, so the best non-invalid entry is always a tip of the non-invalid tree.
      let expected: IndexEntry | undefined
      for (const h of hashes) {
        const e = index.get(h)!
        if (e.status !== 'invalid' && (expected === undefined || compareChains(e, expected) > 0)) expected = e
      }
      return index.best()?.hash === expected?.hash
    }),
    { numRuns: 300 },
  )
  t.pass('best() agrees with a scan')
})

t.test('fork() and path() on a small tree', async (t) => {
  // g ─ a ─ b ─ c
  //       └ d ─ e ─ f
  const index = newIndex()
  for (const [h, p] of [
    ['g', ''],
    ['a', 'g'],
    ['b', 'a'],
    ['c', 'b'],
    ['d', 'a'],
    ['e', 'd'],
    ['f', 'e'],
  ] as const)
    grow(index, h, p)
  const e = (h: string) => index.get(h)!
  t.equal(index.fork(e('c'), e('f')).hash, 'a')
  t.equal(index.fork(e('f'), e('c')).hash, 'a', 'symmetric')
  t.equal(index.fork(e('c'), e('b')).hash, 'b', 'an ancestor is its own fork point')
  t.equal(index.fork(e('e'), e('e')).hash, 'e')
  t.equal(index.fork(e('g'), e('f')).hash, 'g')
  t.same(
    index.path(e('a'), e('f')).map((x) => x.hash),
    ['d', 'e', 'f'],
    'oldest first, ancestor excluded',
  )
  t.same(
    index.path(e('g'), e('c')).map((x) => x.hash),
    ['a', 'b', 'c'],
  )
  t.same(index.path(e('c'), e('c')), [], 'empty path to itself')
})

t.test('recentTimestamps walks back count entries or to genesis', async (t) => {
  const index = newIndex()
  grow(index, 'g', '', { timestamp: 100 })
  grow(index, 'a', 'g', { timestamp: 300 })
  grow(index, 'b', 'a', { timestamp: 200 })
  grow(index, 'c', 'b', { timestamp: 400 })
  t.same(index.recentTimestamps(index.get('c')!, 3), [400, 200, 300], 'tip first')
  t.same(index.recentTimestamps(index.get('c')!, 11), [400, 200, 300, 100], 'stops at genesis')
  t.same(index.recentTimestamps(index.get('g')!, 11), [100])
  t.same(index.recentTimestamps(index.get('c')!, 1), [400])
})

t.test('medianTime: odd and even counts', async (t) => {
  t.equal(medianTime([5]), 5)
  t.equal(medianTime([5, 1, 3]), 3, 'odd: the middle value')
  t.equal(medianTime([400, 200, 300, 100]), 300, 'even: the upper middle value (sorted[n/2], as Bitcoin)')
  t.equal(medianTime([2, 1]), 2)
  t.equal(medianTime([7, 7, 1, 9, 9, 9, 2, 3, 4, 5, 6]), 6, 'eleven values with repeats')
  const input = [3, 1, 2]
  medianTime(input)
  t.same(input, [3, 1, 2], 'the input is not sorted in place')
  t.equal(medianTime([10, 9, 1_700_000_000_000]), 10, 'numeric, not lexicographic, order')
})
