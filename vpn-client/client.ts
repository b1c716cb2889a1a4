// The VPN client's link to the internet simulator: connect, handshake, relay
// packets between the TUN and the tunnel, and come back after any failure.
//
// Like wireguard-go's device/conn split, the TUN is given (a Duplex that
// yields one packet per chunk) and outlives every connection: a simulator
// restart or a network outage costs packets, never the interface or its IP.
// Retries back off exponentially (0.5 s … 30 s, with jitter so a restarted
// simulator is not hit by every client at once); RESTARTING from the
// simulator skips the backoff. Only a refusal that retrying cannot fix (IP in
// use, outside the subnet, not allowed, wrong secret, server key mismatch) is
// fatal: it is reported as 'fatal' and the client stops.
import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { Frame } from '../protocol/wire/frame.js'
import { readFrames, type FrameSink } from '../protocol/wire/frame-reader.js'
import { ProtocolError } from '../protocol/wire/errors.js'
import { ClientHandshake, type TunnelSession } from '../protocol/tunnel/handshake.js'
import type { TunnelKeyPair } from '../protocol/tunnel/crypto.js'
import {
  createTunnelFrameDecoder,
  decodePacketFrame,
  decodeTunnelFrame,
  encodePacketFrame,
  encodeTunnelFrame,
  isGsoFrame,
  isPacketFrame,
  SEALED_TYPE_BIT,
  TUNNEL_MESSAGE_TYPES,
  TunnelError,
  type FrameCipher,
  type TunnelMessage,
} from '../protocol/tunnel/messages.js'
import type { Logger } from '../lib/log.js'
import { classifyTunRead, plainPacket, TunRead, tunWriteFor } from './packet-path.js'

export interface VpnClientOptions {
  host: string
  port: number
  /** The private IP to claim. */
  ip: string
  mtu: number
  key: TunnelKeyPair
  /** Pin the simulator's static key; any other is refused (fatal). */
  serverKey?: Buffer
  secret?: string
  encrypt: boolean
  /** Refuse a simulator that turns encryption off. */
  requireEncryption?: boolean
  /** The TUN carries virtio headers (IFF_VNET_HDR): reads may be super-packets, and we announce gso. */
  offload: boolean
  logger: Logger
  minBackoffMs?: number
  maxBackoffMs?: number
  keepaliveMs?: number
  idleTimeoutMs?: number
  handshakeTimeoutMs?: number
}

/** REFUSED codes that retrying cannot fix. */
const FATAL_REFUSALS = new Set(['IP_IN_USE', 'OUT_OF_SUBNET', 'NOT_HOST_ADDRESS', 'NOT_ALLOWED', 'BAD_SECRET'])
/** Local handshake failures that retrying cannot fix. */
const FATAL_TUNNEL_ERRORS = new Set(['SERVER_KEY_MISMATCH', 'ENCRYPTION_REQUIRED', 'BAD_VERSION'])

/** Above this many bytes queued for the simulator, stop reading the TUN (the kernel queues, then drops). */
const TUNNEL_HIGH_WATER = 4 << 20

/** Why the client gave up: `code` is the simulator's REFUSED code or a TunnelError code. */
export class VpnFatalError extends Error {
  override name = 'VpnFatalError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface VpnCounters {
  packetsUp: number
  bytesUp: number
  packetsDown: number
  bytesDown: number
  /** Read from the TUN while no tunnel was open. */
  droppedDisconnected: number
  /** Not IPv4, or too short: never sent. */
  droppedNotIPv4: number
  connects: number
}

type LinkState = 'hello' | 'auth' | 'open'

interface Link {
  socket: net.Socket
  state: LinkState
  handshake: ClientHandshake
  session: TunnelSession | null
  cipher: FrameCipher | null
  lastSent: number
  lastReceived: number
  /** When the connect began: the handshake must finish within handshakeTimeoutMs of it, however chatty the server. */
  startedAt: number
  decoder: ReturnType<typeof createTunnelFrameDecoder>
  /** Set when the simulator said RESTARTING: come back without backoff. */
  restarting: boolean
}

/**
 * Events: 'open' (registered; {encrypted, serverKey}), 'down' (a link ended;
 * {why}), 'fatal' (VpnFatalError; the client has stopped).
 */
