// writeFileAtomic: replaces the file whole, privately, leaving no temp file,
// and on failure leaves the old file as it was. makeDirs / removeMadeDirs:
// a failed start removes only the directories it created.
import t from 'tap'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { createFileExclusive, makeDirs, removeMadeDirs, writeFileAtomic } from '../../../lib/files.js'

const posix = process.platform !== 'win32'

t.test('writeFileAtomic creates a missing file with mode 0600 and leaves no temp file', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'state.json')
  await writeFileAtomic(file, 'first\n')
  t.equal(await fsp.readFile(file, 'utf8'), 'first\n')
  t.same(await fsp.readdir(dir), ['state.json'], 'only the file itself')
  if (posix) t.equal((await fsp.stat(file)).mode & 0o777, 0o600, 'private by default')
})

t.test('writeFileAtomic replaces an existing file, its content and its mode', async (t) => {
  const dir = t.testdir({ 'state.json': 'old content that is longer than the new one\n' })
  const file = join(dir, 'state.json')
  await fsp.chmod(file, 0o644)
  const before = (await fsp.stat(file)).ino
  await writeFileAtomic(file, 'new\n')
  t.equal(await fsp.readFile(file, 'utf8'), 'new\n', 'whole new content, nothing of the old left')
  t.same(await fsp.readdir(dir), ['state.json'])
  if (posix) {
    t.equal((await fsp.stat(file)).mode & 0o777, 0o600, 'the old mode is not kept')
    t.not((await fsp.stat(file)).ino, before, 'a new file renamed over the old one, not rewritten in place')
  }
})

t.test('writeFileAtomic takes another mode when asked', { skip: !posix && 'no POSIX modes' }, async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'public.txt')
  await writeFileAtomic(file, 'x', 0o640)
  t.equal((await fsp.stat(file)).mode & 0o777, 0o640)
})

t.test('a failed writeFileAtomic leaves the old file and no temp file', async (t) => {
  const dir = t.testdir({ target: { inside: 'keep' } })
  // A directory in the way: rename(file, dir) fails after the temp file was written.
  const target = join(dir, 'target')
  await t.rejects(writeFileAtomic(target, 'replacement'))
  t.same(await fsp.readdir(dir), ['target'], 'no temp file left behind')
  t.equal(await fsp.readFile(join(target, 'inside'), 'utf8'), 'keep', 'what was there is untouched')
})

t.test('createFileExclusive still creates once and refuses to replace', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'key')
  t.equal(await createFileExclusive(file, 'one'), true)
  t.equal(await createFileExclusive(file, 'two'), false)
  t.equal(await fsp.readFile(file, 'utf8'), 'one')
  t.same(await fsp.readdir(dir), ['key'], 'no temp file left behind')
  if (posix) t.equal((await fsp.stat(file)).mode & 0o777, 0o600)
})

t.test('makeDirs returns what it created, deepest first; nothing for a directory that exists', async (t) => {
  const root = t.testdir({})
  const made = await makeDirs(join(root, 'a', 'b', 'c'))
  t.same(made, [join(root, 'a', 'b', 'c'), join(root, 'a', 'b'), join(root, 'a')])
  t.equal((await fsp.stat(join(root, 'a', 'b', 'c'))).mode & 0o777, 0o700)
  t.same(await makeDirs(join(root, 'a', 'b', 'c')), [])
  t.same(await makeDirs(join(root, 'a', 'x')), [join(root, 'a', 'x')])
})

t.test('removeMadeDirs: the owned leaf goes with its contents, parents only while empty', async (t) => {
  const root = t.testdir({})
  const made = await makeDirs(join(root, 'data', 'node'))
  await fsp.writeFile(join(root, 'data', 'node', 'chain'), 'x')
  await removeMadeDirs(made, true)
  t.same(await fsp.readdir(root), [], 'leaf with its file, then the empty parent')

  const again = await makeDirs(join(root, 'data', 'node'))
  await fsp.mkdir(join(root, 'data', 'other'))
  await removeMadeDirs(again, true)
  t.same(await fsp.readdir(join(root, 'data')), ['other'], 'a parent another process began to use stays')

  const notOwned = await makeDirs(join(root, 'p', 'q'))
  await fsp.writeFile(join(root, 'p', 'q', 'f'), 'x')
  await removeMadeDirs(notOwned, false)
  t.same(await fsp.readdir(join(root, 'p', 'q')), ['f'], 'a leaf it does not own is only removed when empty')
  await removeMadeDirs([join(root, 'gone')], true)
  t.pass('a directory already gone is no error')
})
