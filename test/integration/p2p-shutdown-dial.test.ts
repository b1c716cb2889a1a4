// Connman.stop() while a dial is still connecting: the dial is cancelled by
// our own shutdown, which is no failure of the peer, so the saved address
// book must not count one against it. The target is a real loopback
// listener that never accepts, with its accept queue already full, so the
// kernel leaves the node's SYN unanswered and the dial stays in flight.
import t, { type Test } from 'tap'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { silentLogger } from '../../lib/log.js'
import { AddrMan, type AddrEntry } from '../../node/p2p/addrman.js'
import { Connman } from '../../node/p2p/connman.js'
import { DEFAULT_TIMEOUTS } from '../../node/p2p/peer.js'
import { MAX_P2P_PAYLOAD_BYTES } from '../../protocol/chain/messages.js'

const HOST = '127.0.0.1'

/** A listener (backlog 0) in a child process that never calls accept(); resolves with its port. */
async function silentListener(t: Test): Promise<number> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    `s.bind(('${HOST}', 0))`,
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(60)',
  ].join('\n')
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (s: string) => resolve(Number(s.trim())))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)))
  })
  // Fill the accept queue ourselves: further SYNs are dropped, not answered.
  for (let i = 0; i < 2; i++) {
    const filler = net.connect({ host: HOST, port })
    filler.on('error', () => {})
    t.teardown(() => filler.destroy())
  }
  await new Promise((r) => setTimeout(r, 200))
  return port
}

t.test('stopping during an in-flight dial records no failure for that address in peers.json', async (t) => {
  const port = await silentListener(t)
  const target = { host: HOST, port }
  const peersFile = join(t.testdir(), 'peers.json')
  const addrman = new AddrMan()
  addrman.add(target, 'bootstrap', Date.now())
  const connman = new Connman({
    listenHost: HOST,
    listenPort: 0,
    magic: 0x626b7474,
    networkId: 'bkc-shutdown-test',
    genesis: randomBytes(32),
    nodeId: randomBytes(32),
    maxOutbound: 8,
    maxPeers: 16,
    maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES,
    timeouts: DEFAULT_TIMEOUTS,
    discourageMs: 60_000,
    addrman,
    peersFile,
    tip: () => ({ height: 0, hash: Buffer.alloc(32) }),
    agent: 'test',
    logger: silentLogger(),
  })
  await connman.start()
  await new Promise((r) => setTimeout(r, 500))
  t.equal(connman.all().length, 0, 'the dial is still connecting (no connection came up)')
  t.ok(addrman.get(target)!.lastTry > 0, 'it was dialled')
  await connman.stop()

  const saved = JSON.parse(await readFile(peersFile, 'utf8')) as { entries: AddrEntry[] }
  const entry = saved.entries.find((e) => e.host === HOST && e.port === port)
  t.ok(entry, 'the address is saved')
  t.equal(entry!.failures, 0, 'with no failure recorded')
  t.ok(entry!.lastTry > 0, 'but with its attempt')
})
