// VpnClient against a real SimulatorServer over loopback TCP, with each TUN
// replaced by an in-memory packet pipe (no root, no interfaces): relaying in
// both directions, offload headers, what is never sent, coming back after a
// simulator restart or outage, fatal refusals, key pinning, dead links, and
// stop().
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { TunnelKeyPair } from '../../protocol/tunnel/crypto.js'
import { encodeTunnelFrame, VNET_HDR_BYTES } from '../../protocol/tunnel/messages.js'
import { SimulatorServer, type SimulatorOptions } from '../../simulator/server.js'
import { silentLogger } from '../../lib/log.js'
import { VpnClient, VpnFatalError, type VpnClientOptions } from '../../vpn-client/client.js'
import { buildIPv4Packet, buildTcpSuperPacket } from '../helpers/tunnel-client.js'
import { packetPipe, PacketSink } from '../helpers/packet-pipe.js'
import { sleep, waitFor } from '../helpers/node-fixtures.js'

const A = '192.168.53.5'
const B = '192.168.54.5'
const C = '192.168.55.5'
const ZERO_HDR = Buffer.alloc(VNET_HDR_BYTES)
/** A virtio_net_hdr as the kernel hands over a TCP super-packet: NEEDS_CSUM, TCPV4, hdr_len 40, gso_size 1360, csum 34/16. */
const GSO_HDR = Buffer.from([1, 1, 40, 0, 0x50, 0x05, 34, 0, 16, 0])
const OPEN_MS = 10_000

async function startSim(t: Test, opts: Partial<SimulatorOptions> = {}): Promise<SimulatorServer> {
  const sim = await SimulatorServer.start({ staticKey: TunnelKeyPair.generate(), host: '127.0.0.1', port: 0, statsLogMs: 0, ...opts })
  t.teardown(() => sim.stop())
  return sim
}

interface Vpn {
  client: VpnClient
  /** The kernel side of the client's TUN. */
  kernel: PacketSink
  key: TunnelKeyPair
  fatal: VpnFatalError[]
}

function startClient(t: Test, port: number, ip: string, opts: Partial<VpnClientOptions> = {}): Vpn {
  const [tun, kernelEnd] = packetPipe()
  const key = opts.key ?? TunnelKeyPair.generate()
  const client = new VpnClient(
    {
      host: '127.0.0.1',
      port,
      ip,
      mtu: 1400,
      key,
      encrypt: true,
      offload: false,
      logger: silentLogger(),
      minBackoffMs: 50,
      maxBackoffMs: 400,
      ...opts,
    },
    tun,
  )
  const fatal: VpnFatalError[] = []
  client.on('fatal', (err: VpnFatalError) => fatal.push(err))
  t.teardown(() => client.stop())
  return { client, kernel: new PacketSink(kernelEnd), key, fatal }
}

async function openClient(t: Test, port: number, ip: string, opts: Partial<VpnClientOptions> = {}): Promise<Vpn> {
  const vpn = startClient(t, port, ip, opts)
  await vpn.client.waitOpen(OPEN_MS)
  return vpn
}

/** Sends `packet` into `from`'s TUN and checks that `to`'s kernel gets `expected` (default: the same bytes). */
async function relays(t: Test, from: Vpn, to: Vpn, packet: Buffer, expected = packet, what = 'byte-identical'): Promise<void> {
  from.kernel.send(packet)
  const got = await to.kernel.next()
  t.ok(got.equals(expected), what)
}

/** A listener that counts connection attempts and does nothing else with them unless told. */
async function rawServer(
  t: Test,
  onConnection: (socket: net.Socket) => void = () => {},
  port = 0,
): Promise<{ port: number; attempts: () => number }> {
  let attempts = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    attempts++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    onConnection(socket)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, attempts: () => attempts }
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function simStats(sim: SimulatorServer, ip: string) {
  return sim.stats.toJSON().clients.find((c) => c.ip === ip)
}

t.test('the packet pipe keeps packet boundaries, also across pause and resume', async (t) => {
  const [left, right] = packetPipe()
  const sink = new PacketSink(right)
  const packets = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]
  for (const p of packets) left.write(p)
  for (const p of packets) t.same(await sink.next(), p)
  right.pause()
  for (const p of packets) left.write(p)
  await sleep(20)
  right.resume()
  for (const p of packets) t.same(await sink.next(), p)
  t.equal(sink.packets.length, 0, 'nothing glued or left over')
})

