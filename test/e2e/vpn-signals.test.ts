// SIGINT/SIGTERM while the VPN is still trying its first connection: `bkc vpn`
// and `bkc start --im-addr` stop as they do once connected (the "stopped"
// line, exit 0) and the TUN is gone. The simulator address is a closed port
// on the namespace's loopback, so the client keeps retrying. Each run is in
// a network namespace of its own: the TUN's address and route never touch
// the root namespace.
import t, { type Test } from 'tap'
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import { canRunNetns, NetnsLab } from '../../bench/lib/netns-lab.js'
import { BKC_BIN } from '../helpers/node-fixtures.js'

const skip = canRunNetns() ?? false
const DEV = 'bkcsig0'

async function lab(t: Test): Promise<{ lab: NetnsLab; dir: string }> {
  const tmp = tempDir('bkc-vpn-signals-')
  t.teardown(tmp.cleanup)
  const lab = await NetnsLab.create({ hosts: ['h1'] })
  t.teardown(async () => {
    await lab.destroy()
  })
  return { lab, dir: tmp.path }
}

function collect(child: ChildProcess): () => string {
  let text = ''
  child.stderr!.on('data', (b: Buffer) => (text += b.toString()))
  child.stdout!.on('data', (b: Buffer) => (text += b.toString()))
  return () => text
}

async function waitForText(read: () => string, child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pattern.test(read())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited early:\n${read()}`)
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${read()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function signalWhileRetrying(t: Test, args: (dir: string) => string[], signal: NodeJS.Signals): Promise<void> {
  const { lab: l, dir } = await lab(t)
  const child = l.spawn('h1', [process.execPath, BKC_BIN, ...args(dir)])
  const output = collect(child)
  // The TUN exists and the first attempt failed: the client is in its retry loop.
  await waitForText(output, child, /simulator unreachable, retrying/, 15_000)
  t.equal((await l.exec('h1', ['ip', 'link', 'show', DEV])).code, 0, 'the TUN is up while retrying')
  const exit = await l.kill(child, signal, 8000)
  if (!t.same(exit, { code: 0, signal: null }, `exit 0 after ${signal}`)) t.comment(output())
  t.match(output(), /stopped/, 'the "stopped" line')
  t.not((await l.exec('h1', ['ip', 'link', 'show', DEV])).code, 0, 'the TUN is gone')
}

const vpnArgs = (dir: string): string[] => [
  'vpn',
  '--ip',
  '192.168.53.5',
  '--im-addr',
  '127.0.0.1',
  '--im-port',
  '9',
  '--dev',
  DEV,
  '--data-dir',
  join(dir, 'data'),
]

t.test('bkc vpn: SIGINT during the first connection attempts stops cleanly', { skip }, async (t) => {
  await signalWhileRetrying(t, (dir) => vpnArgs(dir), 'SIGINT')
})

t.test('bkc vpn: SIGTERM during the first connection attempts stops cleanly', { skip }, async (t) => {
  await signalWhileRetrying(t, (dir) => vpnArgs(dir), 'SIGTERM')
})

t.test('bkc start --im-addr: SIGTERM during the first connection attempts stops cleanly', { skip }, async (t) => {
  await signalWhileRetrying(
    t,
    (dir) => {
      const network = join(dir, 'network.json')
      writeFileSync(network, JSON.stringify(testNetworkJson({ networkId: 'bkc-signals', bits: 12 })))
      return [
        'start',
        '--listen',
        '192.168.53.6',
        '--im-addr',
        '127.0.0.1',
        '--im-port',
        '9',
        '--dev',
        DEV,
        '--data-dir',
        join(dir, 'node'),
        '--network',
        network,
      ]
    },
    'SIGTERM',
  )
})
