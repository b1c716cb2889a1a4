import t from 'tap'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import type { Worker } from 'node:worker_threads'
import { sha256 } from '../../../../protocol/wire/hash.js'
import { hashMeetsTarget, headerHash, targetFromLeadingZeroBits, workForTarget } from '../../../../node/consensus/pow.js'
import { PowSearcher, PowSearchError, splitRange } from '../../../../node/consensus/work-search.js'

const TWO_POW_53 = 2 ** 53
const TWO_POW_256 = 1n << 256n
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })

// Independent of the code under test: BigInt maths and protocol/hash's sha256.
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))
const toBytes32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')
function referenceHash(prefix: Uint8Array, nonce: number): Buffer {
  const n = Buffer.alloc(8)
  n.writeBigUInt64BE(BigInt(nonce))
  return sha256(prefix, n)
}
function firstSolution(prefix: Uint8Array, target: Uint8Array, start: number, end: number): number | null {
  const limit = big(target)
  for (let nonce = start; nonce < end; nonce++) if (big(referenceHash(prefix, nonce)) <= limit) return nonce
  return null
}

/** Liveness bound only (not a speed assertion): rejects if the promise hangs. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, hang]).finally(() => clearTimeout(timer))
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const IMPOSSIBLE = Buffer.alloc(32) // only an all-zero hash would do

t.test('hashMeetsTarget', async (t) => {
  const target = targetFromLeadingZeroBits(16)
  t.ok(hashMeetsTarget(Buffer.from(target), target), 'equal meets')
  t.notOk(hashMeetsTarget(toBytes32(big(target) + 1n), target), 'one more does not')
  t.ok(hashMeetsTarget(toBytes32(big(target) - 1n), target), 'one less does')
  t.ok(hashMeetsTarget(Buffer.alloc(32), Buffer.alloc(32)))
  t.notOk(hashMeetsTarget(Buffer.alloc(32, 0xff), Buffer.alloc(32, 0xfe)))
  t.throws(() => hashMeetsTarget(Buffer.alloc(31), target), RangeError)
  t.throws(() => hashMeetsTarget(target, Buffer.alloc(33)), RangeError)
  fc.assert(fc.property(bytes32, bytes32, (h, g) => hashMeetsTarget(h, g) === big(h) <= big(g)))
  // Pairs sharing a long common prefix: the plain random case decides on byte 0.
  fc.assert(
    fc.property(bytes32, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 255 }), (h, at, b) => {
      const g = Uint8Array.from(h)
      g[at] = b
      return hashMeetsTarget(h, g) === big(h) <= big(g) && hashMeetsTarget(g, h) === big(g) <= big(h)
    }),
  )
})

t.test('workForTarget', async (t) => {
  t.equal(workForTarget(Buffer.alloc(32, 0xff)), 1n)
  t.equal(workForTarget(targetFromLeadingZeroBits(16)), 65536n)
  t.equal(workForTarget(targetFromLeadingZeroBits(16)), TWO_POW_256 / (big(targetFromLeadingZeroBits(16)) + 1n))
  t.equal(workForTarget(Buffer.alloc(32)), TWO_POW_256)
  t.equal(workForTarget(toBytes32(2n)), TWO_POW_256 / 3n)
  t.throws(() => workForTarget(Buffer.alloc(20)), RangeError)
  fc.assert(
    fc.property(bytes32, (target) => {
      const w = workForTarget(target)
      const d = big(target) + 1n
      return w * d <= TWO_POW_256 && (w + 1n) * d > TWO_POW_256 // exactly the floor
    }),
  )
  fc.assert(
    fc.property(bytes32, bytes32, (a, b) => {
      const [lo, hi] = big(a) <= big(b) ? [a, b] : [b, a]
      return workForTarget(lo) >= workForTarget(hi)
    }),
  )
  for (let bits = 1; bits <= 256; bits++) {
    if (workForTarget(targetFromLeadingZeroBits(bits)) <= workForTarget(targetFromLeadingZeroBits(bits - 1))) {
      t.fail(`work does not grow from ${bits - 1} to ${bits} zero bits`)
    }
  }
})

t.test('targetFromLeadingZeroBits', async (t) => {
  t.equal(targetFromLeadingZeroBits(16).toString('hex'), '0000' + 'ff'.repeat(30))
  t.equal(targetFromLeadingZeroBits(0).toString('hex'), 'ff'.repeat(32))
  t.equal(targetFromLeadingZeroBits(3).toString('hex'), '1f' + 'ff'.repeat(31))
  t.equal(targetFromLeadingZeroBits(256).toString('hex'), '00'.repeat(32))
  for (let bits = 0; bits <= 256; bits++) {
    if (big(targetFromLeadingZeroBits(bits)) !== (1n << BigInt(256 - bits)) - 1n) t.fail(`wrong target for ${bits} bits`)
  }
  for (const bad of [-1, 257, 1.5, NaN]) t.throws(() => targetFromLeadingZeroBits(bad), RangeError)
})

t.test('headerHash', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.maxSafeNat(), (prefix, nonce) =>
      headerHash(prefix, nonce).equals(referenceHash(prefix, nonce)),
    ),
  )
  const prefix = Buffer.from('abc')
  t.same(headerHash(prefix, 2 ** 32 + 5), sha256(prefix, Buffer.from('0000000100000005', 'hex')), 'nonce is u64 big-endian')
  for (const bad of [-1, TWO_POW_53, 1.5, NaN]) t.throws(() => headerHash(prefix, bad), RangeError)
})

t.test('splitRange', async (t) => {
  t.same(splitRange(10, 5, 2), [
    { start: 10, end: 13 },
    { start: 13, end: 15 },
  ])
  fc.assert(
    fc.property(fc.maxSafeNat(), fc.integer({ min: 1, max: 64 }), (start, parts) => {
      const total = TWO_POW_53 - start // the longest possible range from start
      if (total < parts) return true
      const slices = splitRange(start, total, parts)
      const sizes = slices.map((s) => s.end - s.start)
      return (
        slices[0]!.start === start &&
        slices[parts - 1]!.end === TWO_POW_53 &&
        slices.every((s, i) => i === 0 || s.start === slices[i - 1]!.end) &&
        Math.max(...sizes) - Math.min(...sizes) <= 1
      )
    }),
  )
})

t.test('PowSearcher', async (t) => {
  const one = new PowSearcher()
  const two = new PowSearcher({ threads: 2 })
  t.teardown(() => Promise.all([one.close(), two.close()]))
  // Warm up: both threads of each searcher are running afterwards.
  await within(
    Promise.all([one, two].map((s) => s.search({ prefix: Buffer.alloc(8), target: targetFromLeadingZeroBits(4), startNonce: 0 }))),
    30_000,
    'warm-up',
  )

  t.test('finds a valid nonce for an easy target', async (t) => {
    const prefix = randomBytes(143)
    const target = targetFromLeadingZeroBits(8)
    const r = await within(one.search({ prefix, target, startNonce: 1000 }), 10_000, 'search')
    if (!r.found) return t.fail(`expected a solution, got ${r.reason}`)
    t.ok(r.nonce >= 1000)
    t.same(r.hash, referenceHash(prefix, r.nonce), 'hash is sha256(prefix ‖ u64be(nonce))')
    t.ok(big(referenceHash(prefix, r.nonce)) <= big(target), 'meets the target')
    t.equal(r.nonce, firstSolution(prefix, target, 1000, r.nonce + 1), 'first solution from startNonce')
    t.equal(r.hashes, r.nonce - 1000 + 1)
  })

  t.test('one thread returns exactly the first solution in range', async () => {
    const start = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 2 ** 32 - 1500, max: 2 ** 32 + 10 }), // crosses the nonce's high word
      fc.integer({ min: TWO_POW_53 - 2500, max: TWO_POW_53 - 1 }), // clipped at 2^53
      fc.maxSafeNat(),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 160 }),
        start,
        fc.integer({ min: 0, max: 63 }),
        fc.boolean(),
        async (prefix, startNonce, k, below) => {
          const end = Math.min(TWO_POW_53, startNonce + 2000)
          // Target: the lowest hash among the first k+1 nonces, or one less. The
          // answer is then that nonce, or (one less) a nonce past the window
          // while the window's best ties with the target on its first 4 bytes
          // and must be rejected on the rest.
          let best = TWO_POW_256
          for (let n = startNonce; n < Math.min(end, startNonce + k + 1); n++) {
            const v = big(referenceHash(prefix, n))
            if (v < best) best = v
          }
          const target = toBytes32(below && best > 0n ? best - 1n : best)
          const expected = firstSolution(prefix, target, startNonce, end)
          const r = await within(one.search({ prefix: Buffer.from(prefix), target, startNonce, maxNonces: 2000 }), 10_000, 'search')
          if (expected === null) return !r.found && r.reason === 'exhausted' && r.hashes === end - startNonce
          return r.found && r.nonce === expected && r.hash.equals(referenceHash(prefix, expected)) && r.hashes === expected - startNonce + 1
        },
      ),
      { numRuns: 40 },
    )
  })

  t.test('the nonce high word is carried at 2^32', async (t) => {
    // Hashing nonce 2^32 with a stale high word would report a wrong hash,
    // or miss the solution that only 2^32 gives here.
    for (let i = 0; i < 20; i++) {
      const prefix = randomBytes(143)
      const target = referenceHash(prefix, 2 ** 32)
      const expected = firstSolution(prefix, target, 2 ** 32 - 1, 2 ** 32 + 1)
      const r = await within(one.search({ prefix, target, startNonce: 2 ** 32 - 1, maxNonces: 2 }), 10_000, 'search')
      if (!(r.found && r.nonce === expected && r.hash.equals(referenceHash(prefix, r.nonce)))) t.fail(`wrong result ${JSON.stringify(r)}`)
    }
    t.pass('20 prefixes')
  })

  t.test('two threads split the range', async (t) => {
    const r = await within(two.search({ prefix: randomBytes(143), target: IMPOSSIBLE, startNonce: 7, maxNonces: 10_001 }), 10_000, 'search')
    t.same(r, { found: false, reason: 'exhausted', hashes: 10_001, threadHashes: [5001, 5000] }, 'each thread hashed its own half')

    // A solution is the first one in the slice of the thread that found it.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 143 }), fc.maxSafeNat(), async (prefix, startNonce) => {
        const target = targetFromLeadingZeroBits(9)
        const r = await within(two.search({ prefix: Buffer.from(prefix), target, startNonce, maxNonces: 4000 }), 10_000, 'search')
        const end = Math.min(TWO_POW_53, startNonce + 4000)
        const slices = splitRange(startNonce, end - startNonce, Math.min(2, end - startNonce))
        if (!r.found) return r.reason === 'exhausted' && slices.every((s) => firstSolution(prefix, target, s.start, s.end) === null)
        const i = slices.findIndex((s) => r.nonce >= s.start && r.nonce < s.end)
        return (
          i >= 0 &&
          r.nonce === firstSolution(prefix, target, slices[i]!.start, slices[i]!.end) &&
          r.threadHashes[i] === r.nonce - slices[i]!.start + 1 &&
          r.hashes === r.threadHashes.reduce((a, b) => a + b, 0)
        )
      }),
      { numRuns: 15 },
    )
  })

  t.test('abort stops a search and no stale result leaks into the next job', async (t) => {
    for (const s of [one, two]) {
      const pending = s.search({ prefix: randomBytes(143), target: IMPOSSIBLE, startNonce: 0 })
      await sleep(100)
      t.ok(s.hashRate > 0, 'hashRate reflects the running search')
      s.abort()
      const r = await within(pending, 2000, 'aborted search')
      t.equal(r.found, false)
      t.match(r, { reason: 'aborted' })
      t.equal(
        r.hashes,
        r.threadHashes.reduce((a, b) => a + b, 0),
      )

      const prefix = randomBytes(143)
      const next = await within(s.search({ prefix, target: targetFromLeadingZeroBits(8), startNonce: 0 }), 10_000, 'next search')
      t.ok(
        next.found && next.hash.equals(referenceHash(prefix, next.nonce)) && hashMeetsTarget(next.hash, targetFromLeadingZeroBits(8)),
        'next job gets its own result',
      )
    }
    t.equal(one.abort(), undefined, 'abort with nothing pending is a no-op')
  })

  t.test('a new search supersedes a running one', async (t) => {
    for (let i = 0; i < 10; i++) {
      const oldPrefix = randomBytes(143)
      const newPrefix = randomBytes(143)
      // The old job is mid-loop (20 zero bits take ~1 s) when it is replaced.
      const old = two.search({ prefix: oldPrefix, target: targetFromLeadingZeroBits(20), startNonce: 0 })
      await sleep(i * 3)
      const fresh = two.search({ prefix: newPrefix, target: targetFromLeadingZeroBits(6), startNonce: 0 })
      const [a, b] = await within(Promise.all([old, fresh]), 10_000, 'searches')
      // The old job may legitimately have found its own solution first.
      if (a.found)
        t.ok(
          hashMeetsTarget(headerHash(oldPrefix, a.nonce), targetFromLeadingZeroBits(20)) && a.hash.equals(headerHash(oldPrefix, a.nonce)),
        )
      else t.equal(a.reason, 'aborted')
      t.ok(
        b.found && b.hash.equals(referenceHash(newPrefix, b.nonce)) && hashMeetsTarget(b.hash, targetFromLeadingZeroBits(6)),
        'new job result is for the new prefix',
      )
    }
    // The replaced job often finds its easy solution just after being
    // replaced; that late answer must not stop or settle the new job.
    let lateFinds = 0
    for (let i = 0; i < 40; i++) {
      const old = two.search({ prefix: randomBytes(143), target: targetFromLeadingZeroBits(11), startNonce: 0 })
      await sleep(i % 4)
      const fresh = two.search({ prefix: randomBytes(143), target: IMPOSSIBLE, startNonce: 0, maxNonces: 20_000 })
      const [a, b] = await within(Promise.all([old, fresh]), 10_000, 'searches')
      if (a.found) lateFinds++
      if (b.found || b.reason !== 'exhausted' || b.hashes !== 20_000) t.fail(`new job disturbed: ${JSON.stringify(b)}`)
    }
    t.comment(`${lateFinds}/40 replaced jobs reported a solution`)
    t.pass('new jobs ran to exhaustion')
  })

  t.test('maxNonces and maxMs', async (t) => {
    const prefix = randomBytes(143)
    t.same(await one.search({ prefix, target: IMPOSSIBLE, startNonce: 5, maxNonces: 3000 }), {
      found: false,
      reason: 'exhausted',
      hashes: 3000,
      threadHashes: [3000],
    })
    t.same(await two.search({ prefix, target: IMPOSSIBLE, startNonce: 5, maxNonces: 0 }), {
      found: false,
      reason: 'exhausted',
      hashes: 0,
      threadHashes: [],
    })
    t.same(await two.search({ prefix, target: IMPOSSIBLE, startNonce: TWO_POW_53 - 1, maxNonces: 10 }), {
      found: false,
      reason: 'exhausted',
      hashes: 1,
      threadHashes: [1],
    })
    const r = await within(two.search({ prefix, target: IMPOSSIBLE, startNonce: 0, maxMs: 100 }), 2000, 'timed search')
    t.match(r, { found: false, reason: 'timeout' })
  })

  t.test('rejects invalid jobs with a typed error', async (t) => {
    const ok = { prefix: Buffer.alloc(10), target: targetFromLeadingZeroBits(8), startNonce: 0 }
    const bad: unknown[] = [
      null,
      { ...ok, prefix: 'abc' },
      { ...ok, target: Buffer.alloc(31) },
      { ...ok, startNonce: -1 },
      { ...ok, startNonce: TWO_POW_53 },
      { ...ok, startNonce: 0.5 },
      { ...ok, maxNonces: NaN },
      { ...ok, maxNonces: -3 },
      { ...ok, maxMs: -1 },
      { ...ok, maxMs: Infinity },
    ]
    for (const job of bad) {
      await t.rejects(one.search(job as never), { name: 'PowSearchError', code: 'INVALID_JOB' }, JSON.stringify(job))
    }
    for (const threads of [0, -1, 1.5, 1000]) {
      t.throws(() => new PowSearcher({ threads }), { name: 'PowSearchError', code: 'INVALID_OPTIONS' })
    }
  })

  t.test('a crashed thread fails the search and is replaced', async (t) => {
    const s = new PowSearcher({ threads: 2 })
    t.teardown(() => s.close())
    const pending = s.search({ prefix: randomBytes(143), target: IMPOSSIBLE, startNonce: 0 })
    await sleep(50)
    // Reach in to kill a real worker thread: nothing public can crash one.
    const workers = (s as unknown as { workers: (Worker | null)[] }).workers
    await workers[1]!.terminate()
    const err = await within(
      pending.then(
        () => null,
        (e: unknown) => e,
      ),
      2000,
      'crashed search',
    )
    t.ok(err instanceof PowSearchError && err.code === 'WORKER_CRASHED', 'rejects with WORKER_CRASHED')
    const prefix = randomBytes(143)
    const r = await within(s.search({ prefix, target: IMPOSSIBLE, startNonce: 0, maxNonces: 20_000 }), 30_000, 'search after crash')
    t.same(r, { found: false, reason: 'exhausted', hashes: 20_000, threadHashes: [10_000, 10_000] }, 'both threads work again')
  })

  t.test('close', async (t) => {
    const s = new PowSearcher({ threads: 2 })
    const pending = s.search({ prefix: randomBytes(143), target: IMPOSSIBLE, startNonce: 0 })
    await within(s.close(), 5000, 'close')
    t.match(await pending, { found: false, reason: 'aborted' }, 'a pending search resolves aborted')
    await t.rejects(s.search({ prefix: Buffer.alloc(1), target: IMPOSSIBLE, startNonce: 0 }), { code: 'CLOSED' })
    await s.close() // idempotent
    t.equal(s.hashRate, 0)
  })
})
