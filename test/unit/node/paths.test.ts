// --network NAME|FILE: a shipped network by its name, or a file of one's own.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DEFAULT_NETWORK_FILE, NETWORKS_DIR, NetworkNameError, resolveNetworkFile, shippedNetworks } from '../../../node/paths.js'

t.test('the shipped networks are listed by name, devnet among them', async (t) => {
  t.ok(shippedNetworks().includes('devnet'))
  t.equal(DEFAULT_NETWORK_FILE, join(NETWORKS_DIR, 'devnet.json'))
})

t.test('no value is the shipped devnet; a shipped name is its file', async (t) => {
  const cwd = t.testdir({})
  t.equal(resolveNetworkFile(undefined, cwd), DEFAULT_NETWORK_FILE)
  t.equal(resolveNetworkFile('devnet', cwd), DEFAULT_NETWORK_FILE)
})

t.test('paths are paths: a slash, a .json ending, or a file of that name where the command runs', async (t) => {
  const cwd = t.testdir({ devnet: '{}', sub: { 'x.json': '{}' } })
  t.equal(resolveNetworkFile('./sub/x.json', cwd), join(cwd, 'sub', 'x.json'))
  t.equal(resolveNetworkFile('sub/x.json', cwd), join(cwd, 'sub', 'x.json'))
  t.equal(
    resolveNetworkFile('missing.json', cwd),
    join(cwd, 'missing.json'),
    'a .json path that does not exist is still a path: loading it says so',
  )
  t.equal(resolveNetworkFile('/abs/net.json', cwd), '/abs/net.json')
  t.equal(resolveNetworkFile('devnet', cwd), join(cwd, 'devnet'), 'a local file shadows a shipped name')
  t.equal(resolveNetworkFile('My Net', cwd), join(cwd, 'My Net'), 'not a plain lower-case word: a path')
})

t.test('an unknown name says which networks are shipped', async (t) => {
  const dir = t.testdir({ 'alpha.json': '{}', 'beta.json': '{}', 'notes.txt': '' })
  const cwd = join(dir, 'work')
  mkdirSync(cwd)
  writeFileSync(join(cwd, 'unrelated'), '')
  t.same(shippedNetworks(dir), ['alpha', 'beta'])
  t.equal(resolveNetworkFile('beta', cwd, dir), join(dir, 'beta.json'))
  t.throws(
    () => resolveNetworkFile('gamma', cwd, dir),
    new NetworkNameError(`no shipped network named "gamma" (shipped: alpha, beta) and no file ${join(cwd, 'gamma')}`),
  )
})
