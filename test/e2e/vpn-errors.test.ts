// `bkc vpn` tells a user what is wrong before anything is created: no
// CAP_NET_ADMIN, CAP_NET_ADMIN that the `ip` commands would not inherit (not
// ambient), no /dev/net/tun; and ambient CAP_NET_ADMIN without root is enough.
// All need root to stage (a uid to drop to, a private mount namespace hiding
// /dev/net, a network namespace for the TUN), so they skip elsewhere with the
// reason.
import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canRunNetns, NetnsLab } from '../../bench/lib/netns-lab.js'
import { BKC_BIN } from '../helpers/node-fixtures.js'

/** A private mount namespace with a /dev/net/tun of the usual mode 0666 (it may be 0600 here), as on a lab VM. */
const OPEN_TUN_DEVICE = [
  'unshare',
  '--mount',
  '--propagation',
  'private',
  'sh',
  '-c',
  'mount -t tmpfs none /dev/net && mknod -m 666 /dev/net/tun c 10 200 && exec "$0" "$@"',
]

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

t.test(
  'not root: a clear error naming CAP_NET_ADMIN, exit 1',
  { skip: root ? false : 'needs root to run bkc as another user' },
  async (t) => {
    const r = await run(process.execPath, vpnArgs, { uid: 65534, gid: 65534 })
    t.equal(r.code, 1)
    t.match(r.stderr, /needs the CAP_NET_ADMIN capability.*run it with sudo/)
  },
)

t.test('root without CAP_NET_ADMIN: the same error, exit 1', { skip: root ? false : 'needs root to drop a capability' }, async (t) => {
  const r = await run('setpriv', ['--bounding-set', '-net_admin', '--', process.execPath, ...vpnArgs])
  t.equal(r.code, 1, r.stderr)
  t.match(r.stderr, /needs the CAP_NET_ADMIN capability/)
})

t.test('not root but with CAP_NET_ADMIN: the TUN comes up', { skip: canRunNetns() ?? false }, async (t) => {
  const lab = await NetnsLab.create({ hosts: ['h1'] })
  t.teardown(async () => {
    await lab.destroy()
  })
  // The data dir must be the unprivileged user's: the client key is written there.
  chmodSync(dir, 0o755)
  const data = join(dir, 'capdata')
  mkdirSync(data)
  chownSync(data, 65534, 65534)
  const args = [BKC_BIN, 'vpn', '--ip', '192.168.53.5', '--im-addr', '127.0.0.1', '--im-port', '9', '--dev', 'bkccap0', '--data-dir', data]
  const device = OPEN_TUN_DEVICE
  const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+net_admin', '--ambient-caps=+net_admin', '--']
  // A clean environment: tap's NODE_OPTIONS would have the child write into .tap/ as the unprivileged user.
  const env = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`]
  const child = lab.spawn('h1', [...device, ...drop, ...env, process.execPath, ...args])
  let output = ''
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()))
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()))
  const deadline = Date.now() + 15_000
  while (!/simulator unreachable, retrying/.test(output) && child.exitCode === null && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.match(output, /TUN up dev=bkccap0/, 'the TUN was created and configured')
  t.equal((await lab.exec('h1', ['ip', 'link', 'show', 'bkccap0'])).code, 0)
  t.same(await lab.kill(child, 'SIGTERM', 8000), { code: 0, signal: null }, 'and it stops cleanly')
})

t.test(
  'not root, CAP_NET_ADMIN from file capabilities but not ambient: a clear error before any TUN exists, exit 1',
  { skip: canRunNetns() ?? false },
  async (t) => {
    const lab = await NetnsLab.create({ hosts: ['h1'] })
    t.teardown(async () => {
      await lab.destroy()
    })
    chmodSync(dir, 0o755)
    // A copy of node with `setcap cap_net_admin+ep`: effective CAP_NET_ADMIN for any user, none for its children.
    const node = join(dir, 'node-netadmin')
    copyFileSync(process.execPath, node)
    chmodSync(node, 0o755)
    const setcap = await run('setcap', ['cap_net_admin+ep', node])
    if (setcap.code !== 0) {
      t.comment(`skipping: setcap is not usable here: ${setcap.stderr}`)
      return
    }
    const data = join(dir, 'filecapdata')
    mkdirSync(data)
    chownSync(data, 65534, 65534)
    const args = [
      BKC_BIN,
      'vpn',
      '--ip',
      '192.168.53.5',
      '--im-addr',
      '127.0.0.1',
      '--im-port',
      '9',
      '--dev',
      'bkcfcap0',
      '--data-dir',
      data,
    ]
    const device = OPEN_TUN_DEVICE
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']
    const env = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`]
    const r = await lab.exec('h1', [...device, ...drop, ...env, node, ...args], { timeoutMs: 15_000 })
    const output = r.stdout + r.stderr
    t.equal(r.code, 1, output)
    t.match(output, /has CAP_NET_ADMIN, but not as an ambient capability/)
    t.match(output, /--ambient-caps=\+net_admin/)
    t.not((await lab.exec('h1', ['ip', 'link', 'show', 'bkcfcap0'])).code, 0, 'no TUN was created')
  },
)

t.test('/dev/net/tun missing: a clear error, exit 1', { skip: root ? false : 'needs root for a private mount namespace' }, async (t) => {
  // A private mount namespace with an empty /dev/net: nothing outside it changes.
  const script = `mount -t tmpfs none /dev/net && exec "$0" "$@"`
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, ...vpnArgs])
  t.equal(r.code, 1, r.stderr)
  t.match(r.stderr, /\/dev\/net\/tun is missing: load the tun module/)
})
