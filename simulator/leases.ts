// Who holds which private IP. A lease binds an IP to a client's long-term
// public key, so that an unclean exit never locks the client out (the same key
// takes its IP back at once) and no other client can take the IP over (the
// original simulator's bug: a later client claiming an IP simply stole it).
//
// States of a lease:
//   connected: bound to a live connection; owner(ip) answers it.
//   grace:     its connection went away (release); for graceMs only the same
//              key may claim the IP, then the lease expires and the IP is free.
// A key holds at most one lease; claiming another IP moves it and frees the
// old IP at once.
//
// Pure and synchronous: the server owns the sockets and calls in; time comes
// from an injectable clock.

import { ipToString, isIPv4Number } from '../protocol/tunnel/ipv4.js'
import type { Subnet } from '../protocol/tunnel/subnet.js'

/** The server's identifier for one TCP connection; unique for the process's life. */
export type ConnId = number

export const DEFAULT_GRACE_MS = 10 * 60_000
export const DEFAULT_MAX_CLIENTS = 1024

export type ClaimRefusal = 'OUT_OF_SUBNET' | 'NOT_HOST_ADDRESS' | 'IP_IN_USE' | 'TOO_MANY_CLIENTS'

export type ClaimResult =
  /** `replaced`: the key's previous connection, which the server must now close. */
  | { ok: true; replaced?: ConnId }
  /** `message` is meant for the client as is ("192.168.53.5 is in use by another client"). */
  | { ok: false; code: ClaimRefusal; message: string }

/** A copy of one lease, for stats and logs. Times in the clock's milliseconds. */
export interface LeaseInfo {
  ip: number
  key: string
  /** The live connection, or undefined while in grace. */
  connId: ConnId | undefined
  /** When the current or last connection claimed the IP. */
  connectedSince: number
  /** When a lease in grace expires; undefined while connected. */
  expiresAt: number | undefined
}

export interface LeaseTableOptions {
  /** Only host addresses of this range may be claimed. */
  subnet: Subnet
  /** How long a released IP stays reserved for its key. Default 10 minutes; 0 frees at once. */
  graceMs?: number
  /** Live connections at most; a further new client is refused with TOO_MANY_CLIENTS. Default 1024. */
  maxClients?: number
  /**
   * Leases at most, connected plus in grace (default 4 × maxClients, at least
   * maxClients). Bounds memory against many keys connecting once each: when
   * full, the grace lease closest to expiry is dropped early to make room.
   */
  maxLeases?: number
  /** Milliseconds, monotonic. Default: performance.timeOrigin + performance.now(). */
  now?: () => number
}

class Lease {
  constructor(
    public ip: number,
    readonly key: string,
    public connId: ConnId | undefined,
    public connectedSince: number,
    public expiresAt: number | undefined,
  ) {}
}

const KEY_RE = /^(?:[0-9a-f]{2})+$/

export class LeaseTable {
  readonly subnet: Subnet
  readonly graceMs: number
  readonly maxClients: number
  readonly maxLeases: number
  private readonly now: () => number
  // Keyed by the address's signed 32-bit form: small integers stay unboxed in
  // V8, so a lookup per packet allocates nothing.
  private readonly byIp = new Map<number, Lease>()
  private readonly byKey = new Map<string, Lease>()
  private readonly byConn = new Map<ConnId, Lease>()
  // Leases in grace, in release order. graceMs is fixed, so this is also
  // expiry order: purge stops at the first unexpired one.
  private readonly grace = new Map<number, Lease>()
  private evictedCount = 0

