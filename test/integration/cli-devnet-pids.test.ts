// Finding a devnet that is still running from its pids.json: the pid must be
// a live process whose command line says "devnet" (real processes).
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tempDir } from '../../bench/lib/fixtures.js'
import { runningDevnetPid, writePidsFile } from '../../cli/devnet/state.js'

t.test('a running devnet is found by its pid; a reused pid of another program or an exited one is not', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  // A live process that says "devnet" on its command line, and one that does not.
  const devnetLike = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'devnet'], { stdio: 'ignore' })
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'something'], { stdio: 'ignore' })
  t.teardown(() => {
    devnetLike.kill('SIGKILL')
    other.kill('SIGKILL')
  })
  writePidsFile(tmp.path, { devnet: devnetLike.pid!, nodes: [] })
  t.equal(runningDevnetPid(tmp.path), devnetLike.pid, 'a running devnet is found')
  if (existsSync('/proc/self/cmdline')) {
    writePidsFile(tmp.path, { devnet: other.pid!, nodes: [] })
    t.equal(runningDevnetPid(tmp.path), undefined, 'a reused pid of some other program is not a devnet')
  }
  const exited = new Promise((r) => devnetLike.once('exit', r))
  devnetLike.kill('SIGKILL')
  await exited
  writePidsFile(tmp.path, { devnet: devnetLike.pid!, nodes: [] })
  t.equal(runningDevnetPid(tmp.path), undefined, 'an exited devnet is not running')
})