for (const encrypt of [true, false]) {
  t.test(`two clients relay packets byte-identical both ways (${encrypt ? 'encrypted' : '--no-encrypt'})`, async (t) => {
    const sim = await startSim(t, { encrypt })
    const openEvents: unknown[] = []
    const a = startClient(t, sim.address.port, A)
    a.client.on('open', (e) => openEvents.push(e))
    await a.client.waitOpen(OPEN_MS)
    const b = await openClient(t, sim.address.port, B)
    t.same(openEvents, [{ encrypted: encrypt, serverKey: sim.staticKey.publicKey.toString('hex') }], 'the open event says what was agreed')
    t.ok(a.client.isOpen && b.client.isOpen)
    const up = buildIPv4Packet(A, B, randomBytes(1200))
    await relays(t, a, b, up)
    await relays(t, b, a, buildIPv4Packet(B, A, randomBytes(33)), undefined, 'and back')
    t.match(a.client.counters, { packetsUp: 1, bytesUp: up.length, packetsDown: 1, bytesDown: 20 + 33, connects: 1, droppedNotIPv4: 0 })
    t.match(simStats(sim, A), { packetsIn: 1, packetsOut: 1 })
  })
}

t.test(
  'offloads: virtio headers are added and removed at the edge; super-packets are cut into segments for clients without offloads',
  async (t) => {
    const sim = await startSim(t)
    const a = await openClient(t, sim.address.port, A, { offload: true })
    const b = await openClient(t, sim.address.port, B, { offload: false })
    const c = await openClient(t, sim.address.port, C, { offload: true })

    const ab = buildIPv4Packet(A, B, randomBytes(500))
    await relays(t, a, b, Buffer.concat([ZERO_HDR, ab]), ab, 'a zero-header read arrives bare at a client without offloads')
    const ba = buildIPv4Packet(B, A, randomBytes(500))
    await relays(t, b, a, ba, Buffer.concat([ZERO_HDR, ba]), 'a bare packet arrives after 10 zero bytes at an offload client')

    const payload = randomBytes(3000)
    a.kernel.send(buildTcpSuperPacket(A, B, payload, 1360))
    const segments = [await b.kernel.next(), await b.kernel.next(), await b.kernel.next()]
    t.same(
      segments.map((s) => s.length - 40),
      [1360, 1360, 280],
      'B gets three MSS-sized TCP segments, bare',
    )
    t.ok(Buffer.concat(segments.map((s) => s.subarray(40))).equals(payload), 'carrying the payload in order')
    const badHeader = buildTcpSuperPacket(A, B, randomBytes(100), 1360)
    badHeader[1] = 0x7f
    a.kernel.send(badHeader)
    const marker = buildIPv4Packet(A, B, Buffer.from('after the super-packet'))
    await relays(t, a, b, Buffer.concat([ZERO_HDR, marker]), marker, 'plain packets still flow')
    t.equal(b.kernel.packets.length, 0, 'the bad header did not reach B')
    await waitFor('MALFORMED against A', () => simStats(sim, A)?.drops.MALFORMED === 1, { timeoutMs: 5000 })

    const superToC = Buffer.concat([GSO_HDR, buildIPv4Packet(A, C, randomBytes(30_000), 6)])
    await relays(t, a, c, superToC, superToC, 'a super-packet reaches an offload client byte-identical, header included')
    t.equal(a.client.counters.packetsUp, 5, 'every IPv4 read went up')
  },
)

t.test('IPv6 and runt reads are never sent', async (t) => {
  const sim = await startSim(t)
  const a = await openClient(t, sim.address.port, A)
  const b = await openClient(t, sim.address.port, B)
  const v6 = Buffer.alloc(60)
  v6[0] = 0x60
  a.kernel.send(v6)
  a.kernel.send(buildIPv4Packet(A, B).subarray(0, 12))
  const marker = buildIPv4Packet(A, B, Buffer.from('marker'))
  await relays(t, a, b, marker)
  t.equal(b.kernel.packets.length, 0, 'only the marker arrived')
  t.equal(a.client.counters.droppedNotIPv4, 2)
  t.equal(a.client.counters.packetsUp, 1)
  t.equal(simStats(sim, A)!.packetsIn, 1, 'the simulator saw only the marker')
})

