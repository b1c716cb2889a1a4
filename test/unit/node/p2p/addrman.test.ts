// The P2P address book: address syntax, bounded storage, dial order and
// backoff, discouragement, gossip sampling and the JSON form it is saved in.
import t from 'tap'
import fc from 'fast-check'
import {
  AddrError,
  AddrMan,
  addrKey,
  normalizeHost,
  parseHostPort,
  type AddrManOptions,
  type AddrSource,
  type PeerAddress,
} from '../../../../node/p2p/addrman.js'

const T0 = 1_700_000_000_000
const SEC = 1000
const HOUR = 3600 * SEC

/** A fake clock: `book.clock.t` is what the book's now() returns. */
function makeBook(opts: AddrManOptions = {}): AddrMan & { clock: { t: number } } {
  const clock = { t: T0 }
  const book = new AddrMan({ now: () => clock.t, ...opts }) as AddrMan & { clock: { t: number } }
  book.clock = clock
  return book
}
const at = (host: string, port = 5555): PeerAddress => ({ host, port })
const keysOf = (list: PeerAddress[]): string[] => list.map(addrKey)
const NONE: ReadonlySet<string> = new Set()

// ---------------------------------------------------------------- syntax

t.test('parseHostPort accepts IPv4, IPv6 and names, with or without a port', async (t) => {
  const cases: Array<[string, PeerAddress]> = [
    ['1.2.3.4', at('1.2.3.4', 5555)],
    ['1.2.3.4:6000', at('1.2.3.4', 6000)],
    ['127.0.53.5:65535', at('127.0.53.5', 65535)],
    ['[::1]:5555', at('::1', 5555)],
    ['[::1]:1', at('::1', 1)],
    ['[::1]', at('::1', 5555)],
    ['::1', at('::1', 5555)],
    ['[2001:DB8:0:0::1]:7', at('2001:db8::1', 7)],
    ['[::ffff:10.0.0.1]:7', at('10.0.0.1', 7)],
    ['host:99', at('host', 99)],
    ['Node-1.Example.COM', at('node-1.example.com', 5555)],
    ['localhost:30333', at('localhost', 30333)],
  ]
  for (const [text, want] of cases) t.same(parseHostPort(text, 5555), want, text)
})

t.test('parseHostPort refuses malformed input with an AddrError', async (t) => {
  const bad = [
    '',
    '1.2.3.4:0',
    ':5555',
    'a b',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4:\t1',
    '[::1]:70000',
    '1.2.3.4:65536',
    '1.2.3.4:',
    '1.2.3.4:-1',
    '1.2.3.4:+5',
    '1.2.3.4:0x10',
    '1.2.3.4:1e3',
    '1.2.3.4:5:6',
    '[::1',
    '[::1]x',
    '[::1]:',
    '[]:5',
    '[1.2.3.4]:5',
    '[host]:5',
    'fe80::1%eth0',
    'host_name',
    '-bad.com',
    'bad-.com',
    'bad..name',
    '.lead',
    'trail.',
    '1.2.3',
    '01.2.3.4',
    '999.1.1.1',
    'héllo',
    'a'.repeat(254),
    `${'a'.repeat(64)}.com`,
    '[::1]:5:6',
  ]
  for (const text of bad) t.throws(() => parseHostPort(text, 5555), { name: 'AddrError' }, JSON.stringify(text))
  t.throws(() => parseHostPort('1.2.3.4', 0), AddrError, 'the default port is checked too')
  t.throws(() => parseHostPort('1.2.3.4', 70000), AddrError)
  t.throws(() => parseHostPort(undefined as unknown as string, 5555), AddrError, 'not a string')
  t.ok(parseHostPort(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, 1), 'a 253-character name is fine')
})

