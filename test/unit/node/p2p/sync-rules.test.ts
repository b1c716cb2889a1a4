// Pure P2P sync rules: block locators, fork heights, GET_BLOCKS serving rules
// and BLOCKS batch sizing. OrphanPool is in orphans.test.ts; the LRU set and
// the token bucket they use are in test/unit/lib/.
import t from 'tap'
import fc from 'fast-check'
import {
  BLOCK_BIN_HEADER_BYTES,
  BLOCKS_PAYLOAD_OVERHEAD_BYTES,
  fitBlocks,
  forkHeight,
  heightsToServe,
  locatorHeights,
} from '../../../../node/p2p/sync-rules.js'
import {
  MAX_BLOCK_BYTES,
  MAX_BLOCKS_PER_MESSAGE,
  MAX_LOCATOR,
  MAX_P2P_PAYLOAD_BYTES,
  encodeMessage,
  p2pCatalogue,
} from '../../../../protocol/chain/messages.js'

t.test('locatorHeights', async (t) => {
  t.test('small tips', async (t) => {
    t.same(locatorHeights(0), [0])
    t.same(locatorHeights(1), [1, 0])
    t.same(locatorHeights(5), [5, 4, 3, 2, 1, 0])
    t.same(locatorHeights(9), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    t.same(locatorHeights(10), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    t.same(locatorHeights(11), [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 0])
    t.same(locatorHeights(12), [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 1, 0])
    t.same(locatorHeights(100), [100, 99, 98, 97, 96, 95, 94, 93, 92, 91, 89, 85, 77, 61, 29, 0])
  })

  t.test('a big tip', async (t) => {
    const tip = 1_000_000
    const hs = locatorHeights(tip)
    t.same(hs.slice(0, 14), [
      tip,
      tip - 1,
      tip - 2,
      tip - 3,
      tip - 4,
      tip - 5,
      tip - 6,
      tip - 7,
      tip - 8,
      tip - 9,
      tip - 11,
      tip - 15,
      tip - 23,
      tip - 39,
    ])
    t.equal(hs.at(-1), 0)
    t.ok(hs.length <= MAX_LOCATOR)
    t.ok(hs.length < 40, `logarithmic size (${hs.length})`)
  })

  t.test('the largest safe tip still fits in MAX_LOCATOR', async (t) => {
    const hs = locatorHeights(Number.MAX_SAFE_INTEGER)
    t.ok(hs.length <= MAX_LOCATOR, `${hs.length} entries`)
    t.equal(hs[0], Number.MAX_SAFE_INTEGER)
    t.equal(hs.at(-1), 0)
    t.ok(hs.every(Number.isSafeInteger))
  })

  t.test('properties', async (t) => {
    const tipArb = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
    fc.assert(
      fc.property(tipArb, (tip) => {
        const hs = locatorHeights(tip)
        if (hs[0] !== tip || hs.at(-1) !== 0 || hs.length > MAX_LOCATOR) return false
        for (let i = 1; i < hs.length; i++) if (!(hs[i]! < hs[i - 1]!) || hs[i]! < 0) return false
        // The first 10 entries (or all of them, for a short chain) step by one.
        const dense = Math.min(10, tip + 1)
        for (let i = 1; i < dense; i++) if (hs[i] !== tip - i) return false
        // After that each gap doubles; only the final jump to genesis may be shorter.
        const gaps = hs.slice(1).map((h, i) => hs[i]! - h)
        for (let i = 9; i < gaps.length - 1; i++) if (gaps[i] !== 2 ** (i - 8)) return false
        const last = gaps.length - 1
        if (last >= 9 && gaps[last]! > 2 ** (last - 8)) return false
        return true
      }),
      { numRuns: 500 },
    )
    t.pass('locator properties hold')
  })

  t.test('rejects a bad tip height', async (t) => {
    for (const h of [-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) t.throws(() => locatorHeights(h), RangeError, String(h))
  })
})

t.test('forkHeight', async (t) => {
  const chain = (prefix: string, n: number): string[] => Array.from({ length: n + 1 }, (_, h) => `${prefix}${h}`)
  const ours = chain('a', 100)
  const onOurs = new Map(ours.map((hash, h) => [hash, h]))
  const lookup = (hash: string): number | undefined => onOurs.get(hash)

  t.test('match at various positions', async (t) => {
    t.equal(forkHeight([ours[100]!, ours[99]!], lookup), 100, 'first entry: peer is at our tip')
    t.equal(forkHeight(['x1', 'x2', ours[60]!, ours[59]!], lookup), 60, 'first match wins')
    t.equal(forkHeight(['x1', ours[10]!, ours[90]!], lookup), 10, "order is the locator's, not the highest height")
    t.equal(forkHeight(['x1', 'x2', ours[0]!], lookup), 0, 'last entry')
  })

  t.test('no match, empty locator or only genesis gives 0', async (t) => {
    t.equal(forkHeight(['x1', 'x2', 'x3'], lookup), 0)
    t.equal(forkHeight([], lookup), 0)
    t.equal(forkHeight([ours[0]!], lookup), 0)
  })

  t.test('a peer on a fork: the highest shared locator height (property)', async (t) => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 300 }), (shared, extra) => {
        // The peer shares our blocks up to `shared`, then has its own `extra` blocks.
        const peerTip = shared + extra
        const theirs = (h: number): string => (h <= shared ? ours[h]! : `b${h}`)
        const heights = locatorHeights(peerTip)
        const got = forkHeight(heights.map(theirs), lookup)
        return got === Math.max(...heights.filter((h) => h <= shared))
      }),
    )
    t.pass('fork point found')
  })
})

