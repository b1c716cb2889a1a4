// The internet simulator end to end over loopback TCP: registration and
// leases, relaying byte-identical packets (sealed and plain), the drop
// reasons, admission (secret), timeouts, a slow receiver, RESTARTING on
// stop, the stats endpoint, and `bkc simulator` through the real binary.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { Writable } from 'node:stream'
import winston from 'winston'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { TunnelKeyPair } from '../../protocol/tunnel/crypto.js'
import { SimulatorServer, type SimulatorOptions } from '../../simulator/server.js'
import { parseSubnet } from '../../protocol/tunnel/subnet.js'
import { loadOrCreateServerKey, parseAllowList } from '../../simulator/key-files.js'
import { buildIPv4Packet, buildTcpSuperPacket, TunnelTestClient, type HandshakeOutcome } from '../helpers/tunnel-client.js'
import { tempDir } from '../../bench/lib/fixtures.js'
import { BKC_BIN, runBkc, spawnBkc, stopProcess, waitFor } from '../helpers/node-fixtures.js'

const A = '192.168.53.5'
const B = '192.168.54.5'

async function startSim(t: Test, opts: Partial<SimulatorOptions> = {}): Promise<SimulatorServer> {
  const sim = await SimulatorServer.start({ staticKey: TunnelKeyPair.generate(), host: '127.0.0.1', port: 0, statsLogMs: 0, ...opts })
  t.teardown(() => sim.stop())
  return sim
}

async function join2(
  t: Test,
  sim: SimulatorServer,
  ip: string,
  opts: { key?: TunnelKeyPair; encrypt?: boolean; secret?: string; gso?: boolean } = {},
) {
  const key = opts.key ?? TunnelKeyPair.generate()
  const { client, outcome } = await TunnelTestClient.connect({ port: sim.address.port, key, ip, ...opts })
  t.teardown(() => client.destroy())
  return { client, outcome, key }
}

async function registered(t: Test, sim: SimulatorServer, ip: string, opts: { key?: TunnelKeyPair; encrypt?: boolean; gso?: boolean } = {}) {
  const r = await join2(t, sim, ip, opts)
  t.same(r.outcome, { kind: 'welcome', ip, leaseSeconds: Math.round(sim.leases.graceMs / 1000) }, `${ip} registered`)
  return r
}

function clientStats(sim: SimulatorServer, ip: string) {
  return sim.stats.toJSON().clients.find((c) => c.ip === ip)
}

for (const encrypt of [true, false]) {
  t.test(`a packet from one client reaches the other byte-identical (${encrypt ? 'encrypted' : '--no-encrypt'})`, async (t) => {
    const sim = await startSim(t, { encrypt })
    const a = await registered(t, sim, A, { encrypt: true })
    const b = await registered(t, sim, B, { encrypt: true })
    t.equal(a.client.session!.encrypted, encrypt, 'the server decides encryption')
    const packet = buildIPv4Packet(A, B, randomBytes(1200))
    a.client.sendPacket(packet)
    const got = await b.client.nextOf('PACKET')
    t.ok(got.data.equals(packet), 'same bytes')
    const reply = buildIPv4Packet(B, A, randomBytes(33))
    b.client.sendPacket(reply)
    t.ok((await a.client.nextOf('PACKET')).data.equals(reply), 'and back')
    const sa = clientStats(sim, A)!
    t.equal(sa.packetsIn, 1)
    t.equal(sa.packetsOut, 1)
    t.equal(sa.bytesOut, reply.length)
  })
}

t.test('leases: another key is refused IP_IN_USE; the same key gets its IP back at once', async (t) => {
  const sim = await startSim(t)
  const first = await registered(t, sim, A)
  const thief = await join2(t, sim, A)
  t.same(thief.outcome, { kind: 'refused', code: 'IP_IN_USE', reason: `${A} is in use by another client` })
  await thief.client.waitClosed()

  // Unclean exit; the server may not have noticed yet when the key reconnects.
  first.client.destroy()
  const back = await registered(t, sim, A, { key: first.key })
  const b = await registered(t, sim, B)
  const packet = buildIPv4Packet(B, A, Buffer.from('after the reconnect'))
  b.client.sendPacket(packet)
  t.ok((await back.client.nextOf('PACKET')).data.equals(packet), 'the reconnected client receives')

  // Closed and in grace: still not another key's.
  back.client.destroy()
  await waitFor('the lease to enter grace', () => sim.leases.owner(0xc0a83505) === undefined, { timeoutMs: 5000 })
  const again = await join2(t, sim, A)
  t.equal(again.outcome.kind === 'refused' && again.outcome.code, 'IP_IN_USE', 'held during grace')
})

