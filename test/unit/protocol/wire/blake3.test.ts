import t from 'tap'
import fc from 'fast-check'
import { blake3 } from '@noble/hashes/blake3.js'
import { BLAKE3_BLOCK_BYTES, blake3Small } from '../../../../protocol/wire/blake3.js'
import {
  FINGERPRINT_BYTES,
  PUBLIC_KEY_BYTES,
  RECORD_ENTRY_BYTES,
  RECORD_HASH_BYTES,
  RecordHasher,
  recordInput,
} from '../../../../protocol/chain/proof-record.js'

/**
 * The official BLAKE3 test vectors (test_vectors.json of the BLAKE3 team)
 * that fit one block: input i % 251 for i < input_len; the first 32 bytes of
 * each case's extended `hash` output.
 */
const OFFICIAL_VECTORS: ReadonlyArray<readonly [number, string]> = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [2, '7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63'],
  [3, 'e1be4d7a8ab5560aa4199eea339849ba8e293d55ca0a81006726d184519e647f'],
  [4, 'f30f5ab28fe047904037f77b6da4fea1e27241c5d132638d8bedce9d40494f32'],
  [5, 'b40b44dfd97e7a84a996a91af8b85188c66c126940ba7aad2e7ae6b385402aa2'],
  [6, '06c4e8ffb6872fad96f9aaca5eee1553eb62aed0ad7198cef42e87f6a616c844'],
  [7, '3f8770f387faad08faa9d8414e9f449ac68e6ff0417f673f602a646a891419fe'],
  [8, '2351207d04fc16ade43ccab08600939c7c1fa70a5c0aaca76063d04c3228eaeb'],
  [63, 'e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b'],
  [64, '4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98'],
]

function vectorInput(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => i % 251))
}

function nobleRecord(fingerprint: Uint8Array, publicKey: Uint8Array, nonce: number): string {
  return Buffer.from(blake3(recordInput(fingerprint, publicKey, nonce)).subarray(0, RECORD_HASH_BYTES)).toString('hex')
}

/** Nonces that hit the word boundaries of the u64 as often as random ones. */
const nonce = fc.oneof(
  fc.maxSafeNat(),
  fc.nat({ max: 0xffff_ffff }),
  fc.integer({ min: 0xffff_fff0, max: 0x1_0000_0010 }),
  fc.integer({ min: Number.MAX_SAFE_INTEGER - 16, max: Number.MAX_SAFE_INTEGER }),
)
const fingerprint = fc.uint8Array({ minLength: FINGERPRINT_BYTES, maxLength: FINGERPRINT_BYTES })
const publicKey = fc.uint8Array({ minLength: PUBLIC_KEY_BYTES, maxLength: PUBLIC_KEY_BYTES })

t.test('blake3Small matches the official BLAKE3 test vectors up to one block', async (t) => {
  for (const [length, hex] of OFFICIAL_VECTORS) t.equal(blake3Small(vectorInput(length)).toString('hex'), hex, `input_len ${length}`)
})

t.test('blake3Small equals @noble/hashes blake3 for any input of 0..64 bytes, at any byte offset', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: BLAKE3_BLOCK_BYTES }), fc.nat({ max: 7 }), (bytes, shift) => {
      const backing = new Uint8Array(shift + bytes.length)
      backing.set(bytes, shift)
      const view = backing.subarray(shift)
      t.equal(blake3Small(view).toString('hex'), Buffer.from(blake3(bytes)).toString('hex'))
    }),
    { numRuns: 500 },
  )
})

t.test('blake3Small returns a fresh 32-byte Buffer each call', async (t) => {
  const a = blake3Small(vectorInput(3))
  const b = blake3Small(vectorInput(4))
  t.ok(Buffer.isBuffer(a))
  t.equal(a.length, 32)
  t.equal(a.toString('hex'), OFFICIAL_VECTORS[3]![1], 'a later call does not overwrite an earlier digest')
  t.equal(b.toString('hex'), OFFICIAL_VECTORS[4]![1])
})

