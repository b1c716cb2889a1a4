// The packed-key sort orders a bucket's entries exactly as a byte-wise
// comparison would, ties in the packed bits (and equal records) included.
import t from 'tap'
import fc from 'fast-check'
import { compareEntries, gatherEntries, sortedOrder } from '../../../../node/validator/pos-sort.js'

const E = 32

/** Entries sharing the top `bits` bits; `near` makes many share far more, to force ties. */
const bucketEntries = (bits: number) =>
  fc
    .record({
      prefix: fc.integer({ min: 0, max: 2 ** bits - 1 }),
      near: fc.boolean(),
      entries: fc.array(fc.uint8Array({ minLength: E, maxLength: E }), { minLength: 1, maxLength: 300, size: 'max' }),
    })
    .map(({ prefix, near, entries }) => {
      const region = Buffer.alloc(entries.length * E)
      entries.forEach((e, i) => {
        const entry = Buffer.from(e)
        if (near) entry.fill(0xab, 0, 10 + (i % 12)) // equal in the key bits, sometimes the whole record
        if (near && i % 5 === 0) entry.fill(0xab, 0, 24)
        const top = (entry.readUInt16BE(0) & (0xffff >>> bits)) | (bits === 0 ? 0 : prefix << (16 - bits))
        entry.writeUInt16BE(top & 0xffff, 0)
        entry.copy(region, i * E)
      })
      return region
    })

function referenceSort(region: Buffer): Buffer {
  const n = region.length / E
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareEntries(region, a * E, b * E))
  return Buffer.concat(idx.map((i) => region.subarray(i * E, i * E + E)))
}

for (const bits of [0, 4, 8, 16]) {
  t.test(`sorts like a byte-wise comparison (${bits} bucket bits)`, async (t) => {
    fc.assert(
      fc.property(bucketEntries(bits), (region) => {
        const n = region.length / E
        const out = Buffer.alloc(region.length)
        gatherEntries(region, sortedOrder(region, n, bits), 0, n, out)
        return out.equals(referenceSort(region))
      }),
      { numRuns: 100 },
    )
    t.pass('property held')
  })
}

t.test('gathers in pieces and from unaligned buffers alike', async (t) => {
  const backing = Buffer.alloc(100 * E + 1)
  const region = backing.subarray(1)
  for (let i = 0; i < region.length; i++) region[i] = (i * 7919) % 251
  const order = sortedOrder(region, 100, 0)
  const whole = Buffer.alloc(100 * E)
  gatherEntries(region, order, 0, 100, whole)
  const pieces = Buffer.alloc(30 * E)
  gatherEntries(region, order, 40, 70, pieces)
  t.ok(pieces.equals(whole.subarray(40 * E, 70 * E)))
  t.ok(whole.equals(referenceSort(Buffer.from(region))))
})

t.test('refuses what it cannot sort', async (t) => {
  t.throws(() => sortedOrder(Buffer.alloc(E), 2, 0), /not 2 entries/)
  t.throws(() => sortedOrder(Buffer.alloc(E), 1, 17), /bucketBits/)
})