t.test('addrKey brackets IPv6 and gives every spelling of an address one key', async (t) => {
  t.equal(addrKey(at('1.2.3.4', 5)), '1.2.3.4:5')
  t.equal(addrKey(at('::1', 5)), '[::1]:5')
  t.equal(addrKey(at('0:0:0:0:0:0:0:1', 5)), '[::1]:5')
  t.equal(addrKey(at('::FFFF:127.0.0.1', 5)), '127.0.0.1:5')
  t.equal(addrKey(at('Example.COM', 5)), 'example.com:5')
  t.equal(normalizeHost('fe80::1%eth0'), undefined)
  t.equal(normalizeHost(42), undefined)
})

t.test('property: parseHostPort(addrKey(a)) gives back the normalised address', async (t) => {
  const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain())
  fc.assert(
    fc.property(host, fc.integer({ min: 1, max: 65535 }), (h, port) => {
      const parsed = parseHostPort(addrKey({ host: h, port }), 1)
      return parsed.host === normalizeHost(h) && parsed.port === port && normalizeHost(parsed.host) === parsed.host
    }),
  )
  t.pass('round trips')
})

// ---------------------------------------------------------------- add

t.test('add stores valid addresses and refuses the rest', async (t) => {
  const book = makeBook()
  t.ok(book.add(at('10.0.0.1'), 'gossip'))
  t.same(book.get(at('10.0.0.1')), {
    host: '10.0.0.1',
    port: 5555,
    source: 'gossip',
    lastSeen: T0,
    lastTry: 0,
    lastSuccess: 0,
    failures: 0,
  })
  t.ok(book.add(at('127.0.0.1'), 'manual'), 'loopback is fine on a devnet')
  t.ok(book.add(at('ff::1'), 'gossip'), '00ff::1 is not multicast')
  const refused: Array<[PeerAddress, string]> = [
    [at('10.0.0.2', 0), 'port 0'],
    [at('10.0.0.2', 65536), 'port too big'],
    [at('10.0.0.2', 1.5), 'fractional port'],
    [at(''), 'empty host'],
    [at('a b'), 'space'],
    [at('1.2.3'), 'bad IPv4'],
    [{ host: 7, port: 1 } as unknown as PeerAddress, 'host not a string'],
    [at('0.0.0.0'), 'unspecified'],
    [at('::'), 'unspecified v6'],
    [at('224.0.0.1'), 'multicast'],
    [at('255.255.255.255'), 'broadcast'],
    [at('ff02::1'), 'v6 multicast'],
    [null as unknown as PeerAddress, 'null'],
  ]
  for (const [a, why] of refused) t.notOk(book.add(a, 'gossip'), why)
  t.notOk(book.add(at('10.0.0.3'), 'carrier-pigeon' as AddrSource), 'unknown source')
  t.notOk(book.add(at('10.0.0.3'), 'gossip', NaN), 'NaN lastSeen')
  t.notOk(book.add(at('10.0.0.3'), 'gossip', -1), 'negative lastSeen')
  t.equal(book.size, 3)
  t.ok(book.add(at('10.0.0.4'), 'gossip', T0 + 10 * HOUR))
  t.equal(book.get(at('10.0.0.4'))!.lastSeen, T0, 'a lastSeen from the future is taken as now')
})

t.test('add refreshes a known address without downgrading it', async (t) => {
  const book = makeBook()
  t.ok(book.add(at('10.0.0.1'), 'bootstrap', T0 - HOUR))
  t.ok(book.add(at('10.0.0.1'), 'gossip', T0 - 2 * HOUR), 'a known address is accepted')
  t.same(book.get(at('10.0.0.1')), {
    host: '10.0.0.1',
    port: 5555,
    source: 'bootstrap',
    lastSeen: T0 - HOUR,
    lastTry: 0,
    lastSuccess: 0,
    failures: 0,
  })
  book.add(at('10.0.0.1'), 'gossip', T0 - 60 * SEC)
  t.equal(book.get(at('10.0.0.1'))!.lastSeen, T0 - 60 * SEC, 'newer lastSeen wins')
  t.equal(book.get(at('10.0.0.1'))!.source, 'bootstrap', 'gossip never downgrades bootstrap')
  book.add(at('10.0.0.2'), 'manual')
  book.add(at('10.0.0.2'), 'inbound')
  t.equal(book.get(at('10.0.0.2'))!.source, 'manual')
  book.add(at('10.0.0.3'), 'gossip')
  book.add(at('10.0.0.3'), 'manual')
  t.equal(book.get(at('10.0.0.3'))!.source, 'manual', 'an operator can promote a gossiped address')
  t.ok(book.add(at('::ffff:10.0.0.3'), 'gossip'))
  t.equal(book.size, 3, 'an IPv4-mapped spelling is the same address')
  const copy = book.get(at('10.0.0.3'))!
  copy.failures = 99
  t.equal(book.get(at('10.0.0.3'))!.failures, 0, 'get returns a copy')
})