export class VpnClient extends EventEmitter {
  readonly counters: VpnCounters = {
    packetsUp: 0,
    bytesUp: 0,
    packetsDown: 0,
    bytesDown: 0,
    droppedDisconnected: 0,
    droppedNotIPv4: 0,
    connects: 0,
  }
  private link: Link | null = null
  private fatalError: VpnFatalError | null = null
  private stopped = false
  private failures = 0
  private retryTimer: NodeJS.Timeout | null = null
  private readonly tick: NodeJS.Timeout
  private corked = false
  private readonly log: Logger
  private readonly minBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly keepaliveMs: number
  private readonly idleTimeoutMs: number
  private readonly handshakeTimeoutMs: number

  constructor(
    private readonly opts: VpnClientOptions,
    private readonly tun: Duplex,
  ) {
    super()
    this.log = opts.logger
    this.minBackoffMs = opts.minBackoffMs ?? 500
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000
    this.keepaliveMs = opts.keepaliveMs ?? 20_000
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000
    tun.on('data', (read: Buffer) => this.fromTun(read))
    tun.on('drain', () => this.link?.socket.resume())
    this.tick = setInterval(() => this.onTick(), Math.min(1000, this.keepaliveMs / 4))
    this.tick.unref()
    this.connect()
  }

  /** True while registered with the simulator. */
  get isOpen(): boolean {
    return this.link?.state === 'open'
  }

