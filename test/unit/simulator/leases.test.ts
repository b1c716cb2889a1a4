import t from 'tap'
import fc from 'fast-check'
import { ipFromString } from '../../../protocol/tunnel/ipv4.js'
import { LeaseTable, type ClaimResult, type LeaseTableOptions } from '../../../simulator/leases.js'
import { parseSubnet } from '../../../protocol/tunnel/subnet.js'

const SUBNET = parseSubnet('192.168.0.0/16')
const KEY_A = 'aa'.repeat(32)
const KEY_B = 'bb'.repeat(32)
const KEY_C = 'cc'.repeat(32)

function ip(text: string): number {
  const value = ipFromString(text)
  if (value === null) throw new Error(`bad test address ${text}`)
  return value
}

const IP1 = ip('192.168.53.5')
const IP2 = ip('192.168.54.5')

function setup(opts: Partial<LeaseTableOptions> = {}) {
  const clock = { now: 1_000_000 }
  const table = new LeaseTable({ subnet: SUBNET, graceMs: 60_000, now: () => clock.now, ...opts })
  return { table, clock }
}

t.test('a free IP is claimed and owned by the connection', async (t) => {
  const { table } = setup()
  t.same(table.claim(IP1, KEY_A, 1), { ok: true })
  t.equal(table.owner(IP1), 1)
  t.equal(table.ipOf(1), IP1)
  t.equal(table.owner(IP2), undefined)
  t.equal(table.connectedCount, 1)
  t.same(table.leaseOf(KEY_A), { ip: IP1, key: KEY_A, connId: 1, connectedSince: 1_000_000, expiresAt: undefined })
  t.same(table.claim(IP1, KEY_A, 1), { ok: true }, 'the same connection claiming again changes nothing')
  t.equal(table.connectedCount, 1)
})

t.test('another key is refused while the lease is connected or in grace, not after', async (t) => {
  const { table, clock } = setup()
  table.claim(IP1, KEY_A, 1)
  const refused: ClaimResult = { ok: false, code: 'IP_IN_USE', message: '192.168.53.5 is in use by another client' }
  t.same(table.claim(IP1, KEY_B, 2), refused, 'while connected')
  t.equal(table.owner(IP1), 1)

  t.ok(table.release(1))
  t.equal(table.owner(IP1), undefined, 'no owner during grace')
  clock.now += 59_999
  t.same(table.claim(IP1, KEY_B, 2), refused, 'during grace')
  clock.now += 1
  t.same(table.claim(IP1, KEY_B, 2), { ok: true }, 'expired lease is free even before purge')
  t.equal(table.owner(IP1), 2)
  t.equal(table.leaseOf(KEY_A), undefined)
  t.same(table.claim(IP1, KEY_A, 3), { ...refused }, 'and now the first key is the outsider')
})

t.test('the same key reconnecting takes its IP back at once and the old connection is reported', async (t) => {
  const { table, clock } = setup()
  table.claim(IP1, KEY_A, 1)
  clock.now += 5_000
  t.same(table.claim(IP1, KEY_A, 2), { ok: true, replaced: 1 }, 'unclean exit: old link still open')
  t.equal(table.owner(IP1), 2)
  t.equal(table.ipOf(1), undefined)
  t.equal(table.connectedCount, 1)
  t.equal(table.leaseOf(KEY_A)?.connectedSince, 1_005_000)

  t.notOk(table.release(1), 'closing the replaced connection later is a no-op')
  t.equal(table.owner(IP1), 2, 'and leaves the new connection owning the IP')

  t.ok(table.release(2))
  clock.now += 59_000
  t.same(table.claim(IP1, KEY_A, 3), { ok: true }, 'reclaim during grace: nothing to replace')
  t.equal(table.owner(IP1), 3)
  t.equal(table.leaseOf(KEY_A)?.expiresAt, undefined)
  clock.now += 120_000
  t.equal(table.purge().length, 0, 'a reclaimed lease never expires while connected')
  t.equal(table.owner(IP1), 3)
})