t.test('our own addresses are never stored', async (t) => {
  const book = makeBook({ self: [at('10.0.0.9', 5555), at('::1', 6000)] })
  t.notOk(book.add(at('10.0.0.9', 5555), 'manual'))
  t.notOk(book.add(at('::ffff:10.0.0.9', 5555), 'gossip'))
  t.notOk(book.add(at('0:0::1', 6000), 'bootstrap'))
  t.ok(book.add(at('10.0.0.9', 5556), 'gossip'), 'another port of the same host is someone else')
  const restored = AddrMan.fromJSON(
    { version: 1, entries: [{ host: '10.0.0.9', port: 5555, source: 'manual', lastSeen: 1, lastTry: 0, lastSuccess: 0, failures: 0 }] },
    { self: [at('10.0.0.9')] },
  )
  t.equal(restored.size, 0, 'nor loaded from a file')
})

t.test('a full book evicts the worst gossip, never bootstrap or manual', async (t) => {
  const book = makeBook({ maxEntries: 3 })
  book.add(at('10.0.0.1'), 'bootstrap', T0 - 10 * HOUR)
  book.add(at('10.0.0.2'), 'manual', T0 - 10 * HOUR)
  book.add(at('10.0.0.3'), 'gossip', T0 - 2 * HOUR)
  t.ok(book.add(at('10.0.0.4'), 'gossip', T0 - HOUR), 'a fresher gossip address gets in')
  t.same(
    book
      .toJSON()
      .entries.map((e) => e.host)
      .sort(),
    ['10.0.0.1', '10.0.0.2', '10.0.0.4'],
  )
  t.notOk(book.add(at('10.0.0.5'), 'gossip', T0 - 3 * HOUR), 'an older one does not push out a newer one')
  t.notOk(book.add(at('10.0.0.5'), 'gossip', T0 - HOUR), 'nor does an equal one')
  t.ok(book.add(at('10.0.0.6'), 'manual', T0 - 99 * HOUR), 'a manual address always gets in while gossip can make way')
  t.equal(book.size, 3)
  t.notOk(book.add(at('10.0.0.7'), 'manual'), 'a book full of protected addresses refuses even manual ones')
  t.notOk(book.add(at('10.0.0.7'), 'gossip'))
  t.same(
    book
      .toJSON()
      .entries.map((e) => e.source)
      .sort(),
    ['bootstrap', 'manual', 'manual'],
  )
})

t.test('eviction keeps addresses that worked and drops failing ones first', async (t) => {
  const book = makeBook({ maxEntries: 2 })
  book.add(at('10.0.0.1'), 'gossip', T0 - 5 * HOUR)
  book.markSuccess(at('10.0.0.1'))
  book.clock.t += 5 * HOUR
  book.add(at('10.0.0.2'), 'gossip', book.clock.t - 60 * SEC)
  t.ok(book.add(at('10.0.0.3'), 'gossip'), 'newcomer evicts the unproven entry')
  t.ok(book.get(at('10.0.0.1')), 'the one that worked survives fresher gossip')
  t.notOk(book.get(at('10.0.0.2')))
  for (let i = 0; i < 3; i++) book.markFailure(at('10.0.0.1'))
  book.clock.t += SEC
  t.ok(book.add(at('10.0.0.4'), 'gossip', T0 - 8 * HOUR), 'even old gossip beats an address failing again and again')
  t.notOk(book.get(at('10.0.0.1')))
  t.ok(book.get(at('10.0.0.3')))
})

