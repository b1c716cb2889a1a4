// peers.json: atomic, private saves; loads that survive any file content.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { AddrMan } from '../../../../node/p2p/addrman.js'
import { loadAddrMan, saveAddrMan, PEERS_FILE_NAME } from '../../../../node/p2p/peer-store.js'

const T0 = 1_700_000_000_000
const now = (): number => T0
const posix = process.platform !== 'win32'

function sampleBook(): AddrMan {
  const book = new AddrMan({ now })
  book.add({ host: '10.0.0.1', port: 5555 }, 'bootstrap', T0 - 1000)
  book.add({ host: '::1', port: 7000 }, 'manual')
  book.add({ host: 'peer.example', port: 1 }, 'gossip', T0 - 5000)
  book.markSuccess({ host: '::1', port: 7000 })
  book.markAttempt({ host: '10.0.0.1', port: 5555 })
  book.markFailure({ host: '10.0.0.1', port: 5555 })
  return book
}

t.test('a missing file is an empty book without a warning', async (t) => {
  const dir = t.testdir()
  const { addrman, warning } = await loadAddrMan(join(dir, PEERS_FILE_NAME), { now })
  t.equal(addrman.size, 0)
  t.equal(warning, undefined)
})

t.test('save then load round trips; the file is private and no temp file is left', async (t) => {
  const dir = t.testdir()
  const file = join(dir, PEERS_FILE_NAME)
  const book = sampleBook()
  await saveAddrMan(file, book)
  t.same(await fsp.readdir(dir), [PEERS_FILE_NAME])
  if (posix) t.equal((await fsp.stat(file)).mode & 0o777, 0o600)
  const { addrman, warning } = await loadAddrMan(file, { now })
  t.equal(warning, undefined)
  t.same(addrman.toJSON(), book.toJSON())
  t.equal(addrman.nextTryAt({ host: '10.0.0.1', port: 5555 }), T0 + 1000, 'backoff survives a restart')
  const text = await fsp.readFile(file, 'utf8')
  t.same(JSON.parse(text), book.toJSON(), 'plain JSON')
  t.equal(text.split('\n').length, 3 + 3, 'one entry per line')
})

t.test('an empty book saves and loads', async (t) => {
  const dir = t.testdir()
  const file = join(dir, PEERS_FILE_NAME)
  await saveAddrMan(file, new AddrMan())
  const { addrman, warning } = await loadAddrMan(file)
  t.equal(addrman.size, 0)
  t.equal(warning, undefined)
})

t.test('saving replaces an older file, including its mode', async (t) => {
  const dir = t.testdir({ [PEERS_FILE_NAME]: '{"version":1,"entries":[]}' })
  const file = join(dir, PEERS_FILE_NAME)
  await fsp.chmod(file, 0o644)
  await saveAddrMan(file, sampleBook())
  await Promise.all([saveAddrMan(file, sampleBook()), saveAddrMan(file, new AddrMan())]) // concurrent saves: one wins whole
  const after = await loadAddrMan(file, { now })
  t.equal(after.warning, undefined)
  t.ok(after.addrman.size === 0 || after.addrman.size === 3)
  if (posix) t.equal((await fsp.stat(file)).mode & 0o777, 0o600)
  t.same(await fsp.readdir(dir), [PEERS_FILE_NAME])
})

t.test('a failed save throws, keeps the old content and leaves no temp file', async (t) => {
  const dir = t.testdir({ [PEERS_FILE_NAME]: { 'occupied.txt': 'a directory where the file should be' } })
  await t.rejects(saveAddrMan(join(dir, PEERS_FILE_NAME), sampleBook()))
  t.same(await fsp.readdir(dir), [PEERS_FILE_NAME])
  t.same(await fsp.readdir(join(dir, PEERS_FILE_NAME)), ['occupied.txt'])
  await t.rejects(saveAddrMan(join(dir, 'missing', PEERS_FILE_NAME), sampleBook()), { code: 'ENOENT' })
})

t.test('corrupt or unreadable files give an empty book and a warning', async (t) => {
  const cases: Record<string, string> = {
    empty: '',
    garbage: 'not json at all \u0000\u00ff',
    truncated: JSON.stringify(sampleBook().toJSON()).slice(0, 60),
    array: '[1,2,3]',
    null: 'null',
    'wrong version': '{"version":2,"entries":[]}',
    'no entries': '{"version":1}',
    'entries not an array': '{"version":1,"entries":{}}',
  }
  const dir = t.testdir(cases)
  for (const name of Object.keys(cases)) {
    const { addrman, warning } = await loadAddrMan(join(dir, name), { now })
    t.equal(addrman.size, 0, name)
    t.match(warning, /empty address book/, name)
    t.match(warning, join(dir, name), `${name}: the warning names the file`)
  }
  t.match((await loadAddrMan(dir)).warning, /not a regular file/, 'a directory')
})

t.test('malformed entries are skipped, the rest load', async (t) => {
  const good = { host: '10.0.0.1', port: 5555, source: 'manual', lastSeen: T0, lastTry: 0, lastSuccess: 0, failures: 0 }
  const dir = t.testdir({ [PEERS_FILE_NAME]: JSON.stringify({ version: 1, entries: [good, { host: 'bad host', port: 1 }, 17] }) })
  const { addrman, warning } = await loadAddrMan(join(dir, PEERS_FILE_NAME), { now })
  t.equal(warning, undefined)
  t.same(addrman.toJSON().entries, [good])
})

t.test('an oversized file is refused without being read', async (t) => {
  const dir = t.testdir()
  const file = join(dir, PEERS_FILE_NAME)
  await fsp.writeFile(file, '')
  await fsp.truncate(file, 16 * 1024 * 1024 + 1) // sparse: no real 16 MiB written
  const { addrman, warning } = await loadAddrMan(file)
  t.equal(addrman.size, 0)
  t.match(warning, /larger than/)
})

t.test('a FIFO at the path does not hang the load', async (t) => {
  const dir = t.testdir()
  const file = join(dir, PEERS_FILE_NAME)
  try {
    execFileSync('mkfifo', [file], { stdio: 'ignore' })
  } catch {
    t.skip('mkfifo is not available here', () => {})
    return
  }
  const { addrman, warning } = await loadAddrMan(file)
  t.equal(addrman.size, 0)
  t.match(warning, /not a regular file/)
})
