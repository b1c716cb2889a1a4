// writeFileAtomic: replaces the file whole, privately, leaving no temp file,
// and on failure leaves the old file as it was. makeDirs,
// retireDir, removeEmptyDirs: a failed start removes only what it created.
import t from 'tap'
import { promises as fsp } from 'node:fs'
import { basename, join } from 'node:path'
import { createFileExclusive, makeDirs, removeEmptyDirs, retireDir, writeFileAtomic, writeFileAtomicSync } from '../../../lib/files.js'

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

t.test('retireDir moves a directory aside to a hidden sibling, contents and all', async (t) => {
  const root = t.testdir({ data: { node: { chain: 'x' } } })
  const retired = await retireDir(join(root, 'data', 'node'))
  t.match(retired, new RegExp(`^${join(root, 'data')}/\\.node\\.[0-9a-f]{12}\\.removed$`))
  t.same(await fsp.readdir(join(root, 'data')), [basename(retired)], 'the old name is free at once')
  t.equal(await fsp.readFile(join(retired, 'chain'), 'utf8'), 'x')
  await t.rejects(retireDir(join(root, 'missing')), { code: 'ENOENT' })
})

t.test('removeEmptyDirs removes while empty and stops at the first that is not', async (t) => {
  const root = t.testdir({})
  const made = await makeDirs(join(root, 'a', 'b', 'c'))
  await removeEmptyDirs(made)
  t.same(await fsp.readdir(root), [], 'all three were empty')

  const again = await makeDirs(join(root, 'a', 'b', 'c'))
  await fsp.mkdir(join(root, 'a', 'other'))
  await removeEmptyDirs(again)
  t.same(await fsp.readdir(join(root, 'a')), ['other'], 'a parent another process began to use stays')

  const withFile = await makeDirs(join(root, 'p', 'q'))
  await fsp.writeFile(join(root, 'p', 'q', 'f'), 'x')
  await removeEmptyDirs(withFile)
  t.same(await fsp.readdir(join(root, 'p', 'q')), ['f'], 'a directory with something in it stays')
  await removeEmptyDirs([join(root, 'gone')])
  t.pass('a directory already gone is no error')
})

t.test('writeFileAtomicSync: creates and replaces whole with the mode asked, leaving no temp file', async (t) => {
  const dir = t.testdir({})
  const path = join(dir, 'devnet.json')
  writeFileAtomicSync(path, 'one\n')
  t.equal(await fsp.readFile(path, 'utf8'), 'one\n')
  if (posix) t.equal((await fsp.stat(path)).mode & 0o777, 0o600, 'private by default')
  await fsp.chmod(path, 0o666)
  writeFileAtomicSync(path, 'two\n', 0o644)
  t.equal(await fsp.readFile(path, 'utf8'), 'two\n')
  if (posix) t.equal((await fsp.stat(path)).mode & 0o777, 0o644, 'the new file has the new mode')
  t.same(await fsp.readdir(dir), ['devnet.json'], 'no temp file left')
  t.throws(() => writeFileAtomicSync(join(dir, 'missing', 'x'), 'y'), { code: 'ENOENT' })
  t.same(await fsp.readdir(dir), ['devnet.json'], 'a failed write leaves nothing behind')
})
