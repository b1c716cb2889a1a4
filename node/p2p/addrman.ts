// The P2P address book: which peer addresses we know, which to dial next,
// which hosts are discouraged for misbehaving, and what to gossip in ADDR.
//
// A much simpler cousin of Bitcoin Core's addrman: one bounded table, no
// buckets. Gossip can fill the table but never pushes out bootstrap or
// manual addresses, and an address that once worked outlives fresh gossip,
// so a flood of made-up addresses cannot erase the peers we know are real.
// Pure logic: time and randomness are injected, I/O lives in peer-store.ts.
import { shuffleInPlace } from '../../lib/shuffle.js'
import { AddrError, addrKey, isUndialable, isValidPort, normalizeHost, type PeerAddress } from './host-address.js'

export { AddrError, addrKey, normalizeHost, parseHostPort, type PeerAddress } from './host-address.js'

export type AddrSource = 'bootstrap' | 'manual' | 'gossip' | 'inbound'

/** Times are milliseconds since the Unix epoch; 0 means never. */
export interface AddrEntry extends PeerAddress {
  source: AddrSource
  lastSeen: number
  lastTry: number
  lastSuccess: number
  failures: number
}

export interface AddrManOptions {
  /** Bound on stored addresses (default 1000). */
  maxEntries?: number
  now?: () => number
  /** Delay after the first failure; doubles with each further one (default 1 s). */
  baseBackoffMs?: number
  /** Cap on that delay (default 5 min). */
  maxBackoffMs?: number
  /** Our own listen addresses: never stored, so we never dial ourselves. */
  self?: PeerAddress[]
  /** Uniform in [0, 1); used only to shuffle sample(). */
  random?: () => number
}

/** ADDR carries host as string≤64 (docs/PROTOCOL.md): longer names are kept and dialled, not gossiped. */
const WIRE_HOST_MAX = 64
/** sample() offers only addresses seen this recently, unless it knows no others. */
const GOSSIP_FRESH_MS = 3 * 60 * 60 * 1000
/** Not seen for this long, or failed this many times in a row: "terrible", the first to be evicted. */
const STALE_MS = 30 * 24 * 60 * 60 * 1000
/** Also never gossiped: we should not spread addresses we cannot reach. */
const TERRIBLE_FAILURES = 3
/** Failures saturate here so a long-dead entry's counter stays a small number. */
const MAX_FAILURES = 1000
/** Bounds memory when many hosts misbehave; expired, then the oldest, entries go first. */
const MAX_DISCOURAGED = 10_000

// A known address never moves down this scale, so gossip cannot turn a
// configured peer into an evictable one.
const SOURCE_RANK: Readonly<Record<AddrSource, number>> = { gossip: 0, inbound: 1, bootstrap: 2, manual: 3 }

// ---------------------------------------------------------------- ordering

const isProtected = (e: AddrEntry): boolean => e.source === 'bootstrap' || e.source === 'manual'

function isTerrible(e: AddrEntry, now: number): boolean {
  return e.failures >= TERRIBLE_FAILURES || now - e.lastSeen > STALE_MS
}

/** Positive when `a` should be evicted before `b`. */
function evictionOrder(a: AddrEntry, b: AddrEntry, now: number): number {
  return (
    Number(isTerrible(a, now)) - Number(isTerrible(b, now)) ||
    Number(a.lastSuccess === 0) - Number(b.lastSuccess === 0) ||
    b.lastSeen - a.lastSeen ||
    a.failures - b.failures
  )
}

const dialTier = (e: AddrEntry): number => (isProtected(e) ? 0 : e.lastSuccess > 0 ? 1 : 2)

