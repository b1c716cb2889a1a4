// OrphanPool: bounded holding area for blocks whose parent is unknown.
import t from 'tap'
import fc from 'fast-check'
import {
  DEFAULT_MAX_ORPHANS,
  DEFAULT_MAX_ORPHANS_PER_PEER,
  DEFAULT_MAX_ORPHAN_BYTES,
  OrphanPool,
  type Orphan,
} from '../../../../node/p2p/sync-rules.js'

let clock = 0
const orphan = (hash: string, prev: string, opts: { size?: number; peer?: number } = {}): Orphan<string> => ({
  hash,
  prev,
  block: `block:${hash}`,
  size: opts.size ?? 100,
  peer: opts.peer ?? 1,
  receivedAt: clock++,
})
const hashes = (os: readonly Orphan<string>[]): string[] => os.map((o) => o.hash)

t.test('defaults', async (t) => {
  const p = new OrphanPool<string>()
  t.equal(p.maxBlocks, DEFAULT_MAX_ORPHANS)
  t.equal(p.maxBytes, DEFAULT_MAX_ORPHAN_BYTES)
  t.equal(p.maxPerPeer, DEFAULT_MAX_ORPHANS_PER_PEER)
  t.equal([DEFAULT_MAX_ORPHANS, DEFAULT_MAX_ORPHAN_BYTES, DEFAULT_MAX_ORPHANS_PER_PEER].join(), [200, 64 * 1024 * 1024, 50].join())
  for (const bad of [0, -1, 1.5, NaN]) {
    t.throws(() => new OrphanPool({ maxBlocks: bad }), RangeError)
    t.throws(() => new OrphanPool({ maxBytes: bad }), RangeError)
    t.throws(() => new OrphanPool({ maxPerPeer: bad }), RangeError)
  }
})

t.test('add, has, size, bytes; a duplicate is refused', async (t) => {
  const p = new OrphanPool<string>()
  t.equal(p.add(orphan('b', 'a', { size: 10 })), true)
  t.equal(p.add(orphan('c', 'b', { size: 20 })), true)
  t.ok(p.has('b') && p.has('c'))
  t.notOk(p.has('a'))
  t.equal(p.size, 2)
  t.equal(p.bytes, 30)
  t.equal(p.add(orphan('b', 'a', { size: 999, peer: 2 })), false)
  t.equal(p.size, 2)
  t.equal(p.bytes, 30, 'the duplicate changed nothing')
  t.throws(() => p.add(orphan('d', 'c', { size: -1 })), RangeError)
})

t.test('takeChildren removes and returns the children, oldest first', async (t) => {
  const p = new OrphanPool<string>()
  p.add(orphan('b1', 'a', { size: 10 }))
  p.add(orphan('x', 'other', { size: 10 }))
  p.add(orphan('b2', 'a', { size: 10, peer: 2 }))
  p.add(orphan('c', 'b1', { size: 10 }))
  const kids = p.takeChildren('a')
  t.same(hashes(kids), ['b1', 'b2'])
  t.equal(kids[0]!.block, 'block:b1', 'the block itself comes back')
  t.notOk(p.has('b1') || p.has('b2'))
  t.equal(p.size, 2)
  t.equal(p.bytes, 20)
  t.same(p.takeChildren('a'), [], 'taken once')
  t.same(hashes(p.takeChildren('b1')), ['c'], 'then the grandchild, asked for by its parent')
  t.same(p.takeChildren('nobody'), [])
  t.ok(p.has('x'))
})

t.test('a chain of 3 orphans added out of order drains in order once its root arrives', async (t) => {
  const p = new OrphanPool<string>()
  // root? <- a <- b <- c, added out of order
  p.add(orphan('c', 'b'))
  p.add(orphan('a', 'root'))
  p.add(orphan('b', 'a'))
  p.add(orphan('z', 'y'))
  const drained: string[] = []
  for (let parents = ['root']; parents.length > 0; ) {
    const next = parents.flatMap((h) => p.takeChildren(h))
    drained.push(...hashes(next))
    parents = hashes(next)
  }
  t.same(drained, ['a', 'b', 'c'])
  t.same([p.size, p.has('z')], [1, true], 'an unrelated orphan stays')
})

