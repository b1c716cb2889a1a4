// One VPN client's TCP link on the simulator: the frame stream, the
// handshake (hello, AUTH, then WELCOME or REFUSED), and, once open, the
// hand-off of every PACKET to the server's relay. What a client may claim
// (secret, allow-list, lease) is the server's decision, asked through
// LinkHost.admit; timers are the server's too (one tick for all links), so a
// packet costs no timer work here.
import type { Socket } from 'node:net'
import { ProtocolError } from '../protocol/wire/errors.js'
import type { Frame, FrameDecoder } from '../protocol/wire/frame.js'
import { readFrames, type FrameSink } from '../protocol/wire/frame-reader.js'
import type { AuthBody } from '../protocol/tunnel/messages.js'
import {
  createTunnelFrameDecoder,
  decodePacketFrame,
  encodePacketFrame,
  encodeTunnelFrame,
  isGsoFrame,
  isPacketFrame,
  tryDecodeTunnelFrame,
  type FrameCipher,
  type TunnelMessage,
} from '../protocol/tunnel/messages.js'
import { ServerHandshake } from '../protocol/tunnel/handshake.js'
import type { TunnelKeyPair } from '../protocol/tunnel/crypto.js'
import type { TokenBucket } from '../lib/token-bucket.js'
import type { ConnId } from './leases.js'
import type { ClientStats } from './stats.js'

export type LinkState = 'hello' | 'auth' | 'open' | 'closed'

/** What the server decides for an authenticated claim. */
export type Admission =
  | { ok: true; ip: number; leaseSeconds: number; stats: ClientStats; bucket: TokenBucket | null }
  | { ok: false; code: string; message: string }

/** The server side a link calls into. */
export interface LinkHost {
  readonly staticKey: TunnelKeyPair
  readonly encrypt: boolean
  /** Checks a claim and, when accepted, registers the link (lease, stats). */
  admit(link: ClientLink, key: string, auth: AuthBody, handshake: ServerHandshake): Admission
  /** One packet from an open link; `data` may be a view of the socket chunk, valid only during the call. */
  relay(link: ClientLink, data: Buffer, gso: boolean): void
  /** Called after each socket chunk, once its frames are handled (flushes corked writes). */
  flush(): void
  /** Handling a frame from `link` threw something other than a ProtocolError: a bug here, to be logged as one. */
  internalError(link: ClientLink, err: unknown): void
  /** The link is gone (socket closed): release what it holds. Called once. */
  closed(link: ClientLink, why: string): void
  /** Current clock reading, milliseconds (cached by the server). */
  now(): number
}

/** How long a link that was told why it is closed gets to read that, before it is destroyed. */
const LINGER_MS = 1000

export class ClientLink implements FrameSink {
  state: LinkState = 'hello'
  /** The link's sealing state once AUTH has opened on an encrypted link. */
  cipher: FrameCipher | null = null
  /** Client key (lower-case hex), once AUTH has opened. */
  key = ''
  ip = 0
  stats: ClientStats | null = null
  bucket: TokenBucket | null = null
  /** The client said in AUTH that it takes GSO_PACKET frames. */
  gso = false
  lastReceived: number
  lastSent: number
  /** The server's handshake deadline, while the link is in its handshake. */
  handshakeTimer: NodeJS.Timeout | undefined = undefined
  /** Corked by the relay during the current chunk (see SimulatorServer.flush). */
  corked = false
  readonly remote: string
  private readonly decoder: FrameDecoder = createTunnelFrameDecoder()
  private handshake: ServerHandshake | null = null
  private closeReason = 'closed by the client'
  private notified = false