// ---------------------------------------------------------------- dialling

t.test('backoff doubles per failure up to the cap and resets on success', async (t) => {
  const book = makeBook({ baseBackoffMs: 1000, maxBackoffMs: 8000 })
  const a = at('10.0.0.1')
  t.equal(book.nextTryAt(a), T0, 'unknown address: now')
  book.add(a, 'gossip')
  t.equal(book.nextTryAt(a), T0, 'no failures: now')
  const delays: number[] = []
  for (let i = 0; i < 6; i++) {
    book.markAttempt(a)
    book.markFailure(a)
    delays.push(book.nextTryAt(a) - book.clock.t)
    book.clock.t = book.nextTryAt(a)
  }
  t.same(delays, [1000, 2000, 4000, 8000, 8000, 8000])
  t.equal(book.get(a)!.failures, 6)
  book.markAttempt(a)
  book.markSuccess(a)
  t.match(book.get(a), { failures: 0, lastSuccess: book.clock.t, lastSeen: book.clock.t })
  t.equal(book.nextTryAt(a), book.clock.t)
  book.markFailure(a)
  book.clock.t += 400
  t.equal(book.nextTryAt(a), book.clock.t + 600, 'never earlier than now, counted from the failure')
  book.clock.t += 10_000
  t.equal(book.nextTryAt(a), book.clock.t, 'an expired backoff means now')
})

t.test('candidates: order, limit, exclusion and backoff', async (t) => {
  const book = makeBook({ baseBackoffMs: 1000 })
  book.add(at('10.0.0.1'), 'gossip', T0 - 3 * HOUR)
  book.add(at('10.0.0.2'), 'gossip', T0 - HOUR)
  book.add(at('10.0.0.3'), 'gossip', T0 - 5 * HOUR)
  book.add(at('10.0.0.4'), 'gossip', T0 - 5 * HOUR)
  book.clock.t -= 2 * HOUR
  book.markSuccess(at('10.0.0.3')) // worked two hours ago
  book.clock.t += HOUR
  book.markSuccess(at('10.0.0.4')) // worked an hour ago
  book.clock.t += HOUR
  book.add(at('10.0.0.5'), 'manual', T0 - 9 * HOUR)
  book.add(at('10.0.0.6'), 'bootstrap', T0 - 8 * HOUR)
  t.same(keysOf(book.candidates(NONE, 10)), [
    '10.0.0.6:5555',
    '10.0.0.5:5555', // configured first, newest lastSeen first
    '10.0.0.4:5555',
    '10.0.0.3:5555', // then the ones that worked, latest success first
    '10.0.0.2:5555',
    '10.0.0.1:5555', // then the rest, newest lastSeen first
  ])
  t.same(keysOf(book.candidates(NONE, 3)), ['10.0.0.6:5555', '10.0.0.5:5555', '10.0.0.4:5555'])
  t.same(book.candidates(NONE, 0), [])
  t.same(book.candidates(NONE, -1), [])
  t.same(keysOf(book.candidates(new Set(['10.0.0.6:5555', '10.0.0.4:5555']), 3)), ['10.0.0.5:5555', '10.0.0.3:5555', '10.0.0.2:5555'])
  book.markAttempt(at('10.0.0.6'))
  book.markFailure(at('10.0.0.6'))
  t.notOk(keysOf(book.candidates(NONE, 10)).includes('10.0.0.6:5555'), 'backing off')
  book.clock.t += 999
  t.notOk(keysOf(book.candidates(NONE, 10)).includes('10.0.0.6:5555'))
  book.clock.t += 1
  t.equal(keysOf(book.candidates(NONE, 10))[0], '10.0.0.6:5555', 'back at the front once the backoff is over')
})