t.test('a simulator restart: both clients come back on their own and packets flow again', async (t) => {
  const staticKey = TunnelKeyPair.generate()
  const first = await startSim(t, { staticKey })
  const port = first.address.port
  const a = await openClient(t, port, A, { serverKey: staticKey.publicKey })
  const b = await openClient(t, port, B)
  await relays(t, a, b, buildIPv4Packet(A, B, Buffer.from('before')))

  const signal = AbortSignal.timeout(20_000)
  const downs = [once(a.client, 'down', { signal }), once(b.client, 'down', { signal })]
  const reopened = [once(a.client, 'open', { signal }), once(b.client, 'open', { signal })]
  for (const p of [...downs, ...reopened]) p.catch(() => {}) // awaited below; not unhandled if an earlier one fails
  await first.stop()
  for (const down of downs) t.same(await down, [{ why: 'simulator restarting' }], 'down, told why')
  await sleep(100) // a few failed attempts while nothing listens
  const second = await startSim(t, { staticKey, port })
  await Promise.all(reopened)
  t.pass('both reopened')

  await relays(t, a, b, buildIPv4Packet(A, B, Buffer.from('after')))
  await relays(t, b, a, buildIPv4Packet(B, A, Buffer.from('and back')))
  t.equal(a.client.counters.connects, 2)
  t.equal(b.client.counters.connects, 2)
  t.same(a.fatal.concat(b.fatal), [], 'nothing fatal')
  t.equal(second.stats.clientCount, 2)
})

t.test('simulator down at client start: the client retries and registers once one appears', async (t) => {
  const port = await freePort()
  const a = startClient(t, port, A)
  a.kernel.send(buildIPv4Packet(A, B))
  await waitFor('the read to be dropped', () => a.client.counters.droppedDisconnected === 1, { timeoutMs: 5000 })
  await sleep(300)
  t.notOk(a.client.isOpen)
  t.same(a.fatal, [], 'an unreachable simulator is not fatal')
  await startSim(t, { port })
  await a.client.waitOpen(OPEN_MS)
  t.equal(a.client.counters.connects, 1)
})

t.test('another key claiming a held IP is fatal IP_IN_USE; the holder is unaffected', async (t) => {
  const sim = await startSim(t)
  const port = sim.address.port
  const holder = await openClient(t, port, A)
  const b = await openClient(t, port, B)
  let holderDown = false
  holder.client.on('down', () => (holderDown = true))

  const thief = startClient(t, port, A)
  const err = await thief.client.waitOpen(OPEN_MS).then(
    () => null,
    (e: unknown) => e,
  )
  t.type(err, VpnFatalError)
  t.match(err, { name: 'VpnFatalError', code: 'IP_IN_USE', message: /is in use by another client/ })
  t.equal(thief.fatal.length, 1, "one 'fatal' event")
  t.equal(thief.fatal[0], err, 'the same error waitOpen rejected with')
  t.notOk(thief.client.isOpen)
  await thief.client.stop()
  t.pass('stop() after fatal resolves')

  t.ok(holder.client.isOpen)
  await relays(t, b, holder, buildIPv4Packet(B, A, Buffer.from('still yours')))
  t.notOk(holderDown, 'the holder never went down')
  await waitFor('the refused link to go', () => sim.connectionCount === 2, { timeoutMs: 5000 })
  await sleep(300)
  t.equal(sim.connectionCount, 2, 'the refused client does not come back')
})

t.test('server key pinning: a mismatch is fatal SERVER_KEY_MISMATCH, the right key opens', async (t) => {
  const sim = await startSim(t)
  const wrong = startClient(t, sim.address.port, A, { serverKey: TunnelKeyPair.generate().publicKey })
  await t.rejects(wrong.client.waitOpen(OPEN_MS), { name: 'VpnFatalError', code: 'SERVER_KEY_MISMATCH' })
  t.equal(wrong.fatal.length, 1)
  const right = await openClient(t, sim.address.port, A, { serverKey: sim.staticKey.publicKey })
  t.ok(right.client.isOpen)
})

t.test('the same key from a new client after the old one stopped gets its IP back at once', async (t) => {
  const sim = await startSim(t)
  const key = TunnelKeyPair.generate()
  const old = await openClient(t, sim.address.port, A, { key })
  const b = await openClient(t, sim.address.port, B)
  await old.client.stop()
  const again = await openClient(t, sim.address.port, A, { key })
  t.same(again.fatal, [], 'no IP_IN_USE for its own key')
  t.equal(again.client.counters.connects, 1, 'registered on the first attempt')
  await relays(t, b, again, buildIPv4Packet(B, A, Buffer.from('welcome back')))
  t.equal(old.kernel.packets.length, 0, 'the stopped client receives nothing')
})

t.test('a dead link: the handshake timeout closes it and the client retries', async (t) => {
  const raw = await rawServer(t)
  const a = startClient(t, raw.port, A, { handshakeTimeoutMs: 150, keepaliveMs: 200 })
  await waitFor('a second connection attempt', () => raw.attempts() >= 2, { timeoutMs: 15_000 })
  t.notOk(a.client.isOpen)
  t.same(a.fatal, [], 'a silent simulator is not fatal')
})

