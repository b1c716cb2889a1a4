// `bkc vpn` tells a user what is wrong before anything is created: not root,
// no /dev/net/tun. Both need root to stage (a uid to drop to, a private
// mount namespace hiding /dev/net), so they skip elsewhere with the reason.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BKC_BIN } from '../helpers/node-fixtures.js'

interface Run {
  code: number | null
  stderr: string
}

function run(cmd: string, args: string[], opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, ...opts }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr })
    })
  })
}

const root = process.getuid?.() === 0
const dir = mkdtempSync(join(tmpdir(), 'bkc-vpn-errors-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const vpnArgs = [BKC_BIN, 'vpn', '--ip', '192.168.53.5', '--im-addr', '127.0.0.1', '--im-port', '9', '--data-dir', join(dir, 'data')]

t.test('not root: a clear error, exit 1', { skip: root ? false : 'needs root to run bkc as another user' }, async (t) => {
  const r = await run(process.execPath, vpnArgs, { uid: 65534, gid: 65534 })
  t.equal(r.code, 1)
  t.match(r.stderr, /needs root: run it with sudo/)
})

t.test('/dev/net/tun missing: a clear error, exit 1', { skip: root ? false : 'needs root for a private mount namespace' }, async (t) => {
  // A private mount namespace with an empty /dev/net: nothing outside it changes.
  const script = `mount -t tmpfs none /dev/net && exec "$0" "$@"`
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, ...vpnArgs])
  t.equal(r.code, 1, r.stderr)
  t.match(r.stderr, /\/dev\/net\/tun is missing: load the tun module/)
})