t.test('a key holds one IP: claiming another moves the lease and frees the old IP at once', async (t) => {
  const { table } = setup()
  table.claim(IP1, KEY_A, 1)
  t.same(table.claim(IP2, KEY_A, 2), { ok: true, replaced: 1 })
  t.equal(table.owner(IP1), undefined)
  t.equal(table.owner(IP2), 2)
  t.equal(table.size, 1)
  t.same(table.claim(IP1, KEY_B, 3), { ok: true }, 'the old IP is not held in grace')

  t.same(table.claim(ip('192.168.1.1'), KEY_B, 3), { ok: true }, 'same connection moving: nothing replaced')
  t.equal(table.owner(IP1), undefined)
  t.equal(table.ipOf(3), ip('192.168.1.1'))
})

t.test('addresses outside the subnet or reserved in it are refused', async (t) => {
  const { table } = setup()
  t.same(table.claim(ip('10.0.0.5'), KEY_A, 1), {
    ok: false,
    code: 'OUT_OF_SUBNET',
    message: "10.0.0.5 is outside the simulator's subnet 192.168.0.0/16",
  })
  t.match(table.claim(ip('192.168.0.0'), KEY_A, 1), { ok: false, code: 'NOT_HOST_ADDRESS', message: /network address/ })
  t.match(table.claim(ip('192.168.255.255'), KEY_A, 1), { ok: false, code: 'NOT_HOST_ADDRESS', message: /broadcast/ })
  t.equal(table.size, 0)
  t.equal(table.connectedCount, 0)
})

t.test('max clients counts live connections only', async (t) => {
  const { table } = setup({ maxClients: 2 })
  t.same(table.claim(ip('192.168.0.1'), KEY_A, 1), { ok: true })
  t.same(table.claim(ip('192.168.0.2'), KEY_B, 2), { ok: true })
  t.same(table.claim(ip('192.168.0.3'), KEY_C, 3), {
    ok: false,
    code: 'TOO_MANY_CLIENTS',
    message: 'the simulator is full (2 clients)',
  })
  t.same(table.claim(ip('192.168.0.1'), KEY_A, 4), { ok: true, replaced: 1 }, 'a reconnect is not a new client')
  t.equal(table.connectedCount, 2)
  table.release(2)
  t.same(table.claim(ip('192.168.0.3'), KEY_C, 3), { ok: true }, 'a lease in grace does not count')
  t.same(
    table.claim(ip('192.168.0.2'), KEY_B, 5),
    {
      ok: false,
      code: 'TOO_MANY_CLIENTS',
      message: 'the simulator is full (2 clients)',
    },
    'reclaiming from grace adds a client',
  )
})

t.test('release starts grace; purge frees expired leases in order', async (t) => {
  const { table, clock } = setup()
  table.claim(IP1, KEY_A, 1)
  table.claim(IP2, KEY_B, 2)
  t.notOk(table.release(99), 'unknown connection')
  t.ok(table.release(1))
  t.notOk(table.release(1), 'twice')
  clock.now += 10_000
  t.ok(table.release(2))
  t.same(
    table.snapshot().map((l) => [l.ip, l.connId, l.expiresAt]),
    [
      [IP1, undefined, 1_060_000],
      [IP2, undefined, 1_070_000],
    ],
  )
  t.same(table.purge(1_059_999), [])
  const freed = table.purge(1_060_000)
  t.same(
    freed.map((l) => l.key),
    [KEY_A],
  )
  t.equal(table.size, 1)
  t.same(table.leaseOf(KEY_B)?.expiresAt, 1_070_000)
  clock.now = 2_000_000
  t.same(
    table.purge().map((l) => l.key),
    [KEY_B],
    'purge defaults to the clock',
  )
  t.equal(table.size, 0)
  t.same(table.snapshot(), [])
})

t.test('graceMs 0 frees the IP on release', async (t) => {
  const { table } = setup({ graceMs: 0 })
  table.claim(IP1, KEY_A, 1)
  table.release(1)
  t.equal(table.size, 0)
  t.same(table.claim(IP1, KEY_B, 2), { ok: true })
})

t.test('snapshot hides expired leases that purge has not freed yet', async (t) => {
  const { table, clock } = setup()
  table.claim(IP1, KEY_A, 1)
  table.release(1)
  clock.now += 60_000
  t.same(table.snapshot(), [])
  t.equal(table.leaseOf(KEY_A), undefined)
})

