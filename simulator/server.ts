// The internet simulator: a TCP server that VPN clients connect to, each
// claiming a private IP, and that relays every IPv4 packet to the client
// owning its destination (docs/PROTOCOL.md, "Tunnel sessions").
//
// The relay path (ClientLink.onData → relay → ClientLink.sendPacket) does
// per packet what the codec must (one frame buffer, plus the AEAD's output
// when sealed) and nothing else: no timers (one tick serves every link),
// no clock reads (the tick refreshes a cached clock, precise enough for
// timeouts of seconds),
// no lookups beyond the router's two map reads. Writes to a destination are
// corked while one socket chunk is handled, so a burst of packets leaves in
// one writev instead of one write per packet. A destination whose send queue is over maxQueueBytes loses the
// packet (QUEUE_FULL, counted against it): a slow client never stalls the
// sender or anybody else.
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { AddressInfo } from 'node:net'
import type { ServerHandshake } from '../protocol/tunnel/handshake.js'
import { VNET_HDR_BYTES, type AuthBody } from '../protocol/tunnel/messages.js'
import type { TunnelKeyPair } from '../protocol/tunnel/crypto.js'
import { silentLogger, type Logger } from '../lib/log.js'
import { TokenBucket } from '../lib/token-bucket.js'
import { ClientLink, type Admission, type LinkHost } from './connection.js'
import { ipFromString, ipToString } from '../protocol/tunnel/ipv4.js'
import { DEFAULT_GRACE_MS, DEFAULT_MAX_CLIENTS, LeaseTable, type ConnId } from './leases.js'
import { isDelivery, Router } from './router.js'
import { gsoSegmentCount, segmentGso, vnetProblem } from './gso.js'
import { Stats } from './stats.js'
import { DEFAULT_SUBNET, parseSubnet, type Subnet } from '../protocol/tunnel/subnet.js'
import { DEFAULT_SIMULATOR_PORT } from '../protocol/tunnel/defaults.js'
import { serveStats, type StatsHttpServer } from './stats-http.js'

export const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
export const DEFAULT_KEEPALIVE_MS = 20_000
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000
export const DEFAULT_STATS_LOG_MS = 30_000
export const DEFAULT_MAX_PENDING_HANDSHAKES = 256

export interface SimulatorOptions {
  /** The simulator's long-term key (key-files.ts loadOrCreateServerKey). */
  staticKey: TunnelKeyPair
  /** Default 0.0.0.0. */
  host?: string
  /** Default DEFAULT_SIMULATOR_PORT; 0 picks a free port (see `address`). */
  port?: number
  /** Default 192.168.0.0/16. */
  subnet?: Subnet
  /** Agree to sealed frames (default true); false is --no-encrypt. */
  encrypt?: boolean
  /** Network secret every client must prove (BAD_SECRET otherwise). */
  secret?: string | Uint8Array
  /** Client keys (lower-case hex) admitted; others are refused NOT_ALLOWED. Absent: everyone. */
  allowKeys?: ReadonlySet<string>
  maxClients?: number
  /** Packets per second each client may send (burst: one second's worth). Absent: unlimited. */
  rateLimitPps?: number
  /** Bytes queued towards one client before further packets to it are dropped (QUEUE_FULL). Default 4 MiB. */
  maxQueueBytes?: number
  /** How long a released IP stays reserved for its key. Default 10 minutes. */
  graceMs?: number
  handshakeTimeoutMs?: number
  /** Send KEEPALIVE after this long without sending. Default 20 s. */
  keepaliveMs?: number
  /** Close a link on which nothing arrived for this long. Default 60 s. */
  idleTimeoutMs?: number
  /** Log Stats.logLine() this often; 0 turns it off. Default 30 s. */
  statsLogMs?: number
  /** Serve the stats JSON on this port (0: any free port); absent: no endpoint. */
  statsPort?: number
  /** Links still in their handshake at most; more are dropped on arrival. Default 256. */
  maxPendingHandshakes?: number
  logger?: Logger
}

export class SimulatorServer implements LinkHost {
  readonly staticKey: TunnelKeyPair
  readonly encrypt: boolean
  readonly leases: LeaseTable
  readonly stats = new Stats()
  private readonly router: Router
  private readonly log: Logger
  private readonly links = new Map<ConnId, ClientLink>()
  private readonly corked: ClientLink[] = []
  private readonly server: net.Server
  private statsServer: StatsHttpServer | null = null
  private readonly maxQueueBytes: number
  private readonly handshakeTimeoutMs: number
  private readonly keepaliveMs: number
  private readonly idleTimeoutMs: number
  private readonly maxPending: number
  private pending = 0
  private nextId = 1
  private clock = performance.now()
  private tickTimer: NodeJS.Timeout | null = null
  private statsTimer: NodeJS.Timeout | null = null
  private stopping: Promise<void> | null = null