  constructor(
    readonly id: ConnId,
    readonly socket: Socket,
    private readonly host: LinkHost,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
    this.lastReceived = this.lastSent = host.now()
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err: Error) => {
      this.closeReason = `socket error: ${err.message}`
    })
    socket.on('close', () => {
      if (this.notified) return
      this.notified = true
      this.state = 'closed'
      host.closed(this, this.closeReason)
    })
  }

  /** Forwards a packet to this client. False when the link is not open or sealing failed (the link is then closed). */
  sendPacket(data: Uint8Array, gso = false): boolean {
    if (this.state !== 'open') return false
    let frame: Buffer
    try {
      frame = encodePacketFrame(data, this.cipher, gso)
    } catch (err) {
      this.fail('ERROR', (err as ProtocolError).code ?? 'INVALID', (err as Error).message)
      return false
    }
    this.socket.write(frame)
    this.lastSent = this.host.now()
    return true
  }

  /** Sends a control message, sealed when the link has keys. */
  send(msg: TunnelMessage): void {
    if (this.state === 'closed' || this.socket.destroyed) return
    try {
      this.socket.write(encodeTunnelFrame(msg, this.cipher))
      this.lastSent = this.host.now()
    } catch (err) {
      this.destroy(`cannot send ${msg.type}: ${(err as Error).message}`)
    }
  }

  /**
   * Sends `type` (ERROR, REFUSED, or RESTARTING with empty code) and closes:
   * the client reads it, then the socket ends; a client that does not close
   * its side is destroyed after LINGER_MS.
   */
  fail(type: 'ERROR' | 'REFUSED' | 'RESTARTING', code: string, reason: string): void {
    if (this.state === 'closed') return
    if (type === 'RESTARTING') this.send({ type: 'RESTARTING' })
    else this.send({ type, code, reason: reason.slice(0, 256) })
    this.end(`${type}${code === '' ? '' : ' ' + code}: ${reason}`)
  }

  /** Ends the link gracefully (nothing more is read or sent). */
  end(why: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closeReason = why
    this.socket.end()
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Drops the link at once. */
  destroy(why: string): void {
    if (this.state !== 'closed') this.closeReason = why
    this.state = 'closed'
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    this.lastReceived = this.host.now()
    readFrames(this.decoder, chunk, this)
    this.host.flush()
  }

  /** FrameSink: the rest of a chunk is dropped once the link is closed. */
  isReading(): boolean {
    return this.state !== 'closed'
  }

  /** FrameSink: a PACKET on an open link goes to the relay, anything else is a control message. */
  onFrame(frame: Frame): void {
    if (this.state === 'open' && isPacketFrame(frame)) this.host.relay(this, decodePacketFrame(frame, this.cipher), isGsoFrame(frame))
    else this.onControl(frame)
  }

  /** FrameSink: the client sent a bad frame. */
  onFrameError(err: ProtocolError): void {
    this.protocolError(err)
  }

  /**
   * FrameSink: handling a frame failed for a reason that is not the client's
   * (a bug in the relay or here). It is logged with its stack and this link is
   * dropped, since its state is unknown now; the simulator keeps running.
   */
  onInternalError(err: unknown): void {
    this.host.internalError(this, err)
    this.destroy(`internal error: ${err instanceof Error ? err.message : String(err)}`)
  }

  private onControl(frame: Frame): void {
    // Before AUTH nothing is sealed; after it, the link's cipher decides.
    const decoded = tryDecodeTunnelFrame(frame, this.state === 'open' ? this.cipher : null)
    if (!decoded.ok) {
      this.protocolError(decoded.error)
      return
    }
    const msg = decoded.message
    switch (this.state) {
      case 'hello':
        if (msg.type !== 'CLIENT_HELLO') return this.unexpected(msg.type)
        try {
          this.handshake = new ServerHandshake(msg, { staticKey: this.host.staticKey, encrypt: this.host.encrypt })
        } catch (err) {
          this.protocolError(err)
          return
        }
        this.send(this.handshake.hello)
        this.state = 'auth'
        return
      case 'auth':
        if (msg.type !== 'AUTH') return this.unexpected(msg.type)
        this.onAuth(this.handshake!, msg)
        return
      case 'open':
        if (msg.type === 'KEEPALIVE') return
        if (msg.type === 'ERROR') {
          this.end(`client sent ERROR ${msg.code}: ${msg.reason}`)
          return
        }
        return this.unexpected(msg.type)
    }
  }

  private onAuth(handshake: ServerHandshake, msg: Extract<TunnelMessage, { type: 'AUTH' }>): void {
    const opened = handshake.openAuth(msg)
    this.handshake = null
    if (!opened.ok) {
      this.fail('ERROR', opened.error.code, opened.error.message)
      return
    }
    // From here the server's frames are sealed on an encrypted link, REFUSED included.
    this.cipher = handshake.session.cipher
    this.key = handshake.session.peerKey.toString('hex')
    const admission = this.host.admit(this, this.key, opened.message, handshake)
    if (!admission.ok) {
      this.fail('REFUSED', admission.code, admission.message)
      return
    }
    this.ip = admission.ip
    this.stats = admission.stats
    this.bucket = admission.bucket
    this.gso = opened.message.gso === true
    this.state = 'open'
    this.send({ type: 'WELCOME', ip: opened.message.ip, leaseSeconds: admission.leaseSeconds })
  }

  private unexpected(type: string): void {
    this.fail(
      'ERROR',
      'UNEXPECTED_MESSAGE',
      `${type} is not expected ${this.state === 'open' ? 'on an open link' : 'during the handshake'}`,
    )
  }

  private protocolError(err: unknown): void {
    if (err instanceof ProtocolError) this.fail('ERROR', err.code, err.message)
    else this.onInternalError(err)
  }
}
