// A minimal VPN client for the simulator's tests: connects, runs the client
// handshake, then sends and receives IP packets and control messages. Also
// builds small IPv4 packets with a given source and destination.
import net from 'node:net'
import type { Frame } from '../../protocol/wire/frame.js'
import { ClientHandshake, type TunnelSession } from '../../protocol/tunnel/handshake.js'
import type { ServerHello, TunnelKeyPair } from '../../protocol/tunnel/crypto.js'
import {
  createTunnelFrameDecoder,
  decodeTunnelFrame,
  encodePacketFrame,
  encodeTunnelFrame,
  SEALED_TYPE_BIT,
  TUNNEL_MESSAGE_TYPES,
  type TunnelMessage,
} from '../../protocol/tunnel/messages.js'

export interface TunnelClientOptions {
  port: number
  host?: string
  key: TunnelKeyPair
  ip: string
  encrypt?: boolean
  secret?: string
  mtu?: number
  /** Say in AUTH that this client takes GSO_PACKET frames. */
  gso?: boolean
  /** Bound on each wait (ms). Default 5000. */
  timeoutMs?: number
}

/** How the handshake ended. `error` is the plain ERROR (or local failure) when AUTH did not get through. */
export type HandshakeOutcome =
  | { kind: 'welcome'; ip: string; leaseSeconds: number }
  | { kind: 'refused'; code: string; reason: string }
  | { kind: 'error'; code: string; reason: string }

