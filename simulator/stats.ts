// Traffic accounting for the simulator's --stats-port endpoint and its
// periodic log line.
//
// The server opens one ClientStats per registered connection and keeps it on
// its connection object, so counting a packet is a few field increments, no
// lookup. Totals are summed when asked for (clients are few, packets many),
// plus what closed connections and unattributable drops left behind.
//
// Directions are the simulator's: "in" is what a client sent up its tunnel
// (every packet, forwarded or not), "out" is what was delivered down to it.
// Drops are counted against the client the reason is about: the sender for
// the router's reasons and RATE_LIMITED, the receiver for QUEUE_FULL (its
// queue was full: it is the slow one).

import { ipToString, isIPv4Number } from '../protocol/tunnel/ipv4.js'
import type { ConnId } from './leases.js'
import { ROUTER_DROP_REASONS, type DropReason } from './router.js'

/**
 * The router's reasons plus those the server decides: a full per-client
 * queue, the rate limit, and a GSO super-packet that could not be cut into
 * plain packets for a client without offloads (IP options or fragments).
 */
export type StatsDropReason = DropReason | 'QUEUE_FULL' | 'RATE_LIMITED' | 'GSO_UNSUPPORTED'

export const DROP_REASONS: readonly StatsDropReason[] = [...ROUTER_DROP_REASONS, 'QUEUE_FULL', 'RATE_LIMITED', 'GSO_UNSUPPORTED']

export type DropCounts = Record<StatsDropReason, number>

export interface TrafficJSON {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  /** Sum of `drops`. */
  dropped: number
  drops: DropCounts
}

export interface ClientStatsJSON extends TrafficJSON {
  connId: ConnId
  ip: string
  key: string
  /** ISO 8601. */
  connectedSince: string
}

export interface StatsJSON {
  /** ISO 8601. */
  startedAt: string
  uptimeSeconds: number
  clients: ClientStatsJSON[]
  /** All traffic since start, closed connections and unattributed drops included. */
  totals: TrafficJSON & { clients: number }
}

function zeroDrops(): DropCounts {
  const drops = {} as DropCounts
  for (const reason of DROP_REASONS) drops[reason] = 0
  return drops
}

class Traffic {
  packetsIn = 0
  bytesIn = 0
  packetsOut = 0
  bytesOut = 0
  readonly drops: DropCounts = zeroDrops()

  add(other: Traffic): void {
    this.packetsIn += other.packetsIn
    this.bytesIn += other.bytesIn
    this.packetsOut += other.packetsOut
    this.bytesOut += other.bytesOut
    for (const reason of DROP_REASONS) this.drops[reason] += other.drops[reason]
  }

  trafficJSON(): TrafficJSON {
    let dropped = 0
    for (const reason of DROP_REASONS) dropped += this.drops[reason]
    return {
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      packetsOut: this.packetsOut,
      bytesOut: this.bytesOut,
      dropped,
      drops: { ...this.drops },
    }
  }
}

/** One connected client's counters. */
export class ClientStats extends Traffic {
  constructor(
    readonly connId: ConnId,
    /** Unsigned 32-bit. */
    readonly ip: number,
    readonly key: string,
    /** Clock milliseconds. */
    readonly connectedSince: number,
  ) {
    super()
  }

  /** A packet of `bytes` arrived from this client (count it before routing, dropped or not). */
  countIn(bytes: number): void {
    this.packetsIn++
    this.bytesIn += bytes
  }

  /** A packet of `bytes` was handed to this client's connection. */
  countOut(bytes: number): void {
    this.packetsOut++
    this.bytesOut += bytes
  }

  countDrop(reason: StatsDropReason): void {
    this.drops[reason]++
  }

  toJSON(): ClientStatsJSON {
    return {
      connId: this.connId,
      ip: ipToString(this.ip),
      key: this.key,
      connectedSince: isoTime(this.connectedSince),
      ...this.trafficJSON(),
    }
  }
}

export interface StatsOptions {
  /** Milliseconds since the epoch. Default: performance.timeOrigin + performance.now(). */
  now?: () => number
}

export class Stats {
  private readonly now: () => number
  private readonly startedAt: number
  private readonly clients = new Map<ConnId, ClientStats>()
  // Counters of closed connections and of drops no open client can be blamed for.
  private readonly retired = new Traffic()
  private lastLog: { at: number; bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number }

  constructor(opts: StatsOptions = {}) {
    this.now = opts.now ?? (() => performance.timeOrigin + performance.now())
    this.startedAt = this.now()
    this.lastLog = { at: this.startedAt, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 }
  }

