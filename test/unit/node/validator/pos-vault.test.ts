// The vault format's codecs: the identity page and progress slots round-trip,
// damage is told apart from "not a vault", and parameters are checked.
import t from 'tap'
import {
  checkParams,
  currentProgress,
  decodeHeader,
  decodeProgress,
  encodeHeader,
  encodeProgress,
  MAX_REGION_BYTES,
  paramsForDisk,
  VaultFormatError,
  vaultLayout,
  type VaultProgress,
} from '../../../../node/validator/pos-vault.js'
import { IDENTITY, TINY } from './pos-fixtures.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    if (err instanceof VaultFormatError) return err.code
    throw err
  }
  return undefined
}

t.test('the identity page round-trips and starts with the magic', async (t) => {
  const page = encodeHeader(TINY, IDENTITY)
  t.equal(page.toString('latin1', 0, 8), 'BKCVAULT')
  const h = decodeHeader(page)
  t.same({ buckets: h.buckets, cupSize: h.cupSize, cupsPerBucket: h.cupsPerBucket, version: h.version }, { ...TINY, version: 1 })
  t.ok(h.fingerprint.equals(IDENTITY.fingerprint))
  t.ok(h.publicKey.equals(IDENTITY.publicKey))
  t.equal(h.dataOffset, vaultLayout(TINY).dataOffset)
})

t.test('a file that is not a vault, a truncated header and a damaged one are told apart', async (t) => {
  const page = encodeHeader(TINY, IDENTITY)
  t.equal(
    code(() => decodeHeader(Buffer.from('hello world'))),
    'NOT_A_VAULT',
  )
  t.equal(
    code(() => decodeHeader(Buffer.alloc(0))),
    'NOT_A_VAULT',
  )
  t.equal(
    code(() => decodeHeader(page.subarray(0, 60))),
    'CORRUPT_HEADER',
  )
  for (const at of [9, 13, 30, 50, 85, 100]) {
    const bad = Buffer.from(page)
    bad[at]! ^= 0x10
    t.equal(
      code(() => decodeHeader(bad)),
      'CORRUPT_HEADER',
      `a flipped byte at ${at}`,
    )
  }
})

t.test('progress slots round-trip; a torn or blank one is null; the higher seq wins', async (t) => {
  const L = vaultLayout(TINY)
  const counts = Uint32Array.from({ length: 16 }, (_, i) => i * 3)
  const p: VaultProgress = { seq: 7, phase: 'fill', nextNonce: 2 ** 40 + 5, bucketsSorted: 0, counts }
  const slot = encodeProgress(L, p)
  t.equal(slot.length, L.slotBytes)
  t.same(decodeProgress(L, slot), p)
  t.equal(decodeProgress(L, Buffer.alloc(L.slotBytes)), null, 'never written')
  const torn = Buffer.from(slot)
  torn.fill(0, 30)
  t.equal(decodeProgress(L, torn), null, 'torn')
  const older = { ...p, seq: 6 }
  t.equal(currentProgress(older, p), p)
  t.equal(currentProgress(p, older), p)
  t.equal(currentProgress(null, p), p)
  t.equal(currentProgress({ ...p, seq: 0xffffffff }, { ...p, seq: 0 })?.seq, 0, 'seq wraps')
  const tooMany = Buffer.from(encodeProgress(L, { ...p, counts: new Uint32Array(16).fill(L.capacity) }))
  t.ok(decodeProgress(L, tooMany), 'counts up to capacity are fine')
})

t.test('parameters are checked with a reason', async (t) => {
  t.throws(() => checkParams({ ...TINY, buckets: 12 }), /power of two/)
  t.throws(() => checkParams({ ...TINY, buckets: 131_072 }), /power of two from 1 to 65536/)
  t.throws(() => checkParams({ ...TINY, cupSize: 0 }), /cup size/)
  t.throws(() => checkParams({ ...TINY, cupsPerBucket: 1.5 }), /cups per bucket/)
  t.throws(
    () => checkParams({ buckets: 1, cupSize: 32_768, cupsPerBucket: MAX_REGION_BYTES / (32_768 * 32) + 1 }),
    /sorted in memory; use more buckets/,
  )
  t.throws(() => checkParams({ buckets: 65_536, cupSize: 32_768, cupsPerBucket: 1 }), /cup buffers.*smaller cup size/)
  t.doesNotThrow(() => checkParams({ buckets: 1, cupSize: 1, cupsPerBucket: 1 }))
})

t.test('parameters for a disk size', async (t) => {
  t.same(paramsForDisk(10 * 1024 ** 3), { buckets: 256, cupSize: 32_768, cupsPerBucket: 40 }, "DSC's 10G")
  t.same(paramsForDisk(64 * 1024 ** 2), { buckets: 256, cupSize: 8192, cupsPerBucket: 1 }, 'smaller than a cup per bucket')
  t.throws(() => paramsForDisk(100), /cannot hold one record/)
  const L = vaultLayout(paramsForDisk(1024 ** 3))
  t.equal(L.finalBytes - L.dataOffset, 1024 ** 3)
})