/** Negative when `a` should be dialled before `b`. */
function dialOrder(a: AddrEntry, b: AddrEntry): number {
  return dialTier(a) - dialTier(b) || b.lastSuccess - a.lastSuccess || b.lastSeen - a.lastSeen
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const copyOf = (e: AddrEntry): AddrEntry => ({ ...e })

// ---------------------------------------------------------------- the book

export class AddrMan {
  readonly maxEntries: number
  private readonly entries = new Map<string, AddrEntry>()
  /** Host → time its discouragement ends. */
  private readonly discouraged = new Map<string, number>()
  private readonly selfKeys = new Set<string>()
  private readonly now: () => number
  private readonly random: () => number
  private readonly baseBackoffMs: number
  private readonly maxBackoffMs: number

  constructor(opts: AddrManOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1000
    this.baseBackoffMs = opts.baseBackoffMs ?? 1000
    this.maxBackoffMs = opts.maxBackoffMs ?? 5 * 60 * 1000
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) throw new AddrError('maxEntries must be a positive integer')
    if (!isTime(this.baseBackoffMs) || !isTime(this.maxBackoffMs) || this.maxBackoffMs < this.baseBackoffMs) {
      throw new AddrError('backoff must satisfy 0 <= baseBackoffMs <= maxBackoffMs')
    }
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
    for (const a of opts.self ?? [])
      if (isRecord(a) && isValidPort(a.port) && normalizeHost(a.host) !== undefined) this.selfKeys.add(addrKey(a))
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * Stores a new address or refreshes a known one. False when the address
   * is not dialable (bad host or port, our own) or the book is full of
   * addresses at least as good. `lastSeen` defaults to now and is never
   * taken from the future.
   */
  add(a: PeerAddress, source: AddrSource, lastSeen?: number): boolean {
    const addr = this.dialable(a)
    if (addr === undefined || !Object.hasOwn(SOURCE_RANK, source)) return false
    const now = this.now()
    const seen = lastSeen ?? now
    if (!isTime(seen)) return false
    const key = addrKey(addr)
    const known = this.entries.get(key)
    if (known !== undefined) {
      known.lastSeen = Math.max(known.lastSeen, Math.min(seen, now))
      if (SOURCE_RANK[source] > SOURCE_RANK[known.source]) known.source = source
      return true
    }
    return this.insert(key, { ...addr, source, lastSeen: Math.min(seen, now), lastTry: 0, lastSuccess: 0, failures: 0 }, now)
  }

  remove(a: PeerAddress): boolean {
    return this.entries.delete(addrKey(a))
  }

  get(a: PeerAddress): AddrEntry | undefined {
    const e = this.entries.get(addrKey(a))
    return e === undefined ? undefined : copyOf(e)
  }

  markAttempt(a: PeerAddress): void {
    const e = this.entries.get(addrKey(a))
    if (e !== undefined) e.lastTry = this.now()
  }

  markSuccess(a: PeerAddress): void {
    const e = this.entries.get(addrKey(a))
    if (e === undefined) return
    const now = this.now()
    e.failures = 0
    e.lastSuccess = now
    e.lastSeen = now
  }

  /** Counts a failure and restarts the backoff from now (a dial may fail long after markAttempt). */
  markFailure(a: PeerAddress): void {
    const e = this.entries.get(addrKey(a))
    if (e === undefined) return
    e.failures = Math.min(e.failures + 1, MAX_FAILURES)
    e.lastTry = this.now()
  }

  /** When `a` may be dialled again, never earlier than now (now for an unknown address). */
  nextTryAt(a: PeerAddress): number {
    const now = this.now()
    const e = this.entries.get(addrKey(a))
    return e === undefined ? now : Math.max(now, this.backoffEnd(e))
  }

  /**
   * Up to `limit` addresses to dial now, best first: bootstrap and manual,
   * then ones that worked (most recent success first), then the rest by
   * lastSeen. `exclude` holds addrKey()s of peers connected or being dialled.
   */
  candidates(exclude: ReadonlySet<string>, limit: number): PeerAddress[] {
    const count = Math.floor(limit)
    if (!(count > 0)) return []
    const now = this.now()
    const ready: Array<[string, AddrEntry]> = []
    for (const [key, e] of this.entries) {
      if (!exclude.has(key) && this.backoffEnd(e) <= now && this.discouragedUntil(e.host, now) === 0) ready.push([key, e])
    }
    ready.sort(([ka, a], [kb, b]) => dialOrder(a, b) || (ka < kb ? -1 : ka > kb ? 1 : 0))
    return ready.slice(0, count).map(([, e]) => ({ host: e.host, port: e.port }))
  }

  /** Neither dial nor gossip `host` (any port) for `forMs`; an existing longer discouragement stays. */
  discourage(host: string, forMs: number): void {
    const h = normalizeHost(host)
    if (h === undefined || typeof forMs !== 'number' || !(forMs > 0)) return
    const now = this.now()
    const until = now + forMs
    if ((this.discouraged.get(h) ?? 0) >= until) return
    this.discouraged.set(h, until)
    if (this.discouraged.size > MAX_DISCOURAGED) this.pruneDiscouraged(now)
  }

  isDiscouraged(host: string): boolean {
    return this.discouragedUntil(normalizeHost(host) ?? host, this.now()) > 0
  }

  /**
   * Up to `n` addresses for an ADDR message, in random order. Only ones
   * seen within 3 h are offered unless there are none; among those, ones
   * that worked are chosen first. Discouraged hosts, addresses that keep
   * failing and names too long for the wire are never offered.
   */
  sample(n: number): Array<{ host: string; port: number; lastSeen: number }> {
    const count = Math.floor(n)
    if (!(count > 0)) return []
    const now = this.now()
    const pool: AddrEntry[] = []
    for (const e of this.entries.values()) {
      if (e.host.length <= WIRE_HOST_MAX && e.failures < TERRIBLE_FAILURES && this.discouragedUntil(e.host, now) === 0) pool.push(e)
    }
    const fresh = pool.filter((e) => now - e.lastSeen <= GOSSIP_FRESH_MS)
    const from = fresh.length > 0 ? fresh : pool
    const proven = shuffleInPlace(
      from.filter((e) => e.lastSuccess > 0),
      this.random,
    )
    const unproven = shuffleInPlace(
      from.filter((e) => e.lastSuccess === 0),
      this.random,
    )
    // Shuffled again so the position in the message does not reveal which ones worked.
    const picked = shuffleInPlace([...proven, ...unproven].slice(0, count), this.random)
    return picked.map((e) => ({ host: e.host, port: e.port, lastSeen: e.lastSeen }))
  }

  toJSON(): { version: 1; entries: AddrEntry[] } {
    return { version: 1, entries: [...this.entries.values()].map(copyOf) }
  }

  /** Rebuilds a book from toJSON() output; malformed, duplicate or own entries are skipped, never thrown on. */
  static fromJSON(json: unknown, opts?: AddrManOptions): AddrMan {
    const book = new AddrMan(opts)
    if (!isRecord(json) || json.version !== 1 || !Array.isArray(json.entries)) return book
    for (const raw of json.entries) {
      // Plain JSON cannot throw here, but a caller's object might (getters, proxies).
      try {
        book.restore(raw)
      } catch {
        // skipped, as a malformed entry is
      }
    }
    return book
  }

  // -------------------------------------------------------------- private

  private restore(raw: unknown): void {
    if (!isRecord(raw)) return
    const { source, lastSeen, lastTry, lastSuccess, failures } = raw
    const addr = this.dialable({ host: raw.host, port: raw.port } as PeerAddress)
    if (addr === undefined || typeof source !== 'string' || !Object.hasOwn(SOURCE_RANK, source)) return
    if (!isTime(lastSeen) || !isTime(lastTry) || !isTime(lastSuccess)) return
    if (typeof failures !== 'number' || !Number.isSafeInteger(failures) || failures < 0) return
    const key = addrKey(addr)
    if (this.entries.has(key)) return
    // A clock that went backwards must not leave entries backed off or "seen" in the future.
    const now = this.now()
    const entry: AddrEntry = {
      ...addr,
      source: source as AddrSource,
      lastSeen: Math.min(lastSeen, now),
      lastTry: Math.min(lastTry, now),
      lastSuccess: Math.min(lastSuccess, now),
      failures: Math.min(failures, MAX_FAILURES),
    }
    this.insert(key, entry, now)
  }

  /** The normalised address when it may be stored, else undefined. */
  private dialable(a: PeerAddress): PeerAddress | undefined {
    if (!isRecord(a) || !isValidPort(a.port)) return undefined
    const host = normalizeHost(a.host)
    if (host === undefined || isUndialable(host)) return undefined
    const addr = { host, port: a.port }
    return this.selfKeys.has(addrKey(addr)) ? undefined : addr
  }

  private insert(key: string, entry: AddrEntry, now: number): boolean {
    if (this.entries.size >= this.maxEntries && !this.makeRoomFor(entry, now)) return false
    this.entries.set(key, entry)
    return true
  }

  /**
   * Evicts the worst gossip/inbound entry to admit `newcomer`. A gossip
   * newcomer gets in only if it is better than that entry, so stale gossip
   * cannot churn the table.
   */
  private makeRoomFor(newcomer: AddrEntry, now: number): boolean {
    let worst: AddrEntry | undefined
    for (const e of this.entries.values()) {
      if (!isProtected(e) && (worst === undefined || evictionOrder(e, worst, now) > 0)) worst = e
    }
    if (worst === undefined) return false
    if (!isProtected(newcomer) && evictionOrder(worst, newcomer, now) <= 0) return false
    this.entries.delete(addrKey(worst))
    return true
  }

  /** End of the backoff after the latest failure; 0 when there is none. */
  private backoffEnd(e: AddrEntry): number {
    if (e.failures === 0) return 0
    return e.lastTry + Math.min(this.baseBackoffMs * 2 ** (e.failures - 1), this.maxBackoffMs)
  }

  /** When `host`'s discouragement ends, or 0 when it is not discouraged (expired ones are dropped). */
  private discouragedUntil(host: string, now: number): number {
    const until = this.discouraged.get(host)
    if (until === undefined) return 0
    if (until > now) return until
    this.discouraged.delete(host)
    return 0
  }

  private pruneDiscouraged(now: number): void {
    for (const [host, until] of this.discouraged) if (until <= now) this.discouraged.delete(host)
    for (const host of this.discouraged.keys()) {
      if (this.discouraged.size <= MAX_DISCOURAGED) break
      this.discouraged.delete(host)
    }
  }
}
