// The vault lookup finds the true nearest record (checked against a scan of
// every entry), across bucket boundaries and at the ends of the range.
import t from 'tap'
import fc from 'fast-check'
import { proofRecord, recordDistance } from '../../../../protocol/chain/proof-record.js'
import { buildVault } from '../../../../node/validator/pos-build.js'
import { VaultReader, type VaultEntry } from '../../../../node/validator/pos-lookup.js'
import type { VaultParams } from '../../../../node/validator/pos-vault.js'
import { IDENTITY, TINY, interruptedVault, vaultPath } from './pos-fixtures.js'

function bruteNearest(all: readonly VaultEntry[], challenge: Buffer): bigint {
  let best = recordDistance(all[0]!.record, challenge)
  for (const e of all) {
    const d = recordDistance(e.record, challenge)
    if (d < best) best = d
  }
  return best
}

const shapes: Array<[string, VaultParams]> = [
  ['16 buckets × 4 cups × 64', TINY],
  ['4 buckets × 4 cups × 250 (several halvings)', { buckets: 4, cupSize: 250, cupsPerBucket: 4 }],
  ['256 buckets of 1 record', { buckets: 256, cupSize: 1, cupsPerBucket: 1 }],
  ['1 bucket of 1 record', { buckets: 1, cupSize: 1, cupsPerBucket: 1 }],
]

for (const [name, params] of shapes) {
  t.test(`nearest is the true nearest: ${name}`, async (t) => {
    const path = vaultPath(t)
    await buildVault({ path, identity: IDENTITY, params, threadsHash: 0 })
    const reader = await VaultReader.open(path)
    t.teardown(() => reader.close())
    const L = reader.layout
    const all = Array.from({ length: L.buckets }, (_, b) => reader.entries(b, 0, L.capacity)).flat()
    const check = (challenge: Buffer): boolean => {
      const got = reader.nearest(challenge)
      return (
        got.distance === bruteNearest(all, challenge) &&
        got.distance === recordDistance(got.record, challenge) &&
        got.record.equals(proofRecord(IDENTITY.fingerprint, IDENTITY.publicKey, got.nonce))
      )
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 40 }), (c) => check(Buffer.from(c))),
      { numRuns: 300 },
    )
    // Stored records, their neighbours by one, the ends and the bucket boundaries.
    const edges: Buffer[] = [Buffer.alloc(24), Buffer.alloc(24, 0xff)]
    for (const e of all.slice(0, 50)) {
      edges.push(Buffer.from(e.record))
      const up = Buffer.from(e.record)
      up[23] = (up[23]! + 1) & 0xff
      edges.push(up)
    }
    for (let b = 0; b < L.buckets; b++) {
      const start = Buffer.alloc(24)
      if (L.bucketBits > 0) start.writeUInt16BE((b << (16 - L.bucketBits)) & 0xffff, 0)
      edges.push(start)
      const before = Buffer.from(start)
      for (let i = 23; i >= 0; i--) if ((before[i] = (before[i]! - 1) & 0xff) !== 0xff) break
      edges.push(before)
    }
    for (const c of edges) t.ok(check(c), `challenge ${c.toString('hex').slice(0, 12)}…`)
    const exact = all[7 % all.length]!
    t.equal(reader.nearest(exact.record).distance, 0n, 'a stored record is at distance 0')
  })
}

t.test('entries, first and last; bad positions and short challenges are refused', async (t) => {
  const path = vaultPath(t)
  await buildVault({ path, identity: IDENTITY, params: TINY, threadsHash: 0 })
  const reader = await VaultReader.open(path)
  t.teardown(() => reader.close())
  t.equal(reader.records, 16 * 256)
  const three = reader.entries(2, 10, 3)
  t.same(three[0], reader.entry(2, 10))
  t.same(reader.first(5), reader.entry(5, 0))
  t.same(reader.last(5), reader.entry(5, 255))
  t.throws(() => reader.entry(16, 0), /bucket 16 is not in 0..15/)
  t.throws(() => reader.entries(0, 250, 10), /not in 0..255/)
  t.throws(() => reader.nearest(Buffer.alloc(23)), /at least 24 bytes/)
})

t.test('an unfinished vault is not opened for lookups', async (t) => {
  const path = vaultPath(t)
  await interruptedVault(path)
  await t.rejects(VaultReader.open(path), /is not finished \(its build is in the fill phase\)/)
})