t.test('a full table drops the grace lease closest to expiry to make room', async (t) => {
  const { table, clock } = setup({ maxClients: 1, maxLeases: 2 })
  table.claim(ip('192.168.0.1'), KEY_A, 1)
  table.release(1)
  clock.now += 1
  table.claim(ip('192.168.0.2'), KEY_B, 2)
  table.release(2)
  t.same(table.claim(ip('192.168.0.3'), KEY_C, 3), { ok: true })
  t.equal(table.evicted, 1)
  t.equal(table.size, 2)
  t.equal(table.leaseOf(KEY_A), undefined, 'the oldest grace lease went')
  t.equal(table.leaseOf(KEY_B)?.ip, ip('192.168.0.2'), 'the newer one stays')
})

t.test('caller bugs throw', async (t) => {
  const { table } = setup()
  t.throws(() => table.claim(-1, KEY_A, 1), RangeError)
  t.throws(() => table.claim(2 ** 32, KEY_A, 1), RangeError)
  t.throws(() => table.claim(IP1, 'AA'.repeat(32), 1), TypeError, 'upper-case key')
  t.throws(() => table.claim(IP1, 'abc', 1), TypeError, 'odd hex')
  t.throws(() => table.claim(IP1, '', 1), TypeError, 'empty key')
  t.throws(() => table.claim(IP1, KEY_A, 1.5), TypeError)
  table.claim(IP1, KEY_A, 1)
  t.throws(() => table.claim(IP2, KEY_B, 1), /another key/, 'a connection cannot switch keys')
  t.equal(table.owner(IP1), 1, 'and the failed call changed nothing')
  t.throws(() => new LeaseTable({ subnet: SUBNET, maxClients: 0 }), RangeError)
  t.throws(() => new LeaseTable({ subnet: SUBNET, maxClients: 4, maxLeases: 3 }), RangeError)
  t.throws(() => new LeaseTable({ subnet: SUBNET, graceMs: -1 }), RangeError)
})

t.test('property: the table and the server agree on live connections; no IP has two', async (t) => {
  const ips = ['192.168.0.1', '192.168.0.2', '192.168.0.3', '192.168.0.4', '10.0.0.1'].map(ip)
  const keys = ['01', '02', '03', '04']
  const graceMs = 1_000
  type Op =
    | { kind: 'claim'; ip: number; conn: number }
    | { kind: 'release'; conn: number }
    | { kind: 'advance'; ms: number }
    | { kind: 'purge' }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('claim' as const), ip: fc.constantFrom(...ips), conn: fc.nat(9) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), conn: fc.nat(9) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(1_500) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const) }) },
  )

  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const clock = { now: 0 }
      const table = new LeaseTable({ subnet: SUBNET, graceMs, maxClients: 3, maxLeases: 4, now: () => clock.now })
      // What a server would believe: connection → IP, from claim results and its own releases.
      const live = new Map<number, number>()
      for (const o of ops) {
        if (o.kind === 'claim') {
          // A connection authenticates once, so its key is fixed.
          const key = keys[o.conn % keys.length]!
          const holder = table.snapshot().find((l) => l.ip === o.ip)
          const result = table.claim(o.ip, key, o.conn)
          if (result.ok) {
            if (result.replaced !== undefined) live.delete(result.replaced)
            live.set(o.conn, o.ip)
            if (holder !== undefined && holder.key !== key) return false
          } else if (result.code === 'IP_IN_USE') {
            if (holder === undefined || holder.key === key) return false
          }
        } else if (o.kind === 'release') {
          if (table.release(o.conn) !== live.delete(o.conn)) return false
        } else if (o.kind === 'advance') {
          clock.now += o.ms
        } else {
          for (const freed of table.purge()) if (freed.expiresAt === undefined || freed.expiresAt > clock.now) return false
        }

        if (table.connectedCount !== live.size || live.size > 3 || table.size > 4) return false
        const seenIps = new Set<number>()
        for (const [conn, leased] of live) {
          if (seenIps.has(leased)) return false
          seenIps.add(leased)
          if (table.owner(leased) !== conn || table.ipOf(conn) !== leased) return false
        }
        const snapshot = table.snapshot()
        if (new Set(snapshot.map((l) => l.key)).size !== snapshot.length) return false
        for (const lease of snapshot) {
          if (lease.connId !== undefined && live.get(lease.connId) !== lease.ip) return false
          if (lease.connId === undefined && (lease.expiresAt ?? 0) <= clock.now) return false
        }
      }
      return true
    }),
    { numRuns: 1000 },
  )
  t.pass('invariants held')
})
