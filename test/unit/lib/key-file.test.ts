// lib/key-file.ts: a long-term key in a file of its own, created once and
// then read back; anything else in its place is an error, never replaced.
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { KeyFileError, loadOrCreateKeyFile } from '../../../lib/key-file.js'

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'bkc-keyfile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
const gen = () => randomBytes(32)

t.test('first use creates the key (0600 in a 0700 dir), later uses read the same key', async (t) => {
  const path = join(tempDir(t), 'sub', 'key')
  const first = await loadOrCreateKeyFile(path, 32, gen)
  t.equal(first.created, true)
  t.equal(first.secret.length, 32)
  t.equal(readFileSync(path, 'utf8'), first.secret.toString('hex') + '\n')
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.equal(statSync(join(path, '..')).mode & 0o777, 0o700)
  const again = await loadOrCreateKeyFile(path, 32, () => t.fail('no new key when one exists') as never)
  t.same(again, { secret: first.secret, created: false })
})

t.test('processes starting at once agree on one key: exactly one creates it', async (t) => {
  const path = join(tempDir(t), 'key')
  const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKeyFile(path, 32, gen)))
  t.equal(all.filter((r) => r.created).length, 1)
  for (const r of all) t.same(r.secret, all[0]!.secret)
})

t.test('a file that holds no key is an error naming it, and stays as it was', async (t) => {
  const dir = tempDir(t)
  for (const [name, text] of [
    ['short', 'abcd\n'],
    ['upper', 'AB'.repeat(32) + '\n'],
    ['junk', 'not a key at all, but long enough to be one maybe……………………………………\n'],
    ['empty', ''],
  ] as const) {
    const path = join(dir, name)
    writeFileSync(path, text, { mode: 0o600 })
    await t.rejects(
      loadOrCreateKeyFile(path, 32, gen),
      new KeyFileError(`${path} does not hold a key (64 lower-case hex digits); move it away to create a new one`),
      name,
    )
    t.equal(readFileSync(path, 'utf8'), text, `${name} is left alone`)
  }
})

t.test('a symlink, a directory or a large file in its place is refused', async (t) => {
  const dir = tempDir(t)
  const target = join(dir, 'real')
  writeFileSync(target, randomBytes(32).toString('hex') + '\n')
  symlinkSync(target, join(dir, 'link'))
  await t.rejects(loadOrCreateKeyFile(join(dir, 'link'), 32, gen), { name: 'KeyFileError', message: `${join(dir, 'link')} is a symlink` })
  mkdirSync(join(dir, 'adir'))
  await t.rejects(loadOrCreateKeyFile(join(dir, 'adir'), 32, gen), {
    name: 'KeyFileError',
    message: `${join(dir, 'adir')} is not a key file`,
  })
  writeFileSync(join(dir, 'big'), 'a'.repeat(4096))
  await t.rejects(loadOrCreateKeyFile(join(dir, 'big'), 32, gen), {
    name: 'KeyFileError',
    message: `${join(dir, 'big')} is not a key file`,
  })
})

t.test('a generator that returns the wrong length creates nothing', async (t) => {
  const path = join(tempDir(t), 'key')
  await t.rejects(
    loadOrCreateKeyFile(path, 32, () => randomBytes(16)),
    /16 bytes, not 32/,
  )
  t.throws(() => statSync(path), { code: 'ENOENT' })
})