t.test('a second connection of the same key replaces the first', async (t) => {
  const entries: Array<Record<string, unknown>> = []
  const logger = winston.createLogger({
    level: 'info',
    transports: [
      new winston.transports.Stream({
        stream: new Writable({ objectMode: true, write: (entry, _enc, done) => done(void entries.push(entry)) }),
      }),
    ],
  })
  const sim = await startSim(t, { logger })
  const key = TunnelKeyPair.generate()
  const old = await registered(t, sim, A, { key })
  await registered(t, sim, A, { key })
  await old.client.waitClosed()
  t.pass('the old connection was closed')
  const logged = entries.filter((e) => e.message === 'client registered')
  t.equal(logged.length, 2)
  t.notOk('replaced' in logged[0]!, 'nothing replaced: no field')
  t.equal(logged[1]!.replaced, logged[0]!.conn, 'the replaced connection, by id')
})

t.test('drops: spoofed source, unknown destination, non-IPv4, outside the subnet', async (t) => {
  const sim = await startSim(t)
  const a = await registered(t, sim, A)
  const b = await registered(t, sim, B)
  a.client.sendPacket(buildIPv4Packet('192.168.54.5', B)) // B's address as source
  a.client.sendPacket(buildIPv4Packet(A, '192.168.99.9'))
  const v6 = Buffer.alloc(40)
  v6[0] = 0x60
  a.client.sendPacket(v6)
  a.client.sendPacket(buildIPv4Packet(A, '10.0.0.1'))
  const marker = buildIPv4Packet(A, B, Buffer.from('marker'))
  a.client.sendPacket(marker)
  t.ok((await b.client.nextOf('PACKET')).data.equals(marker), 'only the good packet arrives')
  t.equal(b.client.inbox.filter((m) => m.type === 'PACKET').length, 0, 'nothing else arrived')
  const s = clientStats(sim, A)!
  t.equal(s.packetsIn, 5)
  t.equal(s.packetsOut, 0)
  t.match(s.drops, { SPOOFED: 1, UNKNOWN_DESTINATION: 1, NOT_IPV4: 1, OUT_OF_SUBNET: 1, QUEUE_FULL: 0 })
  t.equal(s.dropped, 4)
  t.equal(clientStats(sim, B)!.packetsOut, 1)
})

t.test('claims outside the subnet and wrong secrets are refused', async (t) => {
  const sim = await startSim(t, { subnet: parseSubnet('192.168.0.0/16'), secret: 'open sesame' })
  const outside = await join2(t, sim, '10.1.2.3', { secret: 'open sesame' })
  t.match(outside.outcome, {
    kind: 'refused',
    code: 'OUT_OF_SUBNET',
    reason: /10\.1\.2\.3 is outside the simulator's subnet 192\.168\.0\.0\/16/,
  })
  const wrong = await join2(t, sim, A, { secret: 'guess' })
  t.match(wrong.outcome, { kind: 'refused', code: 'BAD_SECRET', reason: /wrong/ })
  const none = await join2(t, sim, A)
  t.match(none.outcome, { kind: 'refused', code: 'BAD_SECRET', reason: /requires a network secret/ })
  const right = await join2(t, sim, A, { secret: 'open sesame' })
  t.match(right.outcome, { kind: 'welcome', ip: A })
})

t.test('allow-list: other keys are refused NOT_ALLOWED', async (t) => {
  const allowed = TunnelKeyPair.generate()
  const keys = parseAllowList(`# lab VMs\n${allowed.publicKey.toString('hex').toUpperCase()}\n\n`, 'allow.txt')
  t.throws(() => parseAllowList('nonsense\n', 'allow.txt'), /allow\.txt line 1/)
  const sim = await startSim(t, { allowKeys: keys })
  await registered(t, sim, A, { key: allowed })
  const other = await join2(t, sim, B)
  t.match(other.outcome, { kind: 'refused', code: 'NOT_ALLOWED' })
})

t.test('a client that never finishes the handshake is dropped after the limit', async (t) => {
  const sim = await startSim(t, { handshakeTimeoutMs: 200 })
  const raw = await TunnelTestClient.connectRaw(sim.address.port)
  t.teardown(() => raw.destroy())
  const msg = await raw.next(5000)
  t.match(msg, { type: 'ERROR', code: 'TIMEOUT' })
  await raw.waitClosed()
  await waitFor('the server to forget the link', () => sim.connectionCount === 0, { timeoutMs: 5000 })
  t.pass('dropped')
})

t.test('a silent registered client is closed; an idle one gets keepalives', async (t) => {
  const sim = await startSim(t, { keepaliveMs: 100, idleTimeoutMs: 600 })
  const a = await registered(t, sim, A)
  await a.client.nextOf('KEEPALIVE', 3000)
  t.pass('keepalive received')
  const err = await a.client.nextOf('ERROR', 5000)
  t.equal(err.code, 'TIMEOUT')
  await a.client.waitClosed()
})

