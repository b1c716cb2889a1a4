import t from 'tap'
import fc from 'fast-check'
import { ipFromString } from '../../../protocol/tunnel/ipv4.js'
import { LeaseTable } from '../../../simulator/leases.js'
import { isDelivery, ROUTER_DROP_REASONS, Router, type RouteResult } from '../../../simulator/router.js'
import { DROP_REASONS, formatBytes, Stats } from '../../../simulator/stats.js'
import { parseSubnet } from '../../../protocol/tunnel/subnet.js'

function ip(text: string): number {
  const value = ipFromString(text)
  if (value === null) throw new Error(`bad test address ${text}`)
  return value
}

const A = ip('192.168.53.5')
const B = ip('192.168.54.5')
const KEY_A = 'aa'.repeat(32)
const KEY_B = 'bb'.repeat(32)

/** An IPv4/UDP-shaped packet of `length` bytes. */
function ipv4(src: number, dst: number, length = 48): Buffer {
  const p = Buffer.alloc(length)
  p[0] = 0x45
  p.writeUInt16BE(length, 2)
  p[8] = 64
  p[9] = 17
  p.writeUInt32BE(src, 12)
  p.writeUInt32BE(dst, 16)
  return p
}

function setup() {
  const clock = { now: 0 }
  const leases = new LeaseTable({ subnet: parseSubnet('192.168.0.0/16'), graceMs: 60_000, now: () => clock.now })
  if (!leases.claim(A, KEY_A, 1).ok || !leases.claim(B, KEY_B, 2).ok) throw new Error('setup claims failed')
  return { leases, router: new Router(leases), clock }
}

t.test('delivers by destination to the connection holding it', async (t) => {
  const { router } = setup()
  const r = router.route(1, ipv4(A, B))
  t.equal(r, 2)
  t.ok(isDelivery(r))
  t.equal(router.route(2, ipv4(B, A)), 1)
  t.equal(router.route(1, ipv4(A, A)), 1, 'a packet to the sender itself goes back down its tunnel')
  t.equal(router.route(1, ipv4(A, B, 65535)), 2, 'largest packet')

  const pool = Buffer.concat([Buffer.alloc(13, 0xff), ipv4(A, B), Buffer.alloc(5)])
  t.equal(router.route(1, pool.subarray(13, 13 + 48)), 2, 'a view into a larger buffer')
  const padded = Buffer.concat([ipv4(A, B, 28), Buffer.alloc(18)])
  t.equal(router.route(1, padded), 2, 'bytes after Total Length are tolerated')
})

t.test('every drop reason', async (t) => {
  const { leases, router } = setup()
  const ipv6 = Buffer.alloc(60)
  ipv6[0] = 0x60
  const cases: Array<[string, number, Uint8Array, RouteResult]> = [
    ['IPv6', 1, ipv6, 'NOT_IPV4'],
    ['IPv6 from an unregistered connection: the packet is judged first', 99, ipv6, 'NOT_IPV4'],
    ['empty', 1, new Uint8Array(0), 'MALFORMED'],
    ['truncated header', 1, ipv4(A, B).subarray(0, 19), 'MALFORMED'],
    ['Total Length past the end', 1, ipv4(A, B).subarray(0, 47), 'MALFORMED'],
    ['unknown connection', 99, ipv4(A, B), 'NOT_REGISTERED'],
    ["another client's source", 1, ipv4(B, A), 'SPOOFED'],
    ['unspecified source', 1, ipv4(0, B), 'SPOOFED'],
    ['spoofed and out of subnet: spoofing wins', 1, ipv4(ip('8.8.8.8'), ip('8.8.4.4')), 'SPOOFED'],
    ['internet destination', 1, ipv4(A, ip('8.8.8.8')), 'OUT_OF_SUBNET'],
    ['multicast', 1, ipv4(A, ip('224.0.0.251')), 'OUT_OF_SUBNET'],
    ['limited broadcast', 1, ipv4(A, ip('255.255.255.255')), 'OUT_OF_SUBNET'],
    ['free address', 1, ipv4(A, ip('192.168.99.9')), 'UNKNOWN_DESTINATION'],
    ['subnet broadcast', 1, ipv4(A, ip('192.168.255.255')), 'UNKNOWN_DESTINATION'],
  ]
  for (const [name, from, packet, expected] of cases) t.equal(router.route(from, packet), expected, name)

  leases.release(2)
  t.equal(router.route(1, ipv4(A, B)), 'UNKNOWN_DESTINATION', 'destination in grace')
  t.equal(router.route(2, ipv4(B, A)), 'NOT_REGISTERED', 'released sender')

  t.same(leases.claim(A, KEY_A, 3), { ok: true, replaced: 1 })
  t.equal(router.route(1, ipv4(A, A)), 'NOT_REGISTERED', 'the replaced connection sends nothing more')
  t.equal(router.route(3, ipv4(A, A)), 3)
})

t.test('property: route never throws and only delivers what the rules allow', async (t) => {
  const { leases, router } = setup()
  const addr = fc.oneof(fc.constantFrom(A, B, 0, ip('192.168.0.7'), ip('10.0.0.1')), fc.nat({ max: 0xffffffff }))
  const packets = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(addr, addr, fc.integer({ min: 20, max: 80 })).map(([s, d, n]) => ipv4(s, d, n)),
  )
  const allowed = new Set<RouteResult>(ROUTER_DROP_REASONS)
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 3), packets, (from, packet) => {
      const r = router.route(from, packet)
      if (!isDelivery(r)) return allowed.has(r)
      const view = Buffer.from(packet)
      return leases.ipOf(from) === view.readUInt32BE(12) && leases.owner(view.readUInt32BE(16)) === r
    }),
    { numRuns: 2000 },
  )
  t.pass('held')
})

