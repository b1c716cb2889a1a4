// lib/lru.ts: the bounded set of recently seen keys (a peer's known blocks and txs).
import t from 'tap'
import fc from 'fast-check'
import { LruSet } from '../../../lib/lru.js'

t.test('LruSet', async (t) => {
  t.test('evicts the least recently added first', async (t) => {
    const s = new LruSet<number>(3)
    for (const k of [1, 2, 3, 4]) s.add(k)
    t.equal(s.size, 3)
    t.notOk(s.has(1), 'oldest evicted')
    t.ok(s.has(2) && s.has(3) && s.has(4))
  })

  t.test('has() refreshes recency', async (t) => {
    const s = new LruSet<string>(3)
    for (const k of ['a', 'b', 'c']) s.add(k)
    t.ok(s.has('a'))
    s.add('d')
    t.ok(s.has('a'), 'a survived because it was just used')
    t.notOk(s.has('b'), 'b was least recent')
    t.ok(s.has('c') && s.has('d'))
  })

  t.test('add() of a present key refreshes recency without growing', async (t) => {
    const s = new LruSet<string>(2)
    s.add('a')
    s.add('b')
    s.add('a')
    t.equal(s.size, 2)
    s.add('c')
    t.ok(s.has('a'))
    t.notOk(s.has('b'))
  })

  t.test('a miss does not change anything', async (t) => {
    const s = new LruSet<number>(2)
    s.add(1)
    t.notOk(s.has(2))
    t.equal(s.size, 1)
  })

  t.test('delete and clear', async (t) => {
    const s = new LruSet<number>(4)
    for (const k of [1, 2, 3]) s.add(k)
    t.equal(s.delete(2), true)
    t.equal(s.delete(2), false)
    t.equal(s.size, 2)
    t.notOk(s.has(2))
    s.clear()
    t.equal(s.size, 0)
    t.notOk(s.has(1))
    s.add(9)
    t.ok(s.has(9), 'usable after clear')
  })

  t.test('max 1 keeps only the latest', async (t) => {
    const s = new LruSet<number>(1)
    s.add(1)
    s.add(2)
    t.equal(s.size, 1)
    t.ok(s.has(2))
    t.notOk(s.has(1))
  })

  t.test('rejects a max that is not a positive integer', async (t) => {
    for (const max of [0, -1, 1.5, NaN, Infinity]) t.throws(() => new LruSet(max), RangeError, String(max))
  })

  t.test('matches a reference model under random operations (property)', async (t) => {
    type Op = { op: 'add' | 'has' | 'delete'; k: number } | { op: 'clear' }
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 10,
        arbitrary: fc.record({
          op: fc.constantFrom('add' as const, 'has' as const, 'delete' as const),
          k: fc.integer({ min: 0, max: 15 }),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(opArb, { maxLength: 200 }), (max, ops) => {
        const s = new LruSet<number>(max)
        let model: number[] = [] // least recent first
        const touch = (k: number): void => {
          model = model.filter((x) => x !== k)
          model.push(k)
        }
        for (const o of ops) {
          if (o.op === 'add') {
            s.add(o.k)
            touch(o.k)
            if (model.length > max) model.shift()
          } else if (o.op === 'has') {
            const expected = model.includes(o.k)
            if (expected) touch(o.k)
            if (s.has(o.k) !== expected) return false
          } else if (o.op === 'delete') {
            const expected = model.includes(o.k)
            model = model.filter((x) => x !== o.k)
            if (s.delete(o.k) !== expected) return false
          } else {
            s.clear()
            model = []
          }
          if (s.size !== model.length || s.size > max) return false
        }
        return true
      }),
    )
    t.pass('LruSet agrees with the model')
  })
})