t.test('draining terminates on cyclic data', async (t) => {
  const p = new OrphanPool<string>()
  p.add(orphan('a', 'b'))
  p.add(orphan('b', 'a'))
  p.add(orphan('s', 's'))
  const drained: string[] = []
  for (let parents = ['a', 's'], steps = 0; parents.length > 0 && steps < 10; steps++) {
    const next = parents.flatMap((h) => p.takeChildren(h))
    drained.push(...hashes(next))
    parents = hashes(next)
  }
  t.same(drained.sort(), ['a', 'b', 's'], 'each taken once')
  t.equal(p.size, 0)
})

t.test('maxBlocks evicts the oldest first', async (t) => {
  const p = new OrphanPool<string>({ maxBlocks: 3 })
  for (const [i, h] of ['h1', 'h2', 'h3', 'h4'].entries()) t.ok(p.add(orphan(h, 'p' + h, { peer: i })))
  t.equal(p.size, 3)
  t.same(
    ['h1', 'h2', 'h3', 'h4'].map((h) => p.has(h)),
    [false, true, true, true],
  )
  t.same(p.takeChildren('ph1'), [], 'the evicted one is gone from the parent index too')
  t.equal(p.bytes, 300)
})

t.test('maxBytes evicts the oldest until the new one fits', async (t) => {
  const p = new OrphanPool<string>({ maxBytes: 1000 })
  p.add(orphan('h1', 'x', { size: 400, peer: 1 }))
  p.add(orphan('h2', 'x', { size: 400, peer: 2 }))
  p.add(orphan('h3', 'x', { size: 100, peer: 3 }))
  t.equal(p.bytes, 900)
  t.ok(p.add(orphan('h4', 'x', { size: 600, peer: 4 })))
  t.same(
    ['h1', 'h2', 'h3', 'h4'].map((h) => p.has(h)),
    [false, false, true, true],
    'two evicted to make room',
  )
  t.equal(p.bytes, 700)
  t.ok(p.add(orphan('h6', 'x', { size: 300, peer: 6 })), 'fills to exactly maxBytes')
  t.same([p.size, p.bytes, p.has('h3')], [3, 1000, true], 'nothing evicted when it fits exactly')
  t.ok(p.add(orphan('h5', 'x', { size: 1000 })), 'exactly maxBytes is allowed')
  t.same([p.size, p.bytes], [1, 1000])
})

t.test('an orphan larger than maxBytes is refused without evicting anything', async (t) => {
  const p = new OrphanPool<string>({ maxBytes: 1000 })
  p.add(orphan('h1', 'x', { size: 600 }))
  t.equal(p.add(orphan('huge', 'x', { size: 1001 })), false)
  t.ok(p.has('h1'))
  t.notOk(p.has('huge'))
  t.equal(p.bytes, 600)
})

t.test("maxPerPeer evicts that peer's oldest, not older orphans of others", async (t) => {
  const p = new OrphanPool<string>({ maxPerPeer: 2 })
  p.add(orphan('other', 'x', { peer: 9 }))
  p.add(orphan('m1', 'x', { peer: 1 }))
  p.add(orphan('m2', 'x', { peer: 1 }))
  t.ok(p.add(orphan('m3', 'x', { peer: 1 })))
  t.same(
    ['other', 'm1', 'm2', 'm3'].map((h) => p.has(h)),
    [true, false, true, true],
  )
  t.equal(p.size, 3)
})