t.test('heightsToServe', async (t) => {
  t.same(heightsToServe(5, 10, 500), [6, 7, 8, 9, 10])
  t.same(heightsToServe(5, 10, 2), [6, 7], 'max bounds the count')
  t.same(heightsToServe(-1, 2, 500), [0, 1, 2], '-1 starts at genesis')
  t.same(heightsToServe(10, 10, 500), [], 'peer already at our tip')
  t.same(heightsToServe(12, 10, 500), [], 'from above tip')
  t.same(heightsToServe(0, 10, 0), [], 'max 0')
  t.same(heightsToServe(0, 10, -3), [], 'negative max')
  t.equal(heightsToServe(0, 10_000, 10_000).length, MAX_BLOCKS_PER_MESSAGE, 'never more than one BLOCKS message carries')
  for (const [from, tip, max] of [
    [-2, 5, 1],
    [1.5, 5, 1],
    [0, -1, 1],
    [0, 5, NaN],
    [0, NaN, 1],
  ] as const) {
    t.throws(() => heightsToServe(from, tip, max), RangeError, `${from} ${tip} ${max}`)
  }

  t.test('property: consecutive from from+1, within tip and max', async (t) => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1, max: 2000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 600 }),
        (from, tip, max) => {
          const hs = heightsToServe(from, tip, max)
          const expected = Math.max(0, Math.min(max, MAX_BLOCKS_PER_MESSAGE, tip - from))
          return hs.length === expected && hs.every((h, i) => h === from + 1 + i && h <= tip && h >= 0)
        },
      ),
    )
    t.pass('bounds hold')
  })
})