  constructor(opts: LeaseTableOptions) {
    this.subnet = opts.subnet
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS
    this.maxLeases = opts.maxLeases ?? this.maxClients * 4
    this.now = opts.now ?? (() => performance.timeOrigin + performance.now())
    if (!(this.graceMs >= 0 && this.graceMs <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`bad graceMs: ${this.graceMs}`)
    if (!Number.isSafeInteger(this.maxClients) || this.maxClients < 1) throw new RangeError(`bad maxClients: ${this.maxClients}`)
    if (!Number.isSafeInteger(this.maxLeases) || this.maxLeases < this.maxClients) {
      throw new RangeError(`maxLeases (${this.maxLeases}) must be an integer ≥ maxClients (${this.maxClients})`)
    }
  }

  /**
   * Binds `ip` to `key` on connection `connId`.
   *
   * - Another key's lease on the IP, connected or in grace, refuses with IP_IN_USE.
   * - The same key gets the IP back at once; if it was still connected
   *   elsewhere (the old TCP link has not timed out yet), that connection is
   *   returned as `replaced` and no longer owns anything.
   * - The key's lease on another IP moves here; the old IP is free at once.
   * - A claim that would add a live connection beyond maxClients is refused
   *   with TOO_MANY_CLIENTS; a reconnect replacing its own connection is not.
   *
   * `key` is the client's authenticated public key in lower-case hex. Bad
   * arguments (not u32, not hex, a connection switching keys) are caller
   * bugs and throw.
   */
  claim(ip: number, key: string, connId: ConnId): ClaimResult {
    if (!isIPv4Number(ip)) throw new RangeError(`not an unsigned 32-bit IPv4 address: ${String(ip)}`)
    if (typeof key !== 'string' || !KEY_RE.test(key)) throw new TypeError('client key must be lower-case hex')
    if (!Number.isSafeInteger(connId)) throw new TypeError(`bad connection id: ${String(connId)}`)
    const onConn = this.byConn.get(connId)
    if (onConn !== undefined && onConn.key !== key) {
      throw new Error(`connection ${connId} already holds ${ipToString(onConn.ip)} for another key`)
    }

    if (!this.subnet.contains(ip)) {
      return refuse('OUT_OF_SUBNET', `${ipToString(ip)} is outside the simulator's subnet ${this.subnet.toString()}`)
    }
    if (!this.subnet.isHostAddress(ip)) {
      const what = ip === this.subnet.network ? 'network' : 'broadcast'
      return refuse('NOT_HOST_ADDRESS', `${ipToString(ip)} is the ${what} address of ${this.subnet.toString()}`)
    }

    const now = this.now()
    const held = this.liveAt(ip, now)
    if (held !== undefined && held.key !== key) {
      return refuse('IP_IN_USE', `${ipToString(ip)} is in use by another client`)
    }
    const mine = this.liveOfKey(key, now)
    const addsConnection = mine?.connId === undefined
    if (addsConnection && this.byConn.size >= this.maxClients) {
      return refuse('TOO_MANY_CLIENTS', `the simulator is full (${this.maxClients} clients)`)
    }

    let replaced: ConnId | undefined
    let lease = mine
    if (lease === undefined) {
      if (this.byIp.size >= this.maxLeases) this.evictOldestGrace()
      lease = new Lease(ip, key, connId, now, undefined)
      this.byKey.set(key, lease)
    } else {
      if (lease.connId !== undefined && lease.connId !== connId) replaced = lease.connId
      if (lease.connId !== undefined) this.byConn.delete(lease.connId)
      this.grace.delete(lease.ip | 0)
      if (lease.ip !== ip) this.byIp.delete(lease.ip | 0)
      lease.ip = ip
      lease.connId = connId
      lease.connectedSince = now
      lease.expiresAt = undefined
    }
    this.byIp.set(ip | 0, lease)
    this.byConn.set(connId, lease)
    return replaced === undefined ? { ok: true } : { ok: true, replaced }
  }

  /**
   * The connection went away: its lease enters grace (or is freed at once
   * when graceMs is 0). Returns false when the connection holds no lease —
   * never registered, already released, or replaced by a newer connection of
   * the same key, whose lease this must not touch.
   */
  release(connId: ConnId): boolean {
    const lease = this.byConn.get(connId)
    if (lease === undefined) return false
    this.byConn.delete(connId)
    lease.connId = undefined
    if (this.graceMs === 0) {
      this.remove(lease)
    } else {
      lease.expiresAt = this.now() + this.graceMs
      this.grace.set(lease.ip | 0, lease)
    }
    return true
  }

  /** Frees leases whose grace has run out by `now`; returns them (for the log). */
  purge(now: number = this.now()): LeaseInfo[] {
    const freed: LeaseInfo[] = []
    for (const lease of this.grace.values()) {
      if (lease.expiresAt! > now) break
      freed.push(info(lease))
      this.remove(lease)
    }
    return freed
  }

  /** The live connection owning `ip`, or undefined (free, or in grace). Allocates nothing. */
  owner(ip: number): ConnId | undefined {
    return this.byIp.get(ip | 0)?.connId
  }

  /** The IP a live connection holds (unsigned 32-bit), or undefined. Allocates nothing. */
  ipOf(connId: ConnId): number | undefined {
    return this.byConn.get(connId)?.ip
  }

  /** The key's lease, connected or still in grace. */
  leaseOf(key: string): LeaseInfo | undefined {
    const lease = this.liveOfKey(key, this.now())
    return lease === undefined ? undefined : info(lease)
  }

  /** Live connections. */
  get connectedCount(): number {
    return this.byConn.size
  }

  /** Leases held, connected plus in grace (expired ones not yet purged included). */
  get size(): number {
    return this.byIp.size
  }

  /** Grace leases dropped early because the table was full (maxLeases). */
  get evicted(): number {
    return this.evictedCount
  }

  /** Every unexpired lease, by address. */
  snapshot(): LeaseInfo[] {
    const now = this.now()
    const out: LeaseInfo[] = []
    for (const lease of this.byIp.values()) if (isLive(lease, now)) out.push(info(lease))
    return out.sort((a, b) => a.ip - b.ip)
  }

  private liveAt(ip: number, now: number): Lease | undefined {
    const lease = this.byIp.get(ip | 0)
    if (lease === undefined || isLive(lease, now)) return lease
    this.remove(lease)
    return undefined
  }

  private liveOfKey(key: string, now: number): Lease | undefined {
    const lease = this.byKey.get(key)
    if (lease === undefined || isLive(lease, now)) return lease
    this.remove(lease)
    return undefined
  }

  private evictOldestGrace(): void {
    for (const lease of this.grace.values()) {
      this.remove(lease)
      this.evictedCount++
      return
    }
  }

  /** Forgets a lease that has no live connection. */
  private remove(lease: Lease): void {
    this.byIp.delete(lease.ip | 0)
    this.byKey.delete(lease.key)
    this.grace.delete(lease.ip | 0)
  }
}

function isLive(lease: Lease, now: number): boolean {
  return lease.connId !== undefined || lease.expiresAt! > now
}

function info(lease: Lease): LeaseInfo {
  return {
    ip: lease.ip,
    key: lease.key,
    connId: lease.connId,
    connectedSince: lease.connectedSince,
    expiresAt: lease.expiresAt,
  }
}

function refuse(code: ClaimRefusal, message: string): ClaimResult {
  return { ok: false, code, message }
}