  /** Starts counting for a newly registered connection. Re-opening a ConnId retires its old counters first. */
  open(connId: ConnId, ip: number, key: string): ClientStats {
    if (!isIPv4Number(ip)) throw new RangeError(`not an unsigned 32-bit IPv4 address: ${String(ip)}`)
    this.close(connId)
    const client = new ClientStats(connId, ip, key, this.now())
    this.clients.set(connId, client)
    return client
  }

  /** The connection is gone: its counters move into the totals. Unknown ids are ignored. */
  close(connId: ConnId): void {
    const client = this.clients.get(connId)
    if (client === undefined) return
    this.clients.delete(connId)
    this.retired.add(client)
  }

  client(connId: ConnId): ClientStats | undefined {
    return this.clients.get(connId)
  }

  /** Counts a drop against `connId`'s client, or in the totals alone when it has none (e.g. NOT_REGISTERED). */
  countDrop(connId: ConnId | undefined, reason: StatsDropReason): void {
    const client = connId === undefined ? undefined : this.clients.get(connId)
    if (client === undefined) this.retired.drops[reason]++
    else client.drops[reason]++
  }

  get clientCount(): number {
    return this.clients.size
  }

  totals(): TrafficJSON & { clients: number } {
    const sum = new Traffic()
    sum.add(this.retired)
    for (const client of this.clients.values()) sum.add(client)
    return { clients: this.clients.size, ...sum.trafficJSON() }
  }

  /** The --stats-port document. */
  toJSON(): StatsJSON {
    const now = this.now()
    return {
      startedAt: isoTime(this.startedAt),
      uptimeSeconds: Math.max(0, Math.round((now - this.startedAt) / 1000)),
      clients: [...this.clients.values()].sort((a, b) => a.ip - b.ip || a.connId - b.connId).map((c) => c.toJSON()),
      totals: this.totals(),
    }
  }

  /**
   * One line for the periodic log: cumulative totals, then rates since the
   * previous call (or since start), e.g.
   * `3 clients; in 1200 pkt 1.5 MB, out 1180 pkt 1.4 MB; dropped 20 (UNKNOWN_DESTINATION 18, SPOOFED 2); last 60.0 s: in 0.2 Mbit/s 20 pkt/s, out 0.2 Mbit/s 19.7 pkt/s`.
   * Each call starts a new rate interval.
   */
  logLine(): string {
    const now = this.now()
    const t = this.totals()
    const last = this.lastLog
    const seconds = Math.max(0, (now - last.at) / 1000)
    this.lastLog = { at: now, bytesIn: t.bytesIn, bytesOut: t.bytesOut, packetsIn: t.packetsIn, packetsOut: t.packetsOut }

    const reasons = DROP_REASONS.filter((r) => t.drops[r] > 0)
      .sort((a, b) => t.drops[b] - t.drops[a])
      .map((r) => `${r} ${t.drops[r]}`)
    const dropped = reasons.length === 0 ? 'dropped 0' : `dropped ${t.dropped} (${reasons.join(', ')})`
    const parts = [
      `${t.clients} client${t.clients === 1 ? '' : 's'}`,
      `in ${t.packetsIn} pkt ${formatBytes(t.bytesIn)}, out ${t.packetsOut} pkt ${formatBytes(t.bytesOut)}`,
      dropped,
    ]
    if (seconds > 0) {
      const rate = (bytes: number, packets: number) =>
        `${formatNumber((bytes * 8) / seconds / 1e6)} Mbit/s ${formatNumber(packets / seconds)} pkt/s`
      parts.push(
        `last ${seconds.toFixed(1)} s: in ${rate(t.bytesIn - last.bytesIn, t.packetsIn - last.packetsIn)}, ` +
          `out ${rate(t.bytesOut - last.bytesOut, t.packetsOut - last.packetsOut)}`,
      )
    }
    return parts.join('; ')
  }
}

/** SI units, as network tools print them: 1.5 MB is 1,500,000 bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']
  let value = bytes
  let unit = 0
  // 999.5 rather than 1000 so that rounding never prints "1000 MB".
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return unit === 0 ? `${value} B` : `${formatNumber(value)} ${units[unit]}`
}

/** Three significant figures at most, no trailing zeros: 0.2, 19.7, 123, 4560. */
function formatNumber(value: number): string {
  if (value === 0) return '0'
  if (value >= 100) return String(Math.round(value))
  return String(Number(value.toPrecision(3)))
}

function isoTime(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString()
}