t.test('discouragement covers every port of a host and expires', async (t) => {
  const book = makeBook()
  book.add(at('10.0.0.1', 1), 'bootstrap')
  book.add(at('10.0.0.1', 2), 'gossip')
  book.add(at('10.0.0.2', 1), 'gossip')
  book.discourage('::ffff:10.0.0.1', 60 * SEC)
  t.ok(book.isDiscouraged('10.0.0.1'))
  t.notOk(book.isDiscouraged('10.0.0.2'))
  t.same(keysOf(book.candidates(NONE, 10)), ['10.0.0.2:1'])
  book.discourage('10.0.0.1', 10 * SEC)
  book.discourage('10.0.0.1', 0)
  book.discourage('10.0.0.1', NaN)
  book.discourage('not a host!', 60 * SEC)
  book.clock.t += 59 * SEC
  t.ok(book.isDiscouraged('10.0.0.1'), 'a shorter discouragement does not cut a longer one short')
  book.clock.t += SEC
  t.notOk(book.isDiscouraged('10.0.0.1'), 'expired')
  t.same(keysOf(book.candidates(NONE, 10)).sort(), ['10.0.0.1:1', '10.0.0.1:2', '10.0.0.2:1'])
  t.equal(book.size, 3, 'discouraging forgets nothing')
})

t.test('the discouraged set is bounded: expired entries go first, then the oldest', async (t) => {
  const book = makeBook()
  const host = (i: number): string => `10.${(i >> 8) & 255}.${i & 255}.1`
  book.discourage('192.168.0.1', SEC)
  book.clock.t += SEC
  for (let i = 0; i < 10_000; i++) book.discourage(host(i), HOUR)
  t.ok(book.isDiscouraged(host(0)), 'at the cap, after the expired one made room')
  book.discourage(host(10_000), HOUR)
  t.notOk(book.isDiscouraged(host(0)), 'over the cap: the oldest goes')
  t.ok(book.isDiscouraged(host(1)))
  t.ok(book.isDiscouraged(host(10_000)))
})

t.test('candidates wait for the end of a backoff or a discouragement', async (t) => {
  const book = makeBook({ baseBackoffMs: 1000, maxBackoffMs: 60_000 })
  const dialable = (): string[] => keysOf(book.candidates(NONE, 5)).sort()
  t.same(dialable(), [], 'empty book')
  book.add(at('10.0.0.1'), 'gossip')
  t.same(dialable(), ['10.0.0.1:5555'], 'ready now')
  t.same(keysOf(book.candidates(new Set(['10.0.0.1:5555']), 5)), [], 'all excluded')
  book.markAttempt(at('10.0.0.1'))
  book.markFailure(at('10.0.0.1'))
  book.markFailure(at('10.0.0.1'))
  book.add(at('10.0.0.2'), 'gossip')
  book.markFailure(at('10.0.0.2'))
  t.same(dialable(), [], 'both backing off')
  book.clock.t = T0 + 999
  t.same(dialable(), [], 'not before the earliest backoff ends')
  book.clock.t = T0 + 1000
  t.same(dialable(), ['10.0.0.2:5555'], 'the earliest of all first')
  book.clock.t = T0 + 2000
  t.same(dialable(), ['10.0.0.1:5555', '10.0.0.2:5555'], 'then the end of the longer backoff')
  book.clock.t = T0
  book.discourage('10.0.0.2', 5000)
  book.discourage('10.0.0.1', 3000)
  book.clock.t = T0 + 2999
  t.same(dialable(), [], 'a discouraged host waits for the discouragement to end, past its backoff')
  book.clock.t = T0 + 3000
  t.same(dialable(), ['10.0.0.1:5555'])
  book.clock.t = T0 + 5000
  t.same(dialable(), ['10.0.0.1:5555', '10.0.0.2:5555'])
})

// ---------------------------------------------------------------- gossip

