// checkVault reports a sound vault's parameters and first/last records, and
// reports damage (a flipped byte anywhere in the data) instead of throwing;
// a file that cannot be read as a vault is a clear error.
import t, { type Test } from 'tap'
import { closeSync, openSync, readSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { buildVault } from '../../../../node/validator/pos-build.js'
import { checkVault } from '../../../../node/validator/pos-check.js'
import { VaultFile } from '../../../../node/validator/pos-vault-file.js'
import { progressSlotOffset, regionOffset, VaultFormatError, vaultLayout } from '../../../../node/validator/pos-vault.js'
import { IDENTITY, TINY, vaultContent, interruptedVault, vaultPath } from './pos-fixtures.js'

const ALL = Number.MAX_SAFE_INTEGER
const L = vaultLayout(TINY)

async function built(t: Test): Promise<string> {
  const path = vaultPath(t)
  await buildVault({ path, identity: IDENTITY, params: TINY, threadsHash: 0 })
  return path
}

function flip(path: string, offset: number, mask = 0x01): void {
  const fd = openSync(path, 'r+')
  const b = Buffer.alloc(1)
  readSync(fd, b, 0, 1, offset)
  b[0]! ^= mask
  writeSync(fd, b, 0, 1, offset)
  closeSync(fd)
}

const entryOffset = (bucket: number, index: number): number => regionOffset(L, bucket) + index * 32

t.test('a sound vault: parameters, first and last five records, no problems', async (t) => {
  const path = await built(t)
  const r = await checkVault(path, { sample: 50 })
  t.ok(r.ok)
  t.same(r.problems, [])
  t.same(r.params, { buckets: 16, cupSize: 64, cupsPerBucket: 4, records: 4096, dataBytes: 4096 * 32, fileBytes: L.finalBytes })
  t.equal(r.fingerprint, IDENTITY.fingerprint.toString('hex'))
  t.equal(r.publicKey, IDENTITY.publicKey.toString('hex'))
  t.same(
    r.first.map((e) => [e.bucket, e.index]),
    [0, 1, 2, 3, 4].map((i) => [0, i]),
  )
  t.same(
    r.last.map((e) => [e.bucket, e.index]),
    [251, 252, 253, 254, 255].map((i) => [15, i]),
  )
  t.match(r.first[0]!.record, /^0[0-9a-f]{47}$/, 'bucket 0 records start with a 0 nibble')
  t.ok(
    r.first.every((e, i) => i === 0 || e.record > r.first[i - 1]!.record),
    'in order',
  )
  t.equal(r.sample.checked, 50)
})

t.test('a flipped byte anywhere in an entry is reported', async (t) => {
  const cases: Array<[string, number, number, RegExp]> = [
    ['top byte of a record (wrong bucket, order)', entryOffset(3, 100), 0x80, /wrong bucket/],
    ['a record bit worth half its bucket (order)', entryOffset(5, 20), 0x08, /out of order in 1 buckets: bucket 5 #21/],
    ['last byte of a record', entryOffset(7, 9) + 23, 0x01, /re-hashed entries are not the record of their nonce: bucket 7 #9/],
    ['low byte of a nonce', entryOffset(9, 200) + 31, 0x01, /not the record of their nonce: bucket 9 #200/],
    ['top byte of a nonce', entryOffset(0, 0) + 24, 0xff, /impossible nonce: bucket 0 #0/],
  ]
  for (const [name, offset, mask, problem] of cases) {
    const path = await built(t)
    flip(path, offset, mask)
    const r = await checkVault(path, { sample: ALL })
    t.notOk(r.ok, name)
    t.match(r.problems.join('\n'), problem, name)
  }
})

t.test('a random sample finds a damaged record when it happens to pick it', async (t) => {
  const path = await built(t)
  flip(path, entryOffset(4, 4) + 23)
  const pick = (4 * 256 + 4 + 0.5) / 4096
  const hit = await checkVault(path, { sample: 3, random: () => pick })
  t.notOk(hit.ok)
  t.equal(hit.sample.wrongRecords.count, 3)
  const miss = await checkVault(path, { sample: 3, random: () => 0 })
  t.ok(miss.ok, 'the order scan cannot see a low-byte flip; the sample missed it')
})

t.test('an unfinished vault is reported as such', async (t) => {
  const path = vaultPath(t)
  await interruptedVault(path)
  const r = await checkVault(path)
  t.notOk(r.ok)
  t.equal(r.phase, 'fill')
  t.match(r.problems[0], /not finished \(phase fill: \d+ of 4096 records stored\)/)
})

t.test('a truncated file, a damaged header, a non-vault: clear errors', async (t) => {
  const codeOf = async (path: string): Promise<[string, string]> => {
    const err = await checkVault(path).catch((e: unknown) => e)
    t.type(err, VaultFormatError)
    return [(err as VaultFormatError).code, (err as Error).message]
  }
  const truncated = await built(t)
  truncateSync(truncated, L.finalBytes - 100)
  t.match(await codeOf(truncated), ['WRONG_SIZE', /truncated or damaged/])
  const header = await built(t)
  flip(header, 30)
  t.match(await codeOf(header), ['CORRUPT_HEADER', /checksum/])
  const both = await built(t)
  flip(both, 4096 + 10)
  flip(both, 4096 + L.slotBytes + 10)
  t.match(await codeOf(both), ['CORRUPT_PROGRESS', /neither of its two progress records/])
  const short = vaultPath(t)
  writeFileSync(short, 'BKCVAULT\x00\x00')
  t.match(await codeOf(short), ['CORRUPT_HEADER', /truncated/])
  const other = vaultPath(t)
  writeFileSync(other, 'some text')
  t.match(await codeOf(other), ['NOT_A_VAULT', /not a vault/])
  await t.rejects(checkVault(vaultPath(t)), { code: 'ENOENT' })
})

t.test('one damaged progress slot: the vault opens at the other one', async (t) => {
  const path = await built(t)
  const f = await VaultFile.open(path, false)
  const seq = f.progress.seq
  await f.close()
  const slot = (s: number): number => progressSlotOffset(L, s) + 10
  flip(path, slot(seq + 1))
  t.ok((await checkVault(path)).ok, 'the older slot damaged: nothing lost')
  const other = await built(t)
  const data = vaultContent(other, TINY).data
  flip(other, slot(seq))
  const r = await checkVault(other)
  t.equal(r.phase, 'sort', 'the newer one damaged: the state before it, all sorted but not yet marked done')
  await buildVault({ path: other, identity: IDENTITY, params: TINY, threadsHash: 0 })
  t.ok((await checkVault(other)).ok, 'a build finishes it')
  t.ok(vaultContent(other, TINY).data.equals(data), 'with the same records')
})