  /**
   * Resolves on the first registration; rejects with VpnFatalError, with a
   * timeout Error after `timeoutMs`, or with the abort reason when `signal`
   * aborts (the client keeps running: stopping it is the caller's call).
   */
  waitOpen(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.isOpen) return Promise.resolve()
    if (this.fatalError !== null) return Promise.reject(this.fatalError)
    if (this.stopped) return Promise.reject(new Error('the VPN client is stopped'))
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        this.off('open', onOpen)
        this.off('fatal', onFatal)
        signal?.removeEventListener('abort', onAbort)
      }
      const onOpen = (): void => {
        done()
        resolve()
      }
      const onFatal = (err: Error): void => {
        done()
        reject(err)
      }
      const onAbort = (): void => {
        done()
        reject(signal!.reason)
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no answer from the simulator at ${this.opts.host}:${this.opts.port} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.on('open', onOpen)
      this.on('fatal', onFatal)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Closes the link and stops retrying. The TUN is the caller's to close. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.tick)
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    const link = this.link
    this.link = null
    if (link === null || link.socket.destroyed) return
    const closed = new Promise<void>((resolve) => link.socket.once('close', () => resolve()))
    link.socket.end()
    const timer = setTimeout(() => link.socket.destroy(), 500)
    await closed
    clearTimeout(timer)
  }

  // ---- connection lifecycle --------------------------------------------------------

  private connect(): void {
    if (this.stopped) return
    this.retryTimer = null
    const { host, port } = this.opts
    const socket = net.connect({ host, port, noDelay: true })
    const handshake = new ClientHandshake({
      staticKey: this.opts.key,
      encrypt: this.opts.encrypt,
      requireEncryption: this.opts.requireEncryption ?? false,
      ...(this.opts.serverKey === undefined ? {} : { serverKey: this.opts.serverKey }),
    })
    const now = performance.now()
    const link: Link = {
      socket,
      state: 'hello',
      handshake,
      session: null,
      cipher: null,
      lastSent: now,
      lastReceived: now,
      startedAt: now,
      decoder: createTunnelFrameDecoder(),
      restarting: false,
    }
    this.link = link
    this.log.debug('connecting to the simulator', { host, port })
    socket.once('connect', () => {
      this.write(link, encodeTunnelFrame(handshake.hello))
    })
    const sink: FrameSink = {
      isReading: () => this.link === link,
      onFrame: (frame) => this.onFrame(link, frame),
      onFrameError: (err) => this.linkError(link, err),
      onInternalError: (err) => this.internalError(link, err),
    }
    socket.on('data', (chunk: Buffer) => {
      link.lastReceived = performance.now()
      readFrames(link.decoder, chunk, sink)
    })
    socket.on('drain', () => this.tun.resume())
    socket.on('error', (err) => this.log.debug('tunnel socket error', { error: err.message }))
    socket.once('close', () => this.onClose(link))
  }

  private onClose(link: Link): void {
    if (this.link !== link) return
    this.link = null
    this.tun.resume()
    const wasOpen = link.state === 'open'
    if (this.stopped) return
    if (wasOpen) {
      this.failures = 0
      this.emit('down', { why: link.restarting ? 'simulator restarting' : 'connection lost' })
    }
    this.failures++
    const delay = link.restarting ? this.jitter(this.minBackoffMs) : this.backoff()
    this.log.log(wasOpen ? 'warn' : 'info', wasOpen ? 'tunnel down, reconnecting' : 'simulator unreachable, retrying', {
      host: this.opts.host,
      port: this.opts.port,
      inMs: Math.round(delay),
      attempt: this.failures,
    })
    this.retryTimer = setTimeout(() => this.connect(), delay)
  }

  private backoff(): number {
    const base = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(this.failures - 1, 16))
    return this.jitter(base)
  }

  private jitter(ms: number): number {
    return ms * (0.8 + Math.random() * 0.4)
  }

  private fatal(link: Link, code: string, message: string): void {
    this.log.error('the simulator cannot be used', { code, message })
    link.socket.destroy()
    this.abort(new VpnFatalError(code, message))
  }

  /** Stops for good and reports `err` as 'fatal' (also used when the TUN itself is gone). No-op once stopped. */
  abort(err: VpnFatalError): void {
    if (this.stopped) return
    this.fatalError = err
    this.stopped = true
    clearInterval(this.tick)
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    const link = this.link
    this.link = null
    link?.socket.destroy()
    this.emit('fatal', err)
  }

  private onTick(): void {
    const link = this.link
    if (link === null) return
    const now = performance.now()
    // Covers the TCP connect too: a SYN into a firewall's DROP would otherwise wait for the kernel (~2 min).
    if (link.state !== 'open') {
      if (now - link.startedAt > this.handshakeTimeoutMs) link.socket.destroy()
      return
    }
    if (now - link.lastReceived >= this.idleTimeoutMs) {
      this.log.warn('simulator silent, reconnecting', { silentMs: Math.round(now - link.lastReceived) })
      link.socket.destroy()
    } else if (now - link.lastSent >= this.keepaliveMs) {
      this.write(link, encodeTunnelFrame({ type: 'KEEPALIVE' }, link.cipher))
    }
  }

  // ---- simulator → TUN ------------------------------------------------------------

  private onFrame(link: Link, frame: Frame): void {
    if (link.state === 'open' && isPacketFrame(frame)) this.toTun(link, decodePacketFrame(frame, link.cipher), isGsoFrame(frame))
    else this.onControl(link, frame)
  }

  private toTun(link: Link, data: Buffer, gso: boolean): void {
    if (gso && !this.opts.offload) return // the simulator sends these only to clients that asked
    this.counters.packetsDown++
    this.counters.bytesDown += data.length
    if (!this.tun.write(tunWriteFor(data, gso, this.opts.offload))) link.socket.pause()
  }

  private onControl(link: Link, frame: Frame): void {
    let msg: TunnelMessage
    try {
      msg = this.decodeControl(link, frame)
    } catch (err) {
      this.linkError(link, err)
      return
    }
    switch (msg.type) {
      case 'SERVER_HELLO':
        if (link.state !== 'hello') return this.unexpected(link, msg.type)
        return this.onServerHello(link, msg)
      case 'WELCOME':
        if (link.state !== 'auth') return this.unexpected(link, msg.type)
        link.state = 'open'
        this.failures = 0
        this.counters.connects++
        this.log.info('tunnel up', {
          ip: msg.ip,
          simulator: `${this.opts.host}:${this.opts.port}`,
          encrypted: link.cipher !== null,
          serverKey: link.session!.peerKey.toString('hex'),
          offload: this.opts.offload,
        })
        this.emit('open', { encrypted: link.cipher !== null, serverKey: link.session!.peerKey.toString('hex') })
        return
      case 'REFUSED':
        // Only the answer to AUTH (sealed on an encrypted link) is the simulator's verdict; a plain one before it could come from anyone.
        if (link.state !== 'auth') return this.unexpected(link, msg.type)
        if (FATAL_REFUSALS.has(msg.code)) return this.fatal(link, msg.code, msg.reason)
        this.log.warn('simulator refused us, will retry', { code: msg.code, reason: msg.reason })
        link.socket.destroy()
        return
      case 'RESTARTING':
        link.restarting = true
        link.socket.destroy()
        return
      case 'ERROR':
        this.log.warn('simulator reported an error', { code: msg.code, reason: msg.reason })
        link.socket.destroy()
        return
      case 'KEEPALIVE':
        if (link.state !== 'open') return this.unexpected(link, msg.type)
        return
      default:
        return this.unexpected(link, msg.type)
    }
  }

  /** A plain ERROR may still come on an encrypted link when AUTH failed (docs/PROTOCOL.md): its text is unauthenticated. */
  private decodeControl(link: Link, frame: Frame): TunnelMessage {
    const cipher = link.state === 'hello' ? null : link.cipher
    if (cipher !== null && (frame.type & SEALED_TYPE_BIT) === 0 && frame.type === TUNNEL_MESSAGE_TYPES.ERROR)
      return decodeTunnelFrame(frame)
    return decodeTunnelFrame(frame, cipher)
  }

  private onServerHello(link: Link, hello: Extract<TunnelMessage, { type: 'SERVER_HELLO' }>): void {
    let session: ReturnType<ClientHandshake['finish']>
    try {
      session = link.handshake.finish(hello, {
        ip: this.opts.ip,
        mtu: this.opts.mtu,
        gso: this.opts.offload,
        ...(this.opts.secret === undefined ? {} : { secret: this.opts.secret }),
      })
    } catch (err) {
      if (err instanceof TunnelError && FATAL_TUNNEL_ERRORS.has(err.code)) return this.fatal(link, err.code, err.message)
      this.linkError(link, err)
      return
    }
    link.session = session
    this.write(link, encodeTunnelFrame(session.auth))
    link.cipher = session.cipher
    link.state = 'auth'
  }

  private unexpected(link: Link, type: string): void {
    this.log.warn('unexpected message from the simulator', { type, state: link.state })
    link.socket.destroy()
  }

  private linkError(link: Link, err: unknown): void {
    if (!(err instanceof ProtocolError)) return this.internalError(link, err)
    this.log.warn('bad frame from the simulator, reconnecting', { code: err.code, error: err.message })
    link.socket.destroy()
  }

  /** Handling a frame threw a bug of ours, not the simulator's fault: logged with its stack, then the link starts over. */
  private internalError(link: Link, err: unknown): void {
    this.log.error('internal error handling a frame from the simulator, reconnecting', {
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
    link.socket.destroy()
  }

  // ---- TUN → simulator ------------------------------------------------------------

  private fromTun(read: Buffer): void {
    const kind = classifyTunRead(read, this.opts.offload)
    if (kind === TunRead.NotIPv4 || kind === TunRead.Runt) {
      this.counters.droppedNotIPv4++
      return
    }
    const link = this.link
    if (link === null || link.state !== 'open') {
      this.counters.droppedDisconnected++
      return
    }
    const gso = kind === TunRead.Gso
    const data = gso ? read : plainPacket(read, this.opts.offload)
    let frame: Buffer
    try {
      frame = encodePacketFrame(data, link.cipher, gso)
    } catch (err) {
      // NONCE_EXHAUSTED after 2^48 frames, or a read over the size cap: start a fresh session.
      this.linkError(link, err)
      return
    }
    this.counters.packetsUp++
    this.counters.bytesUp += data.length
    if (!this.corked) {
      // Packets read in one poll go out in one write to the simulator.
      this.corked = true
      link.socket.cork()
      setImmediate(() => {
        this.corked = false
        link.socket.uncork()
      })
    }
    if (!this.write(link, frame)) this.tun.pause()
  }

  private write(link: Link, frame: Buffer): boolean {
    link.lastSent = performance.now()
    link.socket.write(frame)
    return link.socket.writableLength < TUNNEL_HIGH_WATER
  }
}
