import t from 'tap'
import fc from 'fast-check'
import {
  RECORD_ENTRY_BYTES,
  RECORD_HASH_BYTES,
  RECORD_INPUT_BYTES,
  RecordHasher,
  proofRecord,
  recordDistance,
  recordInput,
} from '../../../../protocol/chain/proof-record.js'

const FP = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')
const PK = Buffer.from('02a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex')
const record = fc.uint8Array({ minLength: RECORD_HASH_BYTES, maxLength: RECORD_HASH_BYTES })

/** A 24-byte record holding `value` as a big-endian integer. */
function recordOf(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(RECORD_HASH_BYTES * 2, '0'), 'hex')
}

t.test('the record layout is fingerprint ‖ key ‖ u64be nonce, 57 bytes', async (t) => {
  t.equal(RECORD_INPUT_BYTES, 57)
  t.equal(recordInput(FP, PK, 0x0102_0304_0506).toString('hex'), FP.toString('hex') + PK.toString('hex') + '0000010203040506')
})

// Pinned from @noble/hashes: a change to the layout or the hash shows here first.
t.test('proofRecord of a known identity and nonce', async (t) => {
  t.equal(proofRecord(FP, PK, 0).toString('hex'), '16a5076e8df2e9bc7d208d508f9d5da20d2193a172530770')
  t.equal(proofRecord(FP, PK, Number.MAX_SAFE_INTEGER).toString('hex'), 'da3c4aa9e9ac0bbde0df1484c091199a6bca21ab0345a76a')
  t.equal(proofRecord(FP, PK, 0).length, RECORD_HASH_BYTES)
})

t.test('proofRecord and RecordHasher give the same record', async (t) => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (nonce) => {
      const out = Buffer.alloc(RECORD_HASH_BYTES)
      new RecordHasher(FP, PK).hashInto(nonce, out)
      t.equal(out.toString('hex'), proofRecord(FP, PK, nonce).toString('hex'))
    }),
    { numRuns: 200 },
  )
})

t.test('recordDistance is zero on equal records and symmetric', async (t) => {
  fc.assert(
    fc.property(record, record, (a, b) => {
      t.equal(recordDistance(a, a), 0n)
      t.equal(recordDistance(a, b), recordDistance(b, a))
      t.equal(recordDistance(a, b) === 0n, Buffer.from(a).equals(Buffer.from(b)))
    }),
    { numRuns: 200 },
  )
})

t.test('recordDistance reads both as 192-bit big-endian integers', async (t) => {
  t.equal(recordDistance(recordOf(0x100n), recordOf(0xffn)), 1n, 'a borrow across the last two bytes')
  t.equal(recordDistance(recordOf(0n), Buffer.alloc(RECORD_HASH_BYTES, 0xff)), (1n << 192n) - 1n)
  const high = Buffer.alloc(RECORD_HASH_BYTES)
  high[0] = 1
  t.equal(recordDistance(high, recordOf(0n)), 1n << 184n, 'the first byte is the most significant')
  t.equal(recordDistance(recordOf(5n), recordOf(3n)), 2n)
})

t.test('recordDistance ignores challenge bytes past the first 24', async (t) => {
  const challenge = Buffer.concat([recordOf(7n), Buffer.alloc(8, 0xff)])
  t.equal(recordDistance(recordOf(10n), challenge), 3n)
})

t.test('recordDistance refuses a record or challenge shorter than 24 bytes', async (t) => {
  t.throws(() => recordDistance(Buffer.alloc(23), Buffer.alloc(32)), RangeError)
  t.throws(() => recordDistance(Buffer.alloc(24), Buffer.alloc(0)), RangeError)
})

t.test('recordInput and RecordHasher refuse a wrong-sized identity', async (t) => {
  for (const [fp, pk] of [
    [Buffer.alloc(15), PK],
    [Buffer.alloc(17), PK],
    [FP, Buffer.alloc(32)],
    [FP, Buffer.alloc(65)],
  ] as const) {
    t.throws(() => recordInput(fp, pk, 0), RangeError)
    t.throws(() => proofRecord(fp, pk, 0), RangeError)
    t.throws(() => new RecordHasher(fp, pk), RangeError)
  }
})

t.test('a nonce outside [0, 2^53-1] is refused everywhere', async (t) => {
  const hasher = new RecordHasher(FP, PK)
  const out = Buffer.alloc(RECORD_ENTRY_BYTES * 2)
  for (const nonce of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number]) {
    t.throws(() => recordInput(FP, PK, nonce), RangeError, String(nonce))
    t.throws(() => hasher.hashInto(nonce, out), RangeError, String(nonce))
    t.throws(() => hasher.fillEntries(nonce, 1, out), RangeError, String(nonce))
  }
  t.throws(() => hasher.fillEntries(Number.MAX_SAFE_INTEGER, 2, out), RangeError, 'the run would pass 2^53-1')
})

t.test('hashInto and fillEntries refuse an output they would overrun, and write nothing', async (t) => {
  const hasher = new RecordHasher(FP, PK)
  const out = Buffer.alloc(RECORD_ENTRY_BYTES * 2, 0xee)
  t.throws(() => hasher.hashInto(0, Buffer.alloc(RECORD_HASH_BYTES - 1)), RangeError)
  t.throws(() => hasher.hashInto(0, out, out.length - RECORD_HASH_BYTES + 1), RangeError)
  t.throws(() => hasher.hashInto(0, out, -1), RangeError)
  t.throws(() => hasher.hashInto(0, out, 0.5), RangeError)
  t.throws(() => hasher.fillEntries(0, 3, out), RangeError)
  t.throws(() => hasher.fillEntries(0, 2, out, 1), RangeError)
  t.throws(() => hasher.fillEntries(0, -1, out), RangeError)
  t.throws(() => hasher.fillEntries(0, 1.5, out), RangeError)
  t.ok(out.every((b) => b === 0xee))
  hasher.fillEntries(0, 0, Buffer.alloc(0))
  t.pass('zero entries into an empty buffer is fine')
})