t.test('stop() sends RESTARTING to every client', async (t) => {
  const sim = await startSim(t)
  const a = await registered(t, sim, A)
  const b = await registered(t, sim, B)
  await sim.stop()
  for (const c of [a, b]) {
    await c.client.nextOf('RESTARTING')
    await c.client.waitClosed()
  }
  t.pass('both told and closed')
})

t.test('the stats endpoint returns per-client counters', async (t) => {
  const sim = await startSim(t, { statsPort: 0 })
  const a = await registered(t, sim, A)
  const b = await registered(t, sim, B)
  a.client.sendPacket(buildIPv4Packet(A, B, Buffer.alloc(100)))
  a.client.sendPacket(buildIPv4Packet(A, '192.168.99.9'))
  await b.client.nextOf('PACKET')
  await waitFor('the drop to be counted', () => clientStats(sim, A)!.dropped === 1)
  const { host, port } = sim.statsAddress!
  const res = await fetch(`http://${host}:${port}/stats`, { signal: AbortSignal.timeout(5000) })
  t.equal(res.status, 200)
  const body = (await res.json()) as { clients: Array<Record<string, unknown>>; totals: Record<string, unknown> }
  t.equal(body.clients.length, 2)
  t.match(body.clients[0], {
    ip: A,
    key: a.key.publicKey.toString('hex'),
    packetsIn: 2,
    bytesIn: 120 + 20,
    packetsOut: 0,
    drops: { UNKNOWN_DESTINATION: 1 },
  })
  t.match(body.clients[1], { ip: B, packetsIn: 0, packetsOut: 1, bytesOut: 120 })
  t.match(body.totals, { clients: 2, packetsIn: 2, dropped: 1 })
  const missing = await fetch(`http://${host}:${port}/nope`, { signal: AbortSignal.timeout(5000) })
  t.equal(missing.status, 404)
})

t.test('a slow receiver does not stall another pair; its drops are QUEUE_FULL', async (t) => {
  const sim = await startSim(t, { maxQueueBytes: 64 * 1024 })
  const slowIp = '192.168.60.5'
  const floodIp = '192.168.61.5'
  const slow = await registered(t, sim, slowIp)
  const flood = await registered(t, sim, floodIp)
  const a = await registered(t, sim, A)
  const b = await registered(t, sim, B)
  slow.client.socket.pause()
  const big = buildIPv4Packet(floodIp, slowIp, randomBytes(1380))
  // Send until the slow client's queue overflows (kernel buffers first fill up); bounded.
  for (let i = 0; i < 200 && (clientStats(sim, slowIp)?.drops.QUEUE_FULL ?? 0) === 0; i++) {
    for (let k = 0; k < 500; k++) flood.client.sendPacket(big)
    await flood.client.drain()
    await new Promise((r) => setImmediate(r))
  }
  await waitFor('QUEUE_FULL against the slow client', () => (clientStats(sim, slowIp)?.drops.QUEUE_FULL ?? 0) > 0, { timeoutMs: 10_000 })
  const packet = buildIPv4Packet(A, B, Buffer.from('still flowing'))
  a.client.sendPacket(packet)
  t.ok((await b.client.nextOf('PACKET')).data.equals(packet), 'the other pair is unaffected')
  t.equal(clientStats(sim, floodIp)!.drops.QUEUE_FULL, 0, 'counted against the receiver, not the sender')
})

t.test('rate limit: packets over the per-client rate are dropped RATE_LIMITED', async (t) => {
  const sim = await startSim(t, { rateLimitPps: 5 })
  const a = await registered(t, sim, A)
  await registered(t, sim, B)
  for (let i = 0; i < 20; i++) a.client.sendPacket(buildIPv4Packet(A, B, Buffer.from([i])))
  await waitFor('all 20 counted', () => clientStats(sim, A)!.packetsIn === 20)
  const s = clientStats(sim, A)!
  t.ok(s.drops.RATE_LIMITED >= 14, `most dropped (${s.drops.RATE_LIMITED})`)
  t.equal(s.drops.RATE_LIMITED + clientStats(sim, B)!.packetsOut, 20)
})

t.test('the server key is created once (mode 0600) and reloaded', async (t) => {
  const dir = tempDir('bkc-sim-key-')
  t.teardown(dir.cleanup)
  const data = join(dir.path, 'data', 'simulator')
  const first = await loadOrCreateServerKey(data)
  t.equal(first.created, true)
  const { statSync } = await import('node:fs')
  t.equal(statSync(first.path).mode & 0o777, 0o600)
  const second = await loadOrCreateServerKey(data)
  t.equal(second.created, false)
  t.ok(second.key.publicKey.equals(first.key.publicKey), 'same key after a restart')
})

