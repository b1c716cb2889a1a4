// One P2P connection: framing, the HELLO handshake, PING/PONG liveness,
// per-peer "known" inventories and traffic counters. What messages mean is
// net-processing's business; this file only enforces the link's rules.
import { EventEmitter } from 'node:events'
import { randomInt } from 'node:crypto'
import type { Socket } from 'node:net'
import { type Frame, FrameDecoder } from '../../protocol/wire/frame.js'
import type { ProtocolError } from '../../protocol/wire/errors.js'
import { readFrames, type FrameSink } from '../../protocol/wire/frame-reader.js'
import { encodeMessage, tryDecodeMessage, type Message, type MessageByType } from '../../protocol/chain/messages.js'
import { LruSet } from '../../lib/lru.js'

export type Direction = 'inbound' | 'outbound'
export type PeerState = 'handshake' | 'ready' | 'closed'
export type Hello = MessageByType<'HELLO'>

export interface PeerTimeouts {
  helloMs: number
  pingIntervalMs: number
  pongMs: number
}

export const DEFAULT_TIMEOUTS: PeerTimeouts = { helloMs: 10_000, pingIntervalMs: 20_000, pongMs: 60_000 }

export interface PeerOptions {
  id: number
  socket: Socket
  direction: Direction
  /** The address we dialled (outbound) or the socket's remote address (inbound). */
  address: { host: string; port: number }
  magic: number
  maxPayloadBytes: number
  timeouts: PeerTimeouts
  /** Our HELLO, built when sent so it carries the current tip. */
  hello: () => Hello
  /** Judges the peer's HELLO: null to accept, or why not (sent as DISCONNECT). */
  checkHello: (peer: Peer, hello: Hello) => { code: string; reason: string } | null
}

export interface CloseInfo {
  reason: string
  /** The peer broke the protocol (bad bytes, order, invalid data): discourage it. */
  misbehaving: boolean
}

const KNOWN_BLOCKS = 4096
const KNOWN_TXS = 20_000
/** Unsent bytes allowed before the peer counts as too slow and is dropped. */
const MAX_SEND_BUFFER = 64 * 1024 * 1024

export class Peer extends EventEmitter<{ ready: []; message: [Message]; close: [CloseInfo] }> {
  readonly id: number
  readonly direction: Direction
  readonly address: { host: string; port: number }
  readonly connectedAt = Date.now()
  /** Hashes this peer has or has been sent: never send it one of them again. */
  readonly knownBlocks = new LruSet<string>(KNOWN_BLOCKS)
  readonly knownTxs = new LruSet<string>(KNOWN_TXS)
  /** Blocks this peer sent us (not ones we sent it: a relay crossing ours in flight is no repeat). */
  readonly receivedBlocks = new LruSet<string>(KNOWN_BLOCKS)
  state: PeerState = 'handshake'
  hello: Hello | null = null
  /** The peer's best height: from HELLO, then raised by the blocks it sends. */
  bestHeight = 0
  rttMs: number | null = null
  bytesIn = 0
  bytesOut = 0
  messagesIn = 0
  messagesOut = 0
  private readonly decoder: FrameDecoder
  private readonly socket: Socket
  private readonly timers: NodeJS.Timeout[] = []
  private sentHello = false
  private ping: { nonce: number; sentAt: number } | null = null