t.test("removePeer drops only that peer's orphans", async (t) => {
  const p = new OrphanPool<string>()
  p.add(orphan('a1', 'x', { peer: 1, size: 10 }))
  p.add(orphan('b1', 'x', { peer: 2, size: 20 }))
  p.add(orphan('a2', 'a1', { peer: 1, size: 30 }))
  t.equal(p.removePeer(1), 2)
  t.same([p.has('a1'), p.has('a2'), p.has('b1')], [false, false, true])
  t.same([p.size, p.bytes], [1, 20])
  t.same(hashes(p.takeChildren('x')), ['b1'], 'parent index no longer lists a1')
  t.equal(p.removePeer(1), 0, 'nothing left for that peer')
  t.equal(p.removePeer(77), 0, 'unknown peer')
  // The peer's per-peer count restarted from zero.
  const q = new OrphanPool<string>({ maxPerPeer: 1 })
  q.add(orphan('q1', 'x', { peer: 5 }))
  q.removePeer(5)
  t.ok(q.add(orphan('q2', 'x', { peer: 5 })))
  t.equal(q.size, 1)
})

t.test('matches a reference model and never exceeds its bounds (property)', async (t) => {
  type Op =
    | { op: 'add'; hash: number; prev: number; size: number; peer: number }
    | { op: 'take'; prev: number }
    | { op: 'removePeer'; peer: number }
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('add' as const),
        hash: fc.integer({ min: 0, max: 40 }),
        prev: fc.integer({ min: 0, max: 40 }),
        size: fc.integer({ min: 0, max: 400 }),
        peer: fc.integer({ min: 0, max: 3 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('take' as const), prev: fc.integer({ min: 0, max: 40 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('removePeer' as const), peer: fc.integer({ min: 0, max: 3 }) }) },
  )
  const limitsArb = fc.record({
    maxBlocks: fc.integer({ min: 1, max: 12 }),
    maxBytes: fc.integer({ min: 1, max: 2000 }),
    maxPerPeer: fc.integer({ min: 1, max: 6 }),
  })
  fc.assert(
    fc.property(limitsArb, fc.array(opArb, { maxLength: 150 }), (limits, ops) => {
      const pool = new OrphanPool<string>(limits)
      let model: Orphan<string>[] = [] // oldest first
      const bytes = () => model.reduce((sum, o) => sum + o.size, 0)
      for (const op of ops) {
        if (op.op === 'add') {
          const o = orphan(`h${op.hash}`, `h${op.prev}`, { size: op.size, peer: op.peer })
          let expected = false
          if (!model.some((m) => m.hash === o.hash) && o.size <= limits.maxBytes) {
            expected = true
            while (model.filter((m) => m.peer === o.peer).length >= limits.maxPerPeer) {
              const i = model.findIndex((m) => m.peer === o.peer)
              model.splice(i, 1)
            }
            while (model.length >= limits.maxBlocks || bytes() + o.size > limits.maxBytes) model.shift()
            model.push(o)
          }
          if (pool.add(o) !== expected) return false
        } else if (op.op === 'take') {
          const prev = `h${op.prev}`
          const expected = model.filter((m) => m.prev === prev)
          model = model.filter((m) => m.prev !== prev)
          if (hashes(pool.takeChildren(prev)).join() !== hashes(expected).join()) return false
        } else {
          const expected = model.filter((m) => m.peer === op.peer).length
          model = model.filter((m) => m.peer !== op.peer)
          if (pool.removePeer(op.peer) !== expected) return false
        }
        // Bounds, then full agreement with the model.
        if (pool.size > limits.maxBlocks || pool.bytes > limits.maxBytes) return false
        for (let peer = 0; peer <= 3; peer++) if (model.filter((m) => m.peer === peer).length > limits.maxPerPeer) return false
        if (pool.size !== model.length || pool.bytes !== bytes()) return false
        for (let h = 0; h <= 40; h++) if (pool.has(`h${h}`) !== model.some((m) => m.hash === `h${h}`)) return false
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass('pool agrees with the model')
})