t.test('bkc simulator: usage errors exit 2, SIGTERM tells clients and exits 0', async (t) => {
  if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first`)
  const dir = tempDir('bkc-sim-cli-')
  t.teardown(dir.cleanup)
  const cases: Array<[string[], RegExp]> = [
    [['--port', '70000'], /--port must be a port number.*"70000"/],
    [['--subnet', '192.168.1.0/16'], /--subnet: .*host bits set/],
    [['--max-clients', '0'], /--max-clients must be an integer/],
    [['--secret', 'a', '--secret-file', 'b'], /mutually exclusive/],
    [['--host', 'nowhere'], /--host must be an IP address/],
  ]
  for (const [flags, message] of cases) {
    const r = await runBkc(['simulator', '--data-dir', join(dir.path, 'd'), ...flags], { cwd: dir.path })
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`)
    t.match(r.stderr, message)
  }

  const proc = spawnBkc(['simulator', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir.path, 'd')], { cwd: dir.path })
  t.teardown(() => stopProcess(proc))
  const port = await waitFor(
    '"simulator listening"',
    () => {
      if (proc.hasExited()) throw new Error(`exited early:\n${proc.stderr()}`)
      const m = /simulator listening address=127\.0\.0\.1:(\d+) serverKey=([0-9a-f]{64})/.exec(proc.stderr())
      return m ? Number(m[1]) : undefined
    },
    { timeoutMs: 20_000 },
  )
  const { client, outcome } = await TunnelTestClient.connect({ port, key: TunnelKeyPair.generate(), ip: A })
  t.teardown(() => client.destroy())
  t.match(outcome as HandshakeOutcome, { kind: 'welcome', ip: A })
  proc.child.kill('SIGTERM')
  await client.nextOf('RESTARTING')
  const { code } = await proc.exited
  t.equal(code, 0, 'exit 0')
})

for (const encrypt of [true, false]) {
  t.test(
    `GSO_PACKET frames: as is to gso clients, as segments to others, checked (${encrypt ? 'encrypted' : '--no-encrypt'})`,
    async (t) => {
      const sim = await startSim(t, { encrypt })
      const a = await registered(t, sim, A, { gso: true })
      const b = await registered(t, sim, B, { gso: true })
      const C = '192.168.55.5'
      const c = await registered(t, sim, C)
      // A 10-byte virtio_net_hdr (NEEDS_CSUM, TCPV4, gso_size 1360) before a 30 KB packet, as the kernel hands it over.
      const vnet = Buffer.from([1, 1, 40, 0, 0x50, 0x05, 34, 0, 16, 0])
      const big = Buffer.concat([vnet, buildIPv4Packet(A, B, randomBytes(30_000), 6)])
      a.client.send({ type: 'GSO_PACKET', data: big })
      const got = await b.client.nextOf('GSO_PACKET')
      t.ok(got.data.equals(big), 'header and super-packet arrive byte-identical')
      const payload = randomBytes(4000)
      a.client.send({ type: 'GSO_PACKET', data: buildTcpSuperPacket(A, C, payload, 1000) })
      const segs = [] as Buffer[]
      for (let i = 0; i < 4; i++) segs.push((await c.client.nextOf('PACKET')).data)
      t.ok(Buffer.concat(segs.map((s) => s.subarray(40))).equals(payload), 'a client without gso gets the segments, in order')
      a.client.send({ type: 'GSO_PACKET', data: Buffer.concat([vnet, buildIPv4Packet('192.168.99.9', B, randomBytes(100), 6)]) })
      const bad = buildTcpSuperPacket(A, B, randomBytes(100), 1000)
      bad[0] = 2 // an unknown virtio flag: a receiving kernel would refuse the write
      a.client.send({ type: 'GSO_PACKET', data: bad })
      const withOptions = buildTcpSuperPacket(A, C, randomBytes(3000), 1000)
      withOptions[10] = 0x46 // IHL 6: cannot be segmented here
      a.client.send({ type: 'GSO_PACKET', data: withOptions })
      c.client.send({ type: 'GSO_PACKET', data: buildTcpSuperPacket(C, B, randomBytes(100), 1000) })
      const marker = buildIPv4Packet(A, B, Buffer.from('after'))
      a.client.sendPacket(marker)
      t.ok((await b.client.nextOf('PACKET')).data.equals(marker), 'plain packets still flow')
      const drops = clientStats(sim, A)!.drops
      t.equal(drops.SPOOFED, 1, 'the source check looks past the virtio header')
      t.equal(drops.MALFORMED, 1, 'a virtio header a kernel would refuse is dropped')
      t.equal(drops.GSO_UNSUPPORTED, 1, 'a super-packet that cannot be segmented for a client without gso is dropped')
      await waitFor('the GSO_PACKET from C counted', () => clientStats(sim, C)!.drops.MALFORMED === 1, { timeoutMs: 5000 })
      t.pass('GSO_PACKET from a client that did not say gso is dropped')
    },
  )
}