t.test('fitBlocks', async (t) => {
  const realPayload = (sizes: readonly number[]): number =>
    p2pCatalogue.encodePayload({ type: 'BLOCKS', blocks: sizes.map((n) => Buffer.alloc(n, 7)) }).payload.length

  t.test('simple cases', async (t) => {
    t.equal(fitBlocks([], 1000), 0)
    t.equal(fitBlocks([100, 100, 100], 1000), 3)
    t.equal(fitBlocks([100, 100, 100], BLOCKS_PAYLOAD_OVERHEAD_BYTES + 2 * 105), 2, 'exactly two by our accounting')
    t.equal(fitBlocks([100, 100, 100], BLOCKS_PAYLOAD_OVERHEAD_BYTES + 2 * 105 - 1), 1)
    t.equal(fitBlocks([2000, 10], 1000), 0, 'the first does not fit: nothing, even if a later one would')
    t.equal(fitBlocks([500, 2000, 10], 1000), 1, 'stops at the first that does not fit (blocks stay in order)')
    t.equal(fitBlocks(new Array(1000).fill(0), 1_000_000), MAX_BLOCKS_PER_MESSAGE, 'never more than the message allows')
    t.throws(() => fitBlocks([-1], 1000), RangeError)
    t.throws(() => fitBlocks([1.5], 1000), RangeError)
  })

  t.test('at least one whenever the first fits by the worst-case accounting, else none (property)', async (t) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 5000 })),
        fc.integer({ min: 0, max: 20_000 }),
        (firstSize, rest, budget) => {
          const n = fitBlocks([firstSize, ...rest], budget)
          const firstFits = BLOCKS_PAYLOAD_OVERHEAD_BYTES + BLOCK_BIN_HEADER_BYTES + firstSize <= budget
          return firstFits ? n >= 1 : n === 0
        },
      ),
    )
    t.pass('first block rule holds')
  })

  t.test('the real BLOCKS payload never exceeds the budget (property)', async (t) => {
    // Sizes straddle the bin8/bin16/bin32 boundaries; counts straddle fixarray/array16.
    const sizeArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 65_500, max: 65_600 }))
    fc.assert(
      fc.property(fc.array(sizeArb, { maxLength: 40 }), fc.integer({ min: 0, max: 400_000 }), (sizes, budget) => {
        const n = fitBlocks(sizes, budget)
        if (n === 0) return true
        const chosen = sizes.slice(0, n)
        if (realPayload(chosen) > budget) return false
        encodeMessage(1, { type: 'BLOCKS', blocks: chosen.map((k) => Buffer.alloc(k)) }, budget) // throws FRAME_TOO_LARGE if wrong
        // Not needlessly strict: one more block would really be close to (or over) the budget.
        if (n < sizes.length) {
          const withNext = realPayload(sizes.slice(0, n + 1))
          if (withNext + 7 + 3 * (n + 1) <= budget) return false
        }
        return true
      }),
      { numRuns: 200 },
    )
    t.pass('payloads fit')
  })

  t.test('worst-case headers: bin32 blocks in an array16, budgets around the real size', async (t) => {
    const sizes = new Array(20).fill(70_000) // > 65535: bin32 headers; > 15 entries: array16 header
    const real = sizes.map((_, i) => realPayload(sizes.slice(0, i + 1)))
    let checked = 0
    for (const exact of real) {
      for (let d = -4; d <= 4; d++) {
        const n = fitBlocks(sizes, exact + d)
        if (n > 0 && real[n - 1]! > exact + d) t.fail(`budget ${exact + d}: ${n} blocks take ${real[n - 1]} bytes`)
        checked++
      }
    }
    t.equal(checked, 180)
    t.equal(fitBlocks(sizes, real[19]! + 20), 20, 'all fit with a little room')
  })

  t.test('at the real cap: one maximum-size block per frame', async (t) => {
    const sizes = [MAX_BLOCK_BYTES, MAX_BLOCK_BYTES, MAX_BLOCK_BYTES]
    t.equal(fitBlocks(sizes, MAX_P2P_PAYLOAD_BYTES), 1)
    const frame = encodeMessage(1, { type: 'BLOCKS', blocks: [Buffer.alloc(MAX_BLOCK_BYTES)] })
    t.ok(frame.length > MAX_BLOCK_BYTES, 'encodes within the default cap')
  })
})
