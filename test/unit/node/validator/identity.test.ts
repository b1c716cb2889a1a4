// A validator's fingerprint in its data directory: made once and the same
// ever after; a damaged file is an error that names it and is left alone.
import t from 'tap'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fingerprintToUuid, ValidatorConfigError } from '../../../../node/validator/config.js'
import { FINGERPRINT_FILE, loadOrCreateFingerprint } from '../../../../node/validator/identity.js'
import { testDir } from '../../../helpers/node-fixtures.js'

const UUID_LINE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/

t.test('made once (with its directory), then the same on every later call', async (t) => {
  const dir = join(testDir(t, 'bkc-fp-'), 'node0', 'validator')
  const first = await loadOrCreateFingerprint(dir)
  t.equal(first.length, 16)
  const file = join(dir, FINGERPRINT_FILE)
  const text = readFileSync(file, 'utf8')
  t.match(text, UUID_LINE, 'the file holds the UUID DSC prints')
  t.equal(text, `${fingerprintToUuid(first)}\n`)
  t.equal(statSync(file).mode & 0o777, 0o600, 'private')
  for (let i = 0; i < 3; i++) t.same(await loadOrCreateFingerprint(dir), first, `call ${i + 2}: the same`)
  t.equal(readFileSync(file, 'utf8'), text, 'the file is unchanged')
  t.same(readdirSync(dir), [FINGERPRINT_FILE], 'no temp file left')
  const other = await loadOrCreateFingerprint(join(dir, '..', '..', 'node1', 'validator'))
  t.notSame(other, first, 'another data directory gets another fingerprint')
})

t.test('first calls at once agree on one fingerprint', async (t) => {
  const dir = join(testDir(t, 'bkc-fp-'), 'validator')
  const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateFingerprint(dir)))
  for (const fp of all) t.same(fp, all[0])
  t.equal(readFileSync(join(dir, FINGERPRINT_FILE), 'utf8'), `${fingerprintToUuid(all[0]!)}\n`, 'and it is the one kept')
  t.same(readdirSync(dir), [FINGERPRINT_FILE], 'no temp file left')
})

t.test('a file written by hand: 32 hex digits or a UUID, blanks around it', async (t) => {
  const dir = testDir(t, 'bkc-fp-')
  writeFileSync(join(dir, FINGERPRINT_FILE), '  00112233445566778899AABBCCDDEEFF \n\n')
  t.equal((await loadOrCreateFingerprint(dir)).toString('hex'), '00112233445566778899aabbccddeeff')
})

t.test('a damaged file: a ValidatorConfigError naming it, and the file is not replaced', async (t) => {
  const dir = testDir(t, 'bkc-fp-')
  const file = join(dir, FINGERPRINT_FILE)
  for (const damaged of [
    '',
    'garbage\n',
    '00112233-4455-6677-8899\n',
    `${'ab'.repeat(16)}ff\n`,
    '\u0000\u00ff\u0001',
    'x'.repeat(100_000),
  ]) {
    writeFileSync(file, damaged)
    await t.rejects(
      loadOrCreateFingerprint(dir),
      {
        name: 'ValidatorConfigError',
        message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: expected a UUID.*the file is damaged \\(remove it`),
      },
      JSON.stringify(damaged.slice(0, 20)),
    )
    t.equal(readFileSync(file, 'utf8'), damaged, 'left as it was')
  }
  t.same(readdirSync(dir), [FINGERPRINT_FILE], 'nothing else was written')
})

t.test('a fingerprint that cannot be read: a ValidatorConfigError naming it', async (t) => {
  const dir = testDir(t, 'bkc-fp-')
  mkdirSync(join(dir, FINGERPRINT_FILE))
  const err = await loadOrCreateFingerprint(dir).catch((e: unknown) => e)
  t.type(err, ValidatorConfigError)
  t.match((err as Error).message, `cannot read the validator fingerprint ${join(dir, FINGERPRINT_FILE)}`)
})