t.test('stats count traffic per client and in total', async (t) => {
  const clock = { now: Date.UTC(2026, 0, 1) }
  const stats = new Stats({ now: () => clock.now })
  const a = stats.open(1, A, KEY_A)
  clock.now += 1000
  const b = stats.open(2, B, KEY_B)
  t.equal(stats.client(1), a)
  t.equal(stats.clientCount, 2)

  a.countIn(100)
  a.countIn(50)
  b.countOut(100)
  a.countDrop('SPOOFED')
  stats.countDrop(2, 'QUEUE_FULL')
  stats.countDrop(undefined, 'NOT_REGISTERED')
  stats.countDrop(42, 'MALFORMED')

  const json = stats.toJSON()
  t.equal(json.startedAt, '2026-01-01T00:00:00.000Z')
  t.equal(json.uptimeSeconds, 1)
  t.same(
    json.clients.map((c) => [c.connId, c.ip, c.key, c.connectedSince]),
    [
      [1, '192.168.53.5', KEY_A, '2026-01-01T00:00:00.000Z'],
      [2, '192.168.54.5', KEY_B, '2026-01-01T00:00:01.000Z'],
    ],
  )
  t.match(json.clients[0], { packetsIn: 2, bytesIn: 150, packetsOut: 0, bytesOut: 0, dropped: 1, drops: { SPOOFED: 1, QUEUE_FULL: 0 } })
  t.match(json.clients[1], { packetsIn: 0, packetsOut: 1, bytesOut: 100, dropped: 1, drops: { QUEUE_FULL: 1 } })
  t.same(Object.keys(json.clients[0]!.drops), [...DROP_REASONS], 'every reason is listed, zero or not')
  t.match(json.totals, {
    clients: 2,
    packetsIn: 2,
    bytesIn: 150,
    packetsOut: 1,
    bytesOut: 100,
    dropped: 4,
    drops: { SPOOFED: 1, QUEUE_FULL: 1, NOT_REGISTERED: 1, MALFORMED: 1, RATE_LIMITED: 0 },
  })
  t.same(JSON.parse(JSON.stringify(stats)), json, 'toJSON is what JSON.stringify sends')

  stats.close(1)
  stats.close(1)
  t.equal(stats.client(1), undefined)
  t.match(stats.totals(), { clients: 1, packetsIn: 2, bytesIn: 150, dropped: 4 }, 'closed clients stay in the totals')
  a.countIn(1)
  t.equal(stats.totals().packetsIn, 2, 'a closed ClientStats no longer counts')

  const b2 = stats.open(2, B, KEY_B)
  t.not(b2, b)
  t.match(stats.totals(), { clients: 1, packetsOut: 1, drops: { QUEUE_FULL: 1 } }, 'reopening retires the old counters')
  t.equal(b2.packetsOut, 0)
})

t.test('logLine summarises totals and rates since the previous line', async (t) => {
  const clock = { now: 0 }
  const stats = new Stats({ now: () => clock.now })
  t.equal(stats.logLine(), '0 clients; in 0 pkt 0 B, out 0 pkt 0 B; dropped 0')
  const a = stats.open(1, A, KEY_A)
  clock.now += 10_000
  for (let i = 0; i < 10_000; i++) a.countIn(1250)
  a.countOut(500)
  a.countDrop('UNKNOWN_DESTINATION')
  a.countDrop('UNKNOWN_DESTINATION')
  a.countDrop('SPOOFED')
  t.equal(
    stats.logLine(),
    '1 client; in 10000 pkt 12.5 MB, out 1 pkt 500 B; dropped 3 (UNKNOWN_DESTINATION 2, SPOOFED 1); ' +
      'last 10.0 s: in 10 Mbit/s 1000 pkt/s, out 0.0004 Mbit/s 0.1 pkt/s',
  )
  clock.now += 5_000
  t.match(stats.logLine(), /last 5\.0 s: in 0 Mbit\/s 0 pkt\/s, out 0 Mbit\/s 0 pkt\/s$/, 'a new interval each call')
})

t.test('formatBytes uses SI units', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1 kB'],
    [1500, '1.5 kB'],
    [12_345_678, '12.3 MB'],
    [999_499, '999 kB'],
    [999_999_999, '1 GB'],
    [2.5e12, '2.5 TB'],
    [3e18, '3000 PB'],
  ]
  for (const [bytes, text] of cases) t.equal(formatBytes(bytes), text, String(bytes))
})

t.test('a server loop: route, then count as the stats convention says', async (t) => {
  const { router } = setup()
  const stats = new Stats()
  const clients = new Map([
    [1, stats.open(1, A, KEY_A)],
    [2, stats.open(2, B, KEY_B)],
  ])
  const traffic: Array<[number, Buffer]> = [
    [1, ipv4(A, B, 100)],
    [1, ipv4(A, B, 200)],
    [2, ipv4(B, A, 60)],
    [2, ipv4(A, A, 60)],
    [1, ipv4(A, ip('192.168.1.1'), 40)],
  ]
  for (const [from, packet] of traffic) {
    const sender = clients.get(from)!
    sender.countIn(packet.length)
    const r = router.route(from, packet)
    if (isDelivery(r)) clients.get(r)!.countOut(packet.length)
    else sender.countDrop(r)
  }
  t.match(stats.client(1), { packetsIn: 3, bytesIn: 340, packetsOut: 1, bytesOut: 60, drops: { UNKNOWN_DESTINATION: 1 } })
  t.match(stats.client(2), { packetsIn: 2, bytesIn: 120, packetsOut: 2, bytesOut: 300, drops: { SPOOFED: 1 } })
})
