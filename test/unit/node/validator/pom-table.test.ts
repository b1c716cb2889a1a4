// Building a proof-of-memory table: entries of consecutive nonces, and an
// in-place sort that ends in the same order as a plain sort of the entries.
import t from 'tap'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { proofRecord, RECORD_ENTRY_BYTES, RecordHasher } from '../../../../protocol/chain/proof-record.js'
import { fillEntries, partitionEntries, sortEntries, splitBuckets } from '../../../../node/validator/pom-table.js'

const fingerprint = randomBytes(16)
const publicKey = Buffer.concat([Buffer.from([2]), randomBytes(32)])

/** Entries of random bytes, or of few byte values (long shared prefixes, duplicates). */
const entries = (maxLength: number) =>
  fc
    .array(
      fc.oneof(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => a.map((b) => b & 1)),
      ),
      { maxLength },
    )
    .map((list) => list.map((a) => Buffer.from(a)))

const chunks = (table: Uint8Array): Buffer[] => {
  const out: Buffer[] = []
  for (let o = 0; o < table.length; o += RECORD_ENTRY_BYTES) out.push(Buffer.from(table.subarray(o, o + RECORD_ENTRY_BYTES)))
  return out
}

t.test('fillEntries writes record ‖ u64be nonce for consecutive nonces', async (t) => {
  const hasher = new RecordHasher(fingerprint, publicKey)
  for (const start of [0, 2 ** 32 - 2, 2 ** 53 - 4]) {
    const out = new Uint8Array(5 + 3 * RECORD_ENTRY_BYTES)
    fillEntries(hasher, start, 3, out, 5)
    for (let i = 0; i < 3; i++) {
      const e = Buffer.from(out.subarray(5 + i * RECORD_ENTRY_BYTES, 5 + (i + 1) * RECORD_ENTRY_BYTES))
      t.same(e.subarray(0, 24), proofRecord(fingerprint, publicKey, start + i), `record of nonce ${start + i}`)
      t.equal(e.readUInt32BE(24) * 2 ** 32 + e.readUInt32BE(28), start + i, `nonce ${start + i}`)
    }
  }
  t.throws(() => fillEntries(hasher, 0, 2, new Uint8Array(63), 0), RangeError, 'entries that do not fit')
  t.throws(() => fillEntries(hasher, 2 ** 53 - 1, 2, new Uint8Array(64), 0), RangeError, 'nonces past 2^53-1')
  t.doesNotThrow(() => fillEntries(hasher, 2 ** 53 - 1, 1, new Uint8Array(32), 0), 'the last nonce, 2^53-1')
})

t.test('sortEntries gives the order of a plain sort, in place', async (t) => {
  fc.assert(
    fc.property(entries(400), (list) => {
      const table = Buffer.concat(list)
      sortEntries(table)
      return Buffer.concat([...list].sort(Buffer.compare)).equals(table)
    }),
    { numRuns: 300 },
  )
  t.pass('same order as Buffer.compare')
})

t.test('sortEntries sorts a range and leaves the rest alone, aligned or not', async (t) => {
  fc.assert(
    fc.property(entries(120), fc.nat(), fc.nat(), fc.boolean(), (list, a, b, unaligned) => {
      const n = list.length
      const from = n === 0 ? 0 : a % (n + 1)
      const to = from + (n === 0 ? 0 : b % (n - from + 1))
      const backing = Buffer.alloc(n * RECORD_ENTRY_BYTES + 1)
      const table = backing.subarray(unaligned ? 1 : 0, (unaligned ? 1 : 0) + n * RECORD_ENTRY_BYTES)
      Buffer.concat(list).copy(table)
      sortEntries(table, from, to)
      const expected = [...list.slice(0, from), ...list.slice(from, to).sort(Buffer.compare), ...list.slice(to)]
      return Buffer.concat(expected).equals(table)
    }),
  )
  t.pass('range sorted, the rest untouched')
})

t.test('partitionEntries groups a range by one byte and returns the bucket bounds', async (t) => {
  fc.assert(
    fc.property(entries(300), fc.integer({ min: 0, max: 31 }), (list, depth) => {
      const table = Buffer.concat(list)
      const bounds = partitionEntries(table, 0, list.length, depth)
      if (bounds.length !== 257 || bounds[0] !== 0 || bounds[256] !== list.length) return false
      for (let b = 0; b < 256; b++) {
        for (let i = bounds[b]!; i < bounds[b + 1]!; i++) if (table[i * RECORD_ENTRY_BYTES + depth] !== b) return false
      }
      // The same entries, moved.
      return Buffer.concat(chunks(table).sort(Buffer.compare)).equals(Buffer.concat([...list].sort(Buffer.compare)))
    }),
  )
  t.pass('bucketed by the byte, same entries')
})

t.test('sorting each first-byte bucket from byte 1 sorts the whole table (how the build runs)', async (t) => {
  const table = randomBytes(5000 * RECORD_ENTRY_BYTES)
  const expected = Buffer.concat(chunks(table).sort(Buffer.compare))
  const bounds = partitionEntries(table)
  for (const run of splitBuckets(bounds, 3)) for (let b = 0; b + 1 < run.length; b++) sortEntries(table, run[b]!, run[b + 1]!, 1)
  t.ok(expected.equals(table))
})

t.test('splitBuckets cuts whole buckets into contiguous, balanced runs', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(1000), { minLength: 1, maxLength: 300 }),
      fc.nat(5000),
      fc.integer({ min: 1, max: 9 }),
      (sizes, first, parts) => {
        const bounds = [first]
        for (const s of sizes) bounds.push(bounds[bounds.length - 1]! + s)
        const runs = splitBuckets(bounds, parts)
        const total = bounds[bounds.length - 1]! - first
        if (runs.length > parts) return false
        if (total === 0) return runs.length === 0
        // Together the runs are the bounds, in order, with no bucket left out.
        const joined = runs.flatMap((r, i) => (i === 0 ? r : r.slice(1)))
        const nonEmpty = (xs: number[]) => xs.filter((x, i) => i === 0 || x !== xs[i - 1])
        if (joined[0] !== first || joined[joined.length - 1] !== bounds[bounds.length - 1]) return false
        if (nonEmpty(joined).join() !== nonEmpty(bounds.slice(bounds.indexOf(joined[0]!))).join()) return false
        // No run is further from its share than the largest bucket.
        const biggest = Math.max(...sizes)
        return runs.every((r) => r[r.length - 1]! - r[0]! <= total / parts + biggest)
      },
    ),
  )
  t.pass('contiguous, covering, balanced')
})

t.test('bad ranges and depths are refused with RangeError', async (t) => {
  const table = new Uint8Array(4 * RECORD_ENTRY_BYTES)
  t.throws(() => sortEntries(new Uint8Array(33)), RangeError)
  t.throws(() => sortEntries(table, 0, 5), RangeError)
  t.throws(() => sortEntries(table, 3, 2), RangeError)
  t.throws(() => sortEntries(table, 0, 4, 33), RangeError)
  t.throws(() => partitionEntries(table, 0, 4, 32), RangeError)
  t.throws(() => splitBuckets([0, 1], 0), RangeError)
  t.throws(() => splitBuckets([0], 1), RangeError)
})