  private constructor(private readonly opts: SimulatorOptions) {
    this.staticKey = opts.staticKey
    this.encrypt = opts.encrypt ?? true
    this.log = opts.logger ?? silentLogger()
    this.leases = new LeaseTable({
      subnet: opts.subnet ?? parseSubnet(DEFAULT_SUBNET),
      graceMs: opts.graceMs ?? DEFAULT_GRACE_MS,
      maxClients: opts.maxClients ?? DEFAULT_MAX_CLIENTS,
    })
    this.router = new Router(this.leases)
    this.maxQueueBytes = positive('maxQueueBytes', opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES)
    this.handshakeTimeoutMs = positive('handshakeTimeoutMs', opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS)
    this.keepaliveMs = positive('keepaliveMs', opts.keepaliveMs ?? DEFAULT_KEEPALIVE_MS)
    this.idleTimeoutMs = positive('idleTimeoutMs', opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS)
    this.maxPending = positive('maxPendingHandshakes', opts.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES)
    if (opts.rateLimitPps !== undefined) positive('rateLimitPps', opts.rateLimitPps)
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket))
  }

  /** Listens (and serves stats when asked); rejects when a port cannot be bound. */
  static async start(opts: SimulatorOptions): Promise<SimulatorServer> {
    const sim = new SimulatorServer(opts)
    const host = opts.host ?? '0.0.0.0'
    await new Promise<void>((resolve, reject) => {
      sim.server.once('error', reject)
      sim.server.listen(opts.port ?? DEFAULT_SIMULATOR_PORT, host, () => {
        sim.server.off('error', reject)
        resolve()
      })
    })
    sim.server.on('error', (err) => sim.log.error('simulator listener error', { error: err.message }))
    if (opts.statsPort !== undefined) {
      try {
        sim.statsServer = await serveStats(sim.stats, host, opts.statsPort)
      } catch (err) {
        sim.server.close()
        throw err
      }
    }
    // A quarter of the shortest period, so a deadline is overshot by at most 25 %.
    const tickMs = Math.max(10, Math.min(1000, sim.keepaliveMs / 4, sim.idleTimeoutMs / 4))
    sim.tickTimer = setInterval(() => sim.tick(), tickMs)
    sim.tickTimer.unref()
    const statsLogMs = opts.statsLogMs ?? DEFAULT_STATS_LOG_MS
    if (statsLogMs > 0) {
      sim.statsTimer = setInterval(() => sim.log.info(`stats: ${sim.stats.logLine()}`), statsLogMs)
      sim.statsTimer.unref()
    }
    return sim
  }

  /** Where clients connect. */
  get address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo
    return { host: a.address, port: a.port }
  }

  /** Where the stats JSON is served, or null without --stats-port. */
  get statsAddress(): { host: string; port: number } | null {
    return this.statsServer?.address ?? null
  }

  /** Open TCP links, in handshake or registered. */
  get connectionCount(): number {
    return this.links.size
  }

  now(): number {
    return this.clock
  }

  /** Sends RESTARTING to every registered client, closes every link and the listeners. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    if (this.tickTimer !== null) clearInterval(this.tickTimer)
    if (this.statsTimer !== null) clearInterval(this.statsTimer)
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    const sockets = [...this.links.values()].map((link) => {
      const gone = new Promise<void>((resolve) => link.socket.once('close', () => resolve()))
      if (link.state === 'open') link.fail('RESTARTING', '', 'the simulator is shutting down')
      else link.destroy('the simulator is shutting down')
      return link.socket.destroyed ? Promise.resolve() : gone
    })
    await Promise.all(sockets)
    await closed
    await this.statsServer?.close()
  }

  private accept(socket: net.Socket): void {
    if (this.stopping !== null || this.pending >= this.maxPending) {
      socket.destroy()
      return
    }
    this.clock = performance.now()
    const link = new ClientLink(this.nextId++, socket, this)
    this.links.set(link.id, link)
    this.pending++
    const timer = setTimeout(() => {
      if (link.state !== 'open') link.fail('ERROR', 'TIMEOUT', `handshake not finished within ${this.handshakeTimeoutMs} ms`)
    }, this.handshakeTimeoutMs)
    timer.unref()
    link.handshakeTimer = timer
    this.log.debug('tunnel connection', { conn: link.id, remote: link.remote })
  }

  admit(link: ClientLink, key: string, auth: AuthBody, handshake: ServerHandshake): Admission {
    this.endHandshake(link)
    const secret = this.opts.secret
    if (secret !== undefined && !handshake.checkSecret(secret, auth.secretProof)) {
      const message = auth.secretProof.length === 0 ? 'this simulator requires a network secret' : 'the network secret is wrong'
      return this.refuse(link, 'BAD_SECRET', message)
    }
    if (this.opts.allowKeys !== undefined && !this.opts.allowKeys.has(key)) {
      return this.refuse(link, 'NOT_ALLOWED', `client key ${key} is not on the simulator's allow-list`)
    }
    const ip = ipFromString(auth.ip)!
    const claim = this.leases.claim(ip, key, link.id)
    if (!claim.ok) return this.refuse(link, claim.code, claim.message)
    if (claim.replaced !== undefined) {
      this.links.get(claim.replaced)?.end('replaced by a new connection of the same client key')
    }
    const stats = this.stats.open(link.id, ip, key)
    const pps = this.opts.rateLimitPps
    const bucket = pps === undefined ? null : new TokenBucket({ capacity: pps, refillPerSec: pps })
    this.log.info('client registered', {
      conn: link.id,
      ip: auth.ip,
      key,
      remote: link.remote,
      encrypted: link.cipher !== null,
      ...(claim.replaced === undefined ? {} : { replaced: claim.replaced }),
    })
    return { ok: true, ip, leaseSeconds: Math.round(this.leases.graceMs / 1000), stats, bucket }
  }

  /** One packet a registered client sent; `gso`: data is a GSO_PACKET's (virtio_net_hdr, then the IP packet). */
  relay(link: ClientLink, data: Buffer, gso: boolean): void {
    const from = link.stats!
    const bytes = data.length
    from.countIn(bytes)
    // A super-packet stands for ~40 MTU-sized packets; the limit is per packet the sender's kernel made.
    if (link.bucket !== null && !link.bucket.take(gso ? Math.min(gsoSegmentCount(data), this.opts.rateLimitPps!) : 1)) {
      from.countDrop('RATE_LIMITED')
      return
    }
    const to = this.router.route(link.id, gso ? data.subarray(VNET_HDR_BYTES) : data)
    if (!isDelivery(to)) {
      from.countDrop(to)
      return
    }
    // Checked here, not only by the receiving kernel: a header it rejects would cost the receiver a write error.
    if (gso && (!link.gso || vnetProblem(data) !== null)) {
      from.countDrop('MALFORMED')
      return
    }
    const dest = this.links.get(to)
    if (dest === undefined || dest.state !== 'open') {
      from.countDrop('UNKNOWN_DESTINATION')
      return
    }
    if (dest.socket.writableLength > this.maxQueueBytes) {
      dest.stats!.countDrop('QUEUE_FULL')
      return
    }
    if (!dest.corked) {
      dest.corked = true
      dest.socket.cork()
      this.corked.push(dest)
    }
    if (gso && !dest.gso) {
      // A receiver without offloads (--no-offload) gets what the sender's NIC would have sent.
      const packets = segmentGso(data)
      if (packets === null) {
        from.countDrop('GSO_UNSUPPORTED')
        return
      }
      for (const packet of packets) if (dest.sendPacket(packet)) dest.stats!.countOut(packet.length)
      return
    }
    if (dest.sendPacket(data, gso)) dest.stats!.countOut(bytes)
  }

  flush(): void {
    const corked = this.corked
    for (let i = 0; i < corked.length; i++) {
      const link = corked[i]!
      link.corked = false
      link.socket.uncork()
    }
    corked.length = 0
  }

  internalError(link: ClientLink, err: unknown): void {
    this.log.error('internal error handling a frame, dropping the link', {
      conn: link.id,
      remote: link.remote,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
  }

  closed(link: ClientLink, why: string): void {
    this.endHandshake(link)
    this.links.delete(link.id)
    const held = this.leases.release(link.id)
    this.stats.close(link.id)
    if (link.corked) {
      link.corked = false
      const at = this.corked.indexOf(link)
      if (at >= 0) this.corked.splice(at, 1)
    }
    if (held) this.log.info('client disconnected', { conn: link.id, ip: ipToString(link.ip), why })
    else this.log.debug('tunnel connection closed', { conn: link.id, remote: link.remote, why })
  }

  private refuse(link: ClientLink, code: string, message: string): Admission {
    this.log.info('client refused', { conn: link.id, remote: link.remote, code, message })
    return { ok: false, code, message }
  }

  /** The link left the handshake phase (registered, refused or gone): stop its timer, free its pending slot. */
  private endHandshake(link: ClientLink): void {
    if (link.handshakeTimer === undefined) return
    clearTimeout(link.handshakeTimer)
    link.handshakeTimer = undefined
    this.pending--
  }

  /** Keepalives, dead links, expired leases. */
  private tick(): void {
    const now = (this.clock = performance.now())
    for (const link of this.links.values()) {
      if (link.state !== 'open') continue
      if (now - link.lastReceived >= this.idleTimeoutMs) {
        link.fail('ERROR', 'TIMEOUT', `nothing received for ${Math.round((now - link.lastReceived) / 1000)} s`)
      } else if (now - link.lastSent >= this.keepaliveMs) {
        link.send({ type: 'KEEPALIVE' })
      }
    }
    for (const freed of this.leases.purge()) this.log.info('lease expired', { ip: ipToString(freed.ip), key: freed.key })
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}