t.test('blake3Small refuses inputs longer than one block and non-byte inputs', async (t) => {
  t.throws(() => blake3Small(new Uint8Array(65)), RangeError)
  t.throws(() => blake3Small(new Uint8Array(1024)), RangeError)
  t.throws(() => blake3Small('abc' as unknown as Uint8Array), TypeError)
  t.throws(() => blake3Small([1, 2, 3] as unknown as Uint8Array), TypeError)
})

t.test('RecordHasher.hashInto writes the first 24 bytes of BLAKE3 of the record input, and nothing else', async (t) => {
  fc.assert(
    fc.property(fingerprint, publicKey, nonce, fc.nat({ max: 40 }), (fp, pk, n, offset) => {
      const out = Buffer.alloc(offset + RECORD_HASH_BYTES + 8, 0xee)
      new RecordHasher(fp, pk).hashInto(n, out, offset)
      t.equal(out.subarray(offset, offset + RECORD_HASH_BYTES).toString('hex'), nobleRecord(fp, pk, n), `nonce ${n}`)
      t.ok(out.subarray(0, offset).every((b) => b === 0xee) && out.subarray(offset + RECORD_HASH_BYTES).every((b) => b === 0xee))
    }),
    { numRuns: 300 },
  )
})

t.test('one RecordHasher hashes many nonces in any order, each as if alone', async (t) => {
  fc.assert(
    fc.property(fingerprint, publicKey, fc.array(nonce, { minLength: 1, maxLength: 20 }), (fp, pk, nonces) => {
      const hasher = new RecordHasher(fp, pk)
      const out = Buffer.alloc(RECORD_HASH_BYTES)
      for (const n of nonces) {
        hasher.hashInto(n, out)
        t.equal(out.toString('hex'), nobleRecord(fp, pk, n))
      }
    }),
    { numRuns: 100 },
  )
})

t.test('RecordHasher.fillEntries writes record ‖ u64be nonce for a run of nonces, across the 2^32 carry', async (t) => {
  const start = fc.oneof(
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 40 }),
    fc.integer({ min: 0xffff_ffe0, max: 0xffff_ffff }),
    fc.integer({ min: Number.MAX_SAFE_INTEGER - 40, max: Number.MAX_SAFE_INTEGER - 40 }),
  )
  fc.assert(
    fc.property(fingerprint, publicKey, start, fc.nat({ max: 40 }), fc.nat({ max: 9 }), (fp, pk, first, count, offset) => {
      const out = Buffer.alloc(offset + count * RECORD_ENTRY_BYTES + 5, 0xee)
      new RecordHasher(fp, pk).fillEntries(first, count, out, offset)
      for (let i = 0; i < count; i++) {
        const at = offset + i * RECORD_ENTRY_BYTES
        t.equal(out.subarray(at, at + RECORD_HASH_BYTES).toString('hex'), nobleRecord(fp, pk, first + i))
        t.equal(out.readBigUInt64BE(at + RECORD_HASH_BYTES), BigInt(first + i))
      }
      const end = offset + count * RECORD_ENTRY_BYTES
      t.ok(out.subarray(0, offset).every((b) => b === 0xee) && out.subarray(end).every((b) => b === 0xee))
    }),
    { numRuns: 200 },
  )
})

t.test('fillEntries reaches the last safe nonce exactly', async (t) => {
  const fp = Buffer.alloc(FINGERPRINT_BYTES, 1)
  const pk = Buffer.alloc(PUBLIC_KEY_BYTES, 2)
  const out = Buffer.alloc(2 * RECORD_ENTRY_BYTES)
  new RecordHasher(fp, pk).fillEntries(Number.MAX_SAFE_INTEGER - 1, 2, out)
  t.equal(out.readBigUInt64BE(RECORD_ENTRY_BYTES + RECORD_HASH_BYTES), BigInt(Number.MAX_SAFE_INTEGER))
  t.equal(
    out.subarray(RECORD_ENTRY_BYTES, RECORD_ENTRY_BYTES + RECORD_HASH_BYTES).toString('hex'),
    nobleRecord(fp, pk, Number.MAX_SAFE_INTEGER),
  )
})