t.test('sample offers fresh addresses, preferring ones that worked', async (t) => {
  const book = makeBook()
  t.same(book.sample(10), [], 'empty book')
  for (let i = 1; i <= 5; i++) book.add(at(`10.0.1.${i}`), 'gossip', T0 - HOUR)
  for (let i = 1; i <= 2; i++) {
    book.add(at(`10.0.2.${i}`), 'gossip')
    book.markSuccess(at(`10.0.2.${i}`))
  }
  book.add(at('10.0.3.1'), 'gossip', T0 - 3 * HOUR - 1)
  for (let round = 0; round < 20; round++) {
    t.same(
      book
        .sample(2)
        .map((e) => e.host)
        .sort(),
      ['10.0.2.1', '10.0.2.2'],
      'the proven ones first',
    )
  }
  const all = book.sample(100)
  t.equal(all.length, 7, 'never an entry older than 3 h while fresher ones exist')
  t.notOk(all.some((e) => e.host === '10.0.3.1'))
  t.same(
    all.find((e) => e.host === '10.0.1.1'),
    { host: '10.0.1.1', port: 5555, lastSeen: T0 - HOUR },
  )
  t.same(book.sample(0), [])
  t.same(book.sample(-5), [])
  t.equal(book.sample(3).length, 3)
})

t.test('sample falls back to old entries and skips discouraged, failing and overlong ones', async (t) => {
  const book = makeBook()
  book.add(at('10.0.0.1'), 'gossip', T0 - 10 * HOUR)
  book.add(at('10.0.0.2'), 'bootstrap', T0 - 20 * HOUR)
  t.same(
    book
      .sample(10)
      .map((e) => e.host)
      .sort(),
    ['10.0.0.1', '10.0.0.2'],
    'nothing fresh: old ones rather than none',
  )
  book.add(at('10.0.0.3'), 'gossip')
  book.add(at('10.0.0.4'), 'gossip')
  book.add(at(`${'a'.repeat(61)}.com`), 'gossip') // 65 characters
  book.add(at('10.0.0.5'), 'gossip')
  for (let i = 0; i < 3; i++) book.markFailure(at('10.0.0.4'))
  book.discourage('10.0.0.5', HOUR)
  t.same(
    book.sample(10).map((e) => e.host),
    ['10.0.0.3'],
    'not discouraged, not failing, fits in ADDR host (≤64)',
  )
  book.clock.t += HOUR
  t.same(
    book
      .sample(10)
      .map((e) => e.host)
      .sort(),
    ['10.0.0.3', '10.0.0.5'],
  )
})

t.test('sample order comes from the injected random source', async (t) => {
  const orderWith = (random: () => number): string[] => {
    const book = makeBook({ random })
    for (let i = 1; i <= 6; i++) book.add(at(`10.0.0.${i}`), 'gossip')
    return book.sample(6).map((e) => e.host)
  }
  const low = orderWith(() => 0)
  const high = orderWith(() => 0.999)
  t.same([...low].sort(), [...high].sort(), 'same set')
  t.not(low.join(), high.join(), 'different order')
  t.same(
    orderWith(() => 0),
    low,
    'deterministic for a given source',
  )
  t.equal(orderWith(() => NaN).length, 6, 'a broken source still yields a permutation')
  t.equal(new Set(orderWith(() => 1)).size, 6)
})

// ---------------------------------------------------------------- invariants

type Op =
  | { kind: 'add'; i: number; source: AddrSource; ago: number }
  | { kind: 'attempt' | 'failure' | 'success' | 'remove'; i: number }
  | { kind: 'discourage'; i: number; ms: number }
  | { kind: 'tick'; ms: number }

const POOL = Array.from({ length: 24 }, (_, i) => at(`10.0.${i % 12}.1`, 5000 + (i >> 1)))
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    i: fc.nat(23),
    source: fc.constantFrom<AddrSource>('bootstrap', 'manual', 'gossip', 'inbound', 'gossip', 'gossip'),
    ago: fc.nat(100 * HOUR),
  }),
  fc.record({ kind: fc.constantFrom('attempt' as const, 'failure' as const, 'success' as const, 'remove' as const), i: fc.nat(23) }),
  fc.record({ kind: fc.constant('discourage' as const), i: fc.nat(23), ms: fc.nat(60_000) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(10 * 60_000) }),
)

