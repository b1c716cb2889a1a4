// SortedTable: the nearest record of a sorted table, by binary search, is the
// nearest a scan of every entry finds, wherever the challenge falls.
import t from 'tap'
import fc from 'fast-check'
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, recordDistance } from '../../../../protocol/chain/proof-record.js'
import { compareEntryBytes, isSortedTable, SortedTable } from '../../../../node/validator/sorted-table.js'

const HI = 0x1_0000_0000

/** Entries from few byte values, so that records share prefixes, repeat, and sit next to each other. */
const entry = fc
  .tuple(
    fc.uint8Array({ minLength: RECORD_HASH_BYTES, maxLength: RECORD_HASH_BYTES }),
    fc.uint8Array({ minLength: RECORD_HASH_BYTES, maxLength: RECORD_HASH_BYTES }).map((a) => a.map((b) => [0, 1, 127, 255][b & 3]!)),
    fc.boolean(),
    fc.maxSafeNat(),
  )
  .map(([random, clumped, useClumped, nonce]) => {
    const e = Buffer.alloc(RECORD_ENTRY_BYTES)
    e.set(useClumped ? clumped : random, 0)
    e.writeUInt32BE(Math.floor(nonce / HI), RECORD_HASH_BYTES)
    e.writeUInt32BE(nonce >>> 0, RECORD_HASH_BYTES + 4)
    return e
  })

function sortedTable(entries: Buffer[]): Buffer {
  return Buffer.concat([...entries].sort(Buffer.compare))
}

function bruteNearest(table: Buffer, challenge: Uint8Array): bigint {
  let best = -1n
  for (let o = 0; o < table.length; o += RECORD_ENTRY_BYTES) {
    const d = recordDistance(table.subarray(o, o + RECORD_HASH_BYTES), challenge)
    if (best < 0n || d < best) best = d
  }
  return best
}

const tables = fc.array(entry, { minLength: 1, maxLength: 200 }).map(sortedTable)
/** Random, at the extremes, or next to an entry of the table. */
const challengeFor = (table: Buffer) =>
  fc.oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.constant(new Uint8Array(32)),
    fc.constant(new Uint8Array(32).fill(255)),
    fc.tuple(fc.nat(table.length / RECORD_ENTRY_BYTES - 1), fc.integer({ min: -2, max: 2 })).map(([i, delta]) => {
      const c = Buffer.from(table.subarray(i * RECORD_ENTRY_BYTES, i * RECORD_ENTRY_BYTES + RECORD_HASH_BYTES))
      c[RECORD_HASH_BYTES - 1] = Math.max(0, Math.min(255, c[RECORD_HASH_BYTES - 1]! + delta))
      return c
    }),
  )

t.test('nearest finds the distance a scan of every entry finds', async (t) => {
  fc.assert(
    fc.property(
      tables.chain((table) => fc.tuple(fc.constant(table), challengeFor(table))),
      ([table, challenge]) => {
        const found = new SortedTable(table).nearest(challenge)!
        const o = found.index * RECORD_ENTRY_BYTES
        return (
          found.distance === bruteNearest(table, challenge) &&
          found.record.equals(table.subarray(o, o + RECORD_HASH_BYTES)) &&
          found.nonce === table.readUInt32BE(o + RECORD_HASH_BYTES) * HI + table.readUInt32BE(o + RECORD_HASH_BYTES + 4) &&
          found.distance === recordDistance(found.record, challenge)
        )
      },
    ),
    { numRuns: 500 },
  )
  t.pass('nearest matches the scan')
})

t.test('a challenge below the first record gets the first, above the last gets the last', async (t) => {
  const table = Buffer.alloc(3 * RECORD_ENTRY_BYTES)
  for (let i = 0; i < 3; i++) table.fill(0x40 + i * 0x20, i * RECORD_ENTRY_BYTES, i * RECORD_ENTRY_BYTES + RECORD_HASH_BYTES)
  const st = new SortedTable(table)
  t.equal(st.nearest(Buffer.alloc(32, 0x01))!.index, 0)
  t.equal(st.lowerBound(Buffer.alloc(32, 0x01)), 0)
  t.equal(st.nearest(Buffer.alloc(32, 0xff))!.index, 2)
  t.equal(st.lowerBound(Buffer.alloc(32, 0xff)), 3, 'past the end')
  t.equal(st.nearest(table.subarray(RECORD_ENTRY_BYTES))!.distance, 0n, 'a challenge equal to a record is at distance 0')
})

t.test('lowerBound compares the record only, not the nonce', async (t) => {
  const a = Buffer.alloc(RECORD_ENTRY_BYTES, 0x10)
  a.writeUInt32BE(1, 24)
  a.writeUInt32BE(7, 28)
  const st = new SortedTable(Buffer.concat([a, Buffer.alloc(RECORD_ENTRY_BYTES, 0x20)]))
  t.equal(st.lowerBound(Buffer.alloc(RECORD_HASH_BYTES, 0x10)), 0)
  t.equal(st.nonceAt(0), HI + 7)
})

t.test('an empty table has no nearest entry', async (t) => {
  t.equal(new SortedTable(new Uint8Array(0)).nearest(Buffer.alloc(32)), null)
})

t.test('bad tables, challenges and indices are refused with RangeError', async (t) => {
  t.throws(() => new SortedTable(new Uint8Array(33)), RangeError)
  const st = new SortedTable(new Uint8Array(64))
  t.throws(() => st.nearest(Buffer.alloc(23)), RangeError, 'a challenge shorter than a record')
  t.throws(() => st.recordAt(2), RangeError)
  t.throws(() => st.nonceAt(-1), RangeError)
  const big = new Uint8Array(32).fill(0xff)
  t.throws(() => new SortedTable(big).nonceAt(0), RangeError, 'a nonce above 2^53-1')
})

t.test('isSortedTable and compareEntryBytes agree with byte order', async (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
      const table = Buffer.concat(entries)
      let sorted = true
      for (let i = 1; i < entries.length; i++) {
        const cmp = compareEntryBytes(table, (i - 1) * RECORD_ENTRY_BYTES, table, i * RECORD_ENTRY_BYTES)
        if (Math.sign(cmp) !== Buffer.compare(entries[i - 1]!, entries[i]!)) return false
        if (cmp > 0) sorted = false
      }
      return isSortedTable(table) === sorted && isSortedTable(sortedTable(entries))
    }),
  )
  t.notOk(isSortedTable(new Uint8Array(31)), 'not whole entries')
})