export class TunnelTestClient {
  readonly socket: net.Socket
  session: TunnelSession | null = null
  /** Messages received after the handshake, oldest first (PACKETs included). */
  readonly inbox: TunnelMessage[] = []
  /** Set when the socket has closed. */
  closed = false
  readonly closedPromise: Promise<void>
  private readonly decoder = createTunnelFrameDecoder()
  private readonly waiters: Array<() => void> = []
  private failure: Error | null = null
  private readonly timeoutMs: number

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.socket = socket
    this.timeoutMs = timeoutMs
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true
        this.wake()
        resolve()
      }),
    )
    socket.on('error', () => {})
  }

  /** Connects and runs the handshake; the outcome says whether the claim was accepted. */
  static async connect(opts: TunnelClientOptions): Promise<{ client: TunnelTestClient; outcome: HandshakeOutcome }> {
    const socket = net.connect({ port: opts.port, host: opts.host ?? '127.0.0.1', noDelay: true })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const client = new TunnelTestClient(socket, opts.timeoutMs ?? 5000)
    const outcome = await client.handshake(opts)
    return { client, outcome }
  }

  /** A raw connection that sends nothing (for the handshake timeout). */
  static async connectRaw(port: number, host = '127.0.0.1'): Promise<TunnelTestClient> {
    const socket = net.connect({ port, host })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const client = new TunnelTestClient(socket, 5000)
    socket.on('data', (chunk: Buffer) => client.onData(chunk))
    return client
  }

  private async handshake(opts: TunnelClientOptions): Promise<HandshakeOutcome> {
    const hs = new ClientHandshake({ staticKey: opts.key, encrypt: opts.encrypt ?? true })
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.write(encodeTunnelFrame(hs.hello))
    const hello = await this.next()
    if (hello.type === 'ERROR') return { kind: 'error', code: hello.code, reason: hello.reason }
    if (hello.type !== 'SERVER_HELLO') throw new Error(`expected SERVER_HELLO, got ${hello.type}`)
    const session = hs.finish(hello as ServerHello, {
      ip: opts.ip,
      mtu: opts.mtu ?? 1400,
      gso: opts.gso ?? false,
      ...(opts.secret === undefined ? {} : { secret: opts.secret }),
    })
    this.session = session
    this.socket.write(encodeTunnelFrame(session.auth))
    const answer = await this.next()
    if (answer.type === 'WELCOME') return { kind: 'welcome', ip: answer.ip, leaseSeconds: answer.leaseSeconds }
    if (answer.type === 'REFUSED') return { kind: 'refused', code: answer.code, reason: answer.reason }
    if (answer.type === 'ERROR') return { kind: 'error', code: answer.code, reason: answer.reason }
    throw new Error(`expected WELCOME or REFUSED, got ${answer.type}`)
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[]
    try {
      frames = this.decoder.push(chunk)
    } catch (err) {
      this.failure = err as Error
      this.wake()
      return
    }
    for (const frame of frames) {
      try {
        this.inbox.push(this.decode(frame))
      } catch (err) {
        this.failure = err as Error
        this.socket.destroy()
        break
      }
    }
    this.wake()
  }

  private decode(frame: Frame): TunnelMessage {
    const cipher = this.session?.cipher ?? null
    // A plain ERROR may still come on an encrypted link when AUTH failed (docs/PROTOCOL.md).
    if (cipher !== null && (frame.type & SEALED_TYPE_BIT) === 0 && frame.type === TUNNEL_MESSAGE_TYPES.ERROR)
      return decodeTunnelFrame(frame)
    const msg = decodeTunnelFrame(frame, cipher)
    if (msg.type === 'PACKET' || msg.type === 'GSO_PACKET') return { type: msg.type, data: Buffer.from(msg.data) }
    return msg
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  /** The next message, waiting at most timeoutMs; throws when the link closed first. */
  async next(timeoutMs = this.timeoutMs): Promise<TunnelMessage> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const msg = this.inbox.shift()
      if (msg !== undefined) return msg
      if (this.failure !== null) throw this.failure
      if (this.closed) throw new Error('the tunnel closed')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no tunnel message within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** The next message of `type`, skipping others (KEEPALIVEs, say). */
  async nextOf<T extends TunnelMessage['type']>(type: T, timeoutMs = this.timeoutMs): Promise<Extract<TunnelMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const msg = await this.next(Math.max(1, deadline - Date.now()))
      if (msg.type === type) return msg as Extract<TunnelMessage, { type: T }>
    }
  }

  /** Sends one IP packet up the tunnel; returns false when the socket's buffer is full (see drain). */
  sendPacket(packet: Uint8Array): boolean {
    return this.socket.write(encodePacketFrame(packet, this.session?.cipher ?? null))
  }

  send(msg: TunnelMessage): void {
    this.socket.write(encodeTunnelFrame(msg, this.session?.cipher ?? null))
  }

  async drain(): Promise<void> {
    if (!this.socket.writableNeedDrain) return
    await new Promise<void>((resolve) => {
      this.socket.once('drain', resolve)
      this.socket.once('close', resolve)
    })
  }

  /** Waits until the server closes the link (bounded). */
  async waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.closedPromise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the tunnel did not close within ${timeoutMs} ms`)), timeoutMs)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  /** An unclean exit: the socket is dropped without a goodbye. */
  destroy(): void {
    this.socket.destroy()
  }
}

/** Internet checksum (RFC 1071) of an IPv4 header. */
function headerChecksum(header: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < header.length; i += 2) sum += (header[i]! << 8) | header[i + 1]!
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** A 20-byte-header IPv4 packet (UDP protocol number by default) from `src` to `dst` carrying `payload`. */
export function buildIPv4Packet(src: string, dst: string, payload: Uint8Array = Buffer.alloc(0), protocol = 17): Buffer {
  const packet = Buffer.alloc(20 + payload.length)
  packet[0] = 0x45
  packet.writeUInt16BE(packet.length, 2)
  packet.writeUInt16BE(Math.floor(Math.random() * 0x10000), 4)
  packet[8] = 64
  packet[9] = protocol
  src.split('.').forEach((octet, i) => (packet[12 + i] = Number(octet)))
  dst.split('.').forEach((octet, i) => (packet[16 + i] = Number(octet)))
  packet.writeUInt16BE(headerChecksum(packet.subarray(0, 20)), 10)
  packet.set(payload, 20)
  return packet
}

/**
 * What a Linux TUN with offloads reads for a TCP super-packet: a virtio
 * header (NEEDS_CSUM, TCPV4, gso_size `mss`) and one IPv4+TCP packet with
 * `payload`, its TCP checksum field holding the pseudo-header sum.
 */
export function buildTcpSuperPacket(src: string, dst: string, payload: Uint8Array, mss: number): Buffer {
  const ip = buildIPv4Packet(src, dst, Buffer.concat([Buffer.alloc(20), payload]), 6)
  ip.writeUInt32BE(1, 24) // seq
  ip[32] = 5 << 4 // data offset
  ip[33] = 0x18 // PSH ACK
  ip.writeUInt16BE(65535, 34)
  let sum = 6 + (ip.length - 20)
  for (let i = 12; i < 20; i += 2) sum += ip.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  ip.writeUInt16BE(sum, 36)
  const vnet = Buffer.alloc(10)
  vnet[0] = 1 // NEEDS_CSUM
  vnet[1] = 1 // TCPV4
  vnet.writeUInt16LE(40, 2)
  vnet.writeUInt16LE(mss, 4)
  vnet.writeUInt16LE(20, 6)
  vnet.writeUInt16LE(16, 8)
  return Buffer.concat([vnet, ip])
}