t.test('property: the book stays bounded and candidates are known, allowed addresses', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10 }),
      fc.array(opArb, { maxLength: 80 }),
      fc.subarray(POOL.map(addrKey)),
      (maxEntries, ops, excluded) => {
        const book = makeBook({ maxEntries, baseBackoffMs: 1000, maxBackoffMs: 30_000 })
        const exclude = new Set(excluded)
        const protectedKeys = new Set<string>()
        for (const op of ops) {
          if (op.kind === 'tick') book.clock.t += op.ms
          else if (op.kind === 'add') {
            const ok = book.add(POOL[op.i]!, op.source, book.clock.t - op.ago)
            if (ok && (op.source === 'bootstrap' || op.source === 'manual')) protectedKeys.add(addrKey(POOL[op.i]!))
          } else if (op.kind === 'discourage') book.discourage(POOL[op.i]!.host, op.ms)
          else if (op.kind === 'remove') {
            book.remove(POOL[op.i]!)
            protectedKeys.delete(addrKey(POOL[op.i]!))
          } else if (op.kind === 'attempt') book.markAttempt(POOL[op.i]!)
          else if (op.kind === 'failure') book.markFailure(POOL[op.i]!)
          else book.markSuccess(POOL[op.i]!)

          if (book.size > maxEntries) return false
          const known = new Set(book.toJSON().entries.map(addrKey))
          if (known.size !== book.size) return false
          for (const k of protectedKeys) if (!known.has(k)) return false // bootstrap/manual are never evicted
          const picked = book.candidates(exclude, 100)
          const pickedKeys = new Set(picked.map(addrKey))
          if (pickedKeys.size !== picked.length) return false
          for (const a of picked) {
            const k = addrKey(a)
            if (!known.has(k) || exclude.has(k) || book.isDiscouraged(a.host) || book.nextTryAt(a) > book.clock.t) return false
          }
          if (book.sample(100).length > book.size) return false
        }
        return true
      },
    ),
  )
  t.pass('invariants hold')
})

// ---------------------------------------------------------------- JSON

t.test('toJSON/fromJSON round trip keeps backoff and history, not discouragement', async (t) => {
  const book = makeBook({ baseBackoffMs: 1000 })
  book.add(at('10.0.0.1'), 'bootstrap', T0 - HOUR)
  book.add(at('::1', 7000), 'manual')
  book.add(at('peer.example', 1), 'gossip', T0 - 2 * HOUR)
  book.add(at('10.0.0.2'), 'inbound')
  book.markSuccess(at('::1', 7000))
  book.markAttempt(at('10.0.0.1'))
  book.markFailure(at('10.0.0.1'))
  book.markFailure(at('10.0.0.1'))
  book.discourage('10.0.0.2', HOUR)
  const json = JSON.parse(JSON.stringify(book))
  t.equal(json.version, 1)
  const clock = book.clock
  const back = AddrMan.fromJSON(json, { now: () => clock.t, baseBackoffMs: 1000 })
  t.same(back.toJSON(), book.toJSON())
  t.equal(back.nextTryAt(at('10.0.0.1')), T0 + 2000, 'backoff survives')
  t.notOk(back.isDiscouraged('10.0.0.2'), 'discouragement is not persisted')
  t.same(keysOf(back.candidates(NONE, 10)), ['[::1]:7000', '10.0.0.2:5555', 'peer.example:1'])
})

t.test('property: any reachable book survives a JSON round trip', async (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const book = makeBook({ maxEntries: 8 })
      for (const op of ops) {
        if (op.kind === 'tick') book.clock.t += op.ms
        else if (op.kind === 'add') book.add(POOL[op.i]!, op.source, book.clock.t - op.ago)
        else if (op.kind === 'failure') book.markFailure(POOL[op.i]!)
        else if (op.kind === 'success') book.markSuccess(POOL[op.i]!)
        else if (op.kind === 'attempt') book.markAttempt(POOL[op.i]!)
      }
      const clock = book.clock
      const back = AddrMan.fromJSON(JSON.parse(JSON.stringify(book)), { maxEntries: 8, now: () => clock.t })
      return JSON.stringify(back.toJSON()) === JSON.stringify(book.toJSON())
    }),
  )
  t.pass('round trips')
})