t.test('a server that keeps talking cannot hold the handshake open past its deadline', async (t) => {
  // A frame announced whole but trickled a byte at a time: bytes keep arriving, no message ever completes.
  const frame = encodeTunnelFrame({ type: 'PACKET', data: Buffer.alloc(60_000) })
  const raw = await rawServer(t, (socket) => {
    let at = 0
    const timer = setInterval(() => socket.write(frame.subarray(at, ++at)), 20)
    socket.on('close', () => clearInterval(timer))
  })
  const a = startClient(t, raw.port, A, { handshakeTimeoutMs: 300, keepaliveMs: 200 })
  await waitFor('a second connection attempt', () => raw.attempts() >= 2, { timeoutMs: 15_000 })
  t.notOk(a.client.isOpen)
  t.same(a.fatal, [], 'not fatal')
})

t.test('a plain REFUSED before the handshake is not a verdict: the client retries', async (t) => {
  // Anyone who can answer on the port could send this; the simulator only refuses after AUTH.
  const raw = await rawServer(t, (socket) => {
    socket.write(encodeTunnelFrame({ type: 'REFUSED', code: 'IP_IN_USE', reason: '192.168.53.5 is in use by another client' }))
  })
  const a = startClient(t, raw.port, A, { handshakeTimeoutMs: 2000 })
  await waitFor('a second connection attempt', () => raw.attempts() >= 2, { timeoutMs: 15_000 })
  t.same(a.fatal, [], 'IP_IN_USE from before AUTH is not fatal')
})

t.test('an open link on which the simulator goes silent is dropped by the idle timeout and reopened', async (t) => {
  // The simulator's keepalives are what the client's idle timeout waits for: they must come more often.
  const sim = await startSim(t, { keepaliveMs: 100 })
  // A proxy that can stop forwarding the simulator's side of the current connections.
  let muted = false
  let connections = 0
  const proxy = await rawServer(t, (socket) => {
    const first = ++connections === 1
    const up = net.connect(sim.address.port, '127.0.0.1')
    up.on('error', () => socket.destroy())
    socket.on('close', () => up.destroy())
    up.on('close', () => socket.destroy())
    socket.on('data', (d: Buffer) => up.write(d))
    up.on('data', (d: Buffer) => {
      if (!(muted && first)) socket.write(d)
    })
  })
  const a = await openClient(t, proxy.port, A, { keepaliveMs: 100, idleTimeoutMs: 600 })
  const down = once(a.client, 'down', { signal: AbortSignal.timeout(15_000) })
  const reopened = once(a.client, 'open', { signal: AbortSignal.timeout(15_000) })
  reopened.catch(() => {}) // awaited below; not unhandled if `down` fails first
  muted = true
  t.same(await down, [{ why: 'connection lost' }])
  await reopened
  t.equal(a.client.counters.connects, 2)
  t.ok(proxy.attempts() >= 2)
})

t.test('keepalives keep a quiet link open', async (t) => {
  const sim = await startSim(t, { keepaliveMs: 100, idleTimeoutMs: 1500 })
  const a = await openClient(t, sim.address.port, A, { keepaliveMs: 100, idleTimeoutMs: 1500 })
  let downs = 0
  a.client.on('down', () => downs++)
  await sleep(2500)
  t.equal(downs, 0, 'never went down')
  t.ok(a.client.isOpen)
  t.equal(a.client.counters.connects, 1)
})

t.test('stop() resolves and ends all reconnecting', async (t) => {
  t.test('while open', async (t) => {
    const sim = await startSim(t)
    const a = await openClient(t, sim.address.port, A)
    await a.client.stop()
    t.notOk(a.client.isOpen)
    await waitFor('the simulator to see the link go', () => sim.connectionCount === 0, { timeoutMs: 5000 })
    await sleep(500)
    t.equal(sim.connectionCount, 0, 'no new connection')
    t.equal(a.client.counters.connects, 1)
    await a.client.stop()
    t.pass('a second stop() resolves too')
  })

  t.test('while retrying against a listener that hangs up at once', async (t) => {
    const raw = await rawServer(t, (socket) => socket.destroy())
    const a = startClient(t, raw.port, A)
    await waitFor('a few attempts', () => raw.attempts() >= 2, { timeoutMs: 10_000 })
    await a.client.stop()
    const seen = raw.attempts()
    await sleep(700) // beyond the largest backoff (400 ms + 20 % jitter)
    t.equal(raw.attempts(), seen, 'no attempt after stop()')
  })

  t.test('in the middle of a handshake that never finishes', async (t) => {
    const raw = await rawServer(t)
    const a = startClient(t, raw.port, A)
    await waitFor('the connection', () => raw.attempts() === 1, { timeoutMs: 10_000 })
    await a.client.stop()
    await sleep(700)
    t.equal(raw.attempts(), 1, 'no attempt after stop()')
  })
})