  constructor(private readonly opts: PeerOptions) {
    super()
    this.id = opts.id
    this.direction = opts.direction
    this.address = opts.address
    this.socket = opts.socket
    this.decoder = new FrameDecoder({ magic: opts.magic, maxPayloadBytes: opts.maxPayloadBytes })
    this.socket.setNoDelay(true)
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (err) => this.close(`socket error: ${err.message}`))
    this.socket.on('close', () => this.close('connection closed'))
    this.timers.push(
      setTimeout(() => {
        // Slow, not malicious: a loaded honest node may be late. Dropped, not discouraged.
        if (this.state === 'handshake') this.close('no HELLO in time')
      }, opts.timeouts.helloMs),
    )
  }

  /** Sends our HELLO; both sides send one at once, READY follows when both are in. */
  start(): void {
    if (this.state !== 'handshake' || this.sentHello) return
    this.sentHello = true
    this.send(this.opts.hello())
    this.maybeReady()
  }

  /** Stops reading from the socket (back-pressure while its messages are being handled). */
  pause(): void {
    if (this.state !== 'closed') this.socket.pause()
  }

  resume(): void {
    if (this.state !== 'closed') this.socket.resume()
  }

  get remoteNodeId(): string | null {
    return this.hello ? this.hello.nodeId.toString('hex') : null
  }

  /** Queues a message; false when the peer is closed (or just closed for being too slow). */
  send(msg: Message): boolean {
    if (this.state === 'closed') return false
    const frame = encodeMessage(this.opts.magic, msg, this.opts.maxPayloadBytes)
    this.bytesOut += frame.length
    this.messagesOut++
    this.socket.write(frame)
    if (this.socket.writableLength > MAX_SEND_BUFFER) {
      this.close('too slow: send buffer full')
      return false
    }
    return true
  }

  /**
   * Ends the connection once. A peer still handshaking or ready is told why
   * (DISCONNECT) before the socket closes; it is destroyed if it does not go.
   */
  close(reason: string, misbehaving = false, code = misbehaving ? 'PROTOCOL' : 'CLOSING'): void {
    if (this.state === 'closed') return
    const wasOpen = !this.socket.destroyed && this.socket.writable
    this.state = 'closed'
    for (const t of this.timers) clearTimeout(t) // clears intervals too
    if (wasOpen && reason !== 'connection closed') {
      try {
        this.socket.write(encodeMessage(this.opts.magic, { type: 'DISCONNECT', code: code.slice(0, 32), reason: reason.slice(0, 256) }))
      } catch {
        // nothing more to tell it
      }
      this.socket.end()
      setTimeout(() => this.socket.destroy(), 1000).unref()
    } else {
      this.socket.destroy()
    }
    this.emit('close', { reason, misbehaving })
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    this.bytesIn += chunk.length
    readFrames(this.decoder, chunk, this.sink)
  }

  /** The frame handlers, kept off Peer's public surface. */
  private readonly sink: FrameSink = {
    // A message earlier in the chunk may have closed the peer: the rest is not read.
    isReading: () => this.state !== 'closed',
    onFrame: (frame) => this.onFrame(frame),
    onFrameError: (err) => this.onFrameError(err),
    onInternalError: (err) => this.onInternalError(err),
  }

  /** One frame, decoded and handled; a payload that is no valid message closes the peer as misbehaving. */
  private onFrame(frame: Frame): void {
    const decoded = tryDecodeMessage(frame)
    if (!decoded.ok) {
      this.close(`bad message: ${decoded.error.code}: ${decoded.error.message}`, true)
      return
    }
    this.messagesIn++
    this.handle(decoded.message)
  }

  /** The byte stream is corrupt or desynchronised. */
  private onFrameError(err: ProtocolError): void {
    this.close(`bad frame: ${err.code}: ${err.message}`, true)
  }

  /** A bug while handling a frame is not the peer's fault: it is rethrown, so it surfaces instead of discouraging the peer. */
  private onInternalError(err: unknown): void {
    throw err
  }

  private handle(msg: Message): void {
    if (msg.type === 'DISCONNECT') {
      this.close(`peer disconnected: ${msg.code}: ${msg.reason}`)
      return
    }
    if (msg.type === 'HELLO') {
      if (this.hello !== null) return this.close('second HELLO', true)
      const refusal = this.opts.checkHello(this, msg)
      if (refusal) return this.close(refusal.reason, false, refusal.code)
      this.hello = msg
      this.bestHeight = msg.bestHeight
      this.maybeReady()
      return
    }
    if (this.state !== 'ready') return this.close(`${msg.type} before the handshake completed`, true)
    if (msg.type === 'PING') {
      this.send({ type: 'PONG', nonce: msg.nonce })
      return
    }
    if (msg.type === 'PONG') {
      if (this.ping && msg.nonce === this.ping.nonce) {
        this.rttMs = Date.now() - this.ping.sentAt
        this.ping = null
      }
      return
    }
    this.emit('message', msg)
  }

  private maybeReady(): void {
    if (this.state !== 'handshake' || !this.sentHello || this.hello === null) return
    this.state = 'ready'
    const { pingIntervalMs, pongMs } = this.opts.timeouts
    let lastPing = Date.now()
    this.timers.push(
      setInterval(
        () => {
          const now = Date.now()
          if (this.ping) {
            if (now - this.ping.sentAt > pongMs) this.close('no PONG in time')
            return
          }
          if (now - lastPing < pingIntervalMs) return
          lastPing = now
          this.ping = { nonce: randomInt(0, 2 ** 47), sentAt: now }
          this.send({ type: 'PING', nonce: this.ping.nonce })
        },
        Math.min(1000, pingIntervalMs, pongMs),
      ),
    )
    this.emit('ready')
  }
}