t.test('fromJSON skips malformed entries and never throws', async (t) => {
  for (const junk of [
    null,
    undefined,
    42,
    'peers',
    [],
    {},
    { version: 2, entries: [] },
    { version: 1 },
    { version: 1, entries: 'x' },
    { version: '1', entries: [] },
  ]) {
    t.equal(AddrMan.fromJSON(junk).size, 0, JSON.stringify(junk) ?? 'undefined')
  }
  const good = { host: '10.0.0.1', port: 5555, source: 'gossip', lastSeen: T0 - HOUR, lastTry: T0 - HOUR, lastSuccess: 0, failures: 2 }
  const entries: unknown[] = [
    null,
    7,
    'x',
    [],
    {},
    { ...good, host: '10.0.0.1 ' },
    { ...good, port: 0 },
    { ...good, port: '5555' },
    { ...good, source: 'friend' },
    { ...good, source: 'toString' },
    { ...good, lastSeen: -1 },
    { ...good, lastTry: 'soon' },
    { ...good, lastSuccess: null },
    { ...good, failures: 1.5 },
    { ...good, failures: -1 },
    { ...good, host: '0.0.0.0' },
    Object.defineProperty({}, 'host', {
      enumerable: true,
      get: () => {
        throw new Error('boom')
      },
    }),
    good,
    { ...good, host: '::ffff:10.0.0.1', source: 'manual' }, // a duplicate: the first one wins
    { ...good, host: '10.0.0.2', lastSeen: T0 + 10 * HOUR, lastTry: T0 + 10 * HOUR, lastSuccess: T0 + 10 * HOUR, failures: 1e9 },
  ]
  const book = AddrMan.fromJSON({ version: 1, entries }, { now: () => T0 })
  t.same(
    book.toJSON().entries,
    [good, { host: '10.0.0.2', port: 5555, source: 'gossip', lastSeen: T0, lastTry: T0, lastSuccess: T0, failures: 1000 }],
    'future times clamp to now, failures saturate',
  )
  fc.assert(fc.property(fc.anything(), (junk) => AddrMan.fromJSON(junk).size >= 0))
  fc.assert(fc.property(fc.array(fc.anything()), (junk) => AddrMan.fromJSON({ version: 1, entries: junk }).size === 0))
})

t.test('fromJSON of an oversized file keeps bootstrap/manual and the best gossip', async (t) => {
  const entry = (host: string, source: AddrSource, lastSeen: number) => ({
    host,
    port: 1,
    source,
    lastSeen,
    lastTry: 0,
    lastSuccess: 0,
    failures: 0,
  })
  const book = AddrMan.fromJSON(
    {
      version: 1,
      entries: [
        entry('10.0.0.1', 'gossip', T0 - 1),
        entry('10.0.0.2', 'manual', 0),
        entry('10.0.0.3', 'gossip', T0 - 3),
        entry('10.0.0.4', 'gossip', T0 - 2),
      ],
    },
    { maxEntries: 3, now: () => T0 },
  )
  t.same(
    book
      .toJSON()
      .entries.map((e) => e.host)
      .sort(),
    ['10.0.0.1', '10.0.0.2', '10.0.0.4'],
  )
})

t.test('constructor refuses nonsensical options', async (t) => {
  t.throws(() => new AddrMan({ maxEntries: 0 }), AddrError)
  t.throws(() => new AddrMan({ maxEntries: 2.5 }), AddrError)
  t.throws(() => new AddrMan({ baseBackoffMs: -1 }), AddrError)
  t.throws(() => new AddrMan({ baseBackoffMs: 10_000, maxBackoffMs: 1000 }), AddrError)
  t.equal(new AddrMan().maxEntries, 1000)
})
