// Connection management (Bitcoin Core's CConnman): the listening socket, the
// dialer that keeps up to maxOutbound connections, peer limits, HELLO checks
// (network, genesis, version, self, duplicates), discouragement of peers that
// misbehave, and the address book kept in the data dir.
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { type AddrMan, addrKey, type AddrSource, type PeerAddress } from './addrman.js'
import { saveAddrMan } from './peer-store.js'
import { Peer, type CloseInfo, type Hello, type PeerTimeouts } from './peer.js'
import { encodeMessage, type Message } from '../../protocol/chain/messages.js'
import type { Logger } from '../../lib/log.js'

export const PROTOCOL_VERSION = 1

export interface ConnmanOptions {
  listenHost: string
  listenPort: number
  magic: number
  networkId: string
  genesis: Buffer
  nodeId: Buffer
  maxOutbound: number
  maxPeers: number
  maxPayloadBytes: number
  timeouts: PeerTimeouts
  discourageMs: number
  addrman: AddrMan
  peersFile: string
  /** Our HELLO's moving parts: the current tip. */
  tip: () => { height: number; hash: Buffer }
  agent: string
  logger: Logger
}

const DIAL_TIMEOUT_MS = 5000
const DIAL_TICK_MS = 1000
const SAVE_EVERY_MS = 30_000

export class Connman extends EventEmitter<{ ready: [Peer]; message: [Peer, Message]; closed: [Peer, CloseInfo] }> {
  private readonly peersById = new Map<number, Peer>()
  private readonly dialing = new Set<string>()
  /** Sockets still connecting, so stop() can cancel them (and their timers). */
  private readonly dialSockets = new Set<net.Socket>()
  private server: net.Server | null = null
  private timers: NodeJS.Timeout[] = []
  private nextId = 1
  private stopped = false

  constructor(readonly opts: ConnmanOptions) {
    super()
  }

  get addrman(): AddrMan {
    return this.opts.addrman
  }

  /** Peers past the handshake. */
  ready(): Peer[] {
    return [...this.peersById.values()].filter((p) => p.state === 'ready')
  }

  all(): Peer[] {
    return [...this.peersById.values()]
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket))
    server.maxConnections = this.opts.maxPeers + 8 // room to tell extra ones why they are refused
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'address already in use'
            : err.code === 'EADDRNOTAVAIL'
              ? 'address not available on this machine'
              : err.message
        reject(new Error(`cannot listen for P2P on ${this.opts.listenHost}:${this.opts.listenPort}: ${why}`))
      }
      server.once('error', onError)
      server.listen(this.opts.listenPort, this.opts.listenHost, () => {
        server.off('error', onError)
        resolve()
      })
    })
    server.on('error', (err) => this.opts.logger.warn('P2P server error', { error: err.message }))
    this.server = server
    this.timers.push(setInterval(() => this.dialMore(), DIAL_TICK_MS))
    this.timers.push(setInterval(() => void this.save(), SAVE_EVERY_MS))
    for (const t of this.timers) t.unref()
    this.dialMore()
  }

  get listenAddress(): { host: string; port: number } {
    const a = this.server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: this.opts.listenHost, port: this.opts.listenPort }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    for (const socket of this.dialSockets) socket.destroy(new Error('node shutting down'))
    for (const p of this.peersById.values()) p.close('node shutting down', false, 'SHUTDOWN')
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    await this.save()
  }

  private async save(): Promise<void> {
    try {
      await saveAddrMan(this.opts.peersFile, this.opts.addrman)
    } catch (err) {
      this.opts.logger.warn('cannot save the peer list', { file: this.opts.peersFile, error: (err as Error).message })
    }
  }

  /** Remembers an address and dials it now (RPC addPeer, --bootstrap). */
  addPeer(addr: PeerAddress, source: AddrSource = 'manual'): void {
    this.opts.addrman.add(addr, source, Date.now())
    this.dial(addr)
  }

  /** Forgets an address and drops any connection to it; true when something was removed. */
  removePeer(addr: PeerAddress): boolean {
    const key = addrKey(addr)
    let found = this.opts.addrman.remove(addr)
    for (const p of this.peersById.values()) {
      const listen = p.hello ? addrKey({ host: p.hello.listenHost, port: p.hello.listenPort }) : null
      if (addrKey(p.address) === key || listen === key) {
        p.close('removed by the operator', false, 'REMOVED')
        found = true
      }
    }
    return found
  }

  /** Drops a peer that broke the rules and keeps its host away for a while. */
  misbehaving(peer: Peer, reason: string): void {
    this.opts.logger.warn('peer misbehaving: disconnected and discouraged', { peer: peer.id, address: addrKey(peer.address), reason })
    this.opts.addrman.discourage(peer.address.host, this.opts.discourageMs)
    peer.close(reason, true)
  }

  private outboundCount(): number {
    let n = this.dialing.size
    for (const p of this.peersById.values()) if (p.direction === 'outbound') n++
    return n
  }

  private dialMore(): void {
    if (this.stopped) return
    const want = this.opts.maxOutbound - this.outboundCount()
    if (want <= 0 || this.peersById.size >= this.opts.maxPeers) return
    const exclude = new Set<string>(this.dialing)
    for (const p of this.peersById.values()) {
      exclude.add(addrKey(p.address))
      if (p.hello) exclude.add(addrKey({ host: p.hello.listenHost, port: p.hello.listenPort }))
    }
    for (const addr of this.opts.addrman.candidates(exclude, want)) this.dial(addr)
  }

  private dial(addr: PeerAddress): void {
    const key = addrKey(addr)
    if (this.stopped || this.dialing.has(key) || this.opts.addrman.isDiscouraged(addr.host)) return
    if (this.all().some((p) => addrKey(p.address) === key)) return
    this.dialing.add(key)
    this.opts.addrman.markAttempt(addr)
    const local = this.opts.listenHost === '0.0.0.0' || this.opts.listenHost === '::' ? undefined : this.opts.listenHost
    // From our listen address, so the peer sees (and can ban) the address we are known by.
    const socket = net.connect({ host: addr.host, port: addr.port, ...(local ? { localAddress: local } : {}) })
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), DIAL_TIMEOUT_MS)
    this.dialSockets.add(socket)
    socket.once('close', () => {
      clearTimeout(timer)
      this.dialSockets.delete(socket)
    })
    socket.once('connect', () => {
      clearTimeout(timer)
      this.dialSockets.delete(socket)
      this.dialing.delete(key)
      if (this.stopped) return socket.destroy()
      this.adopt(socket, 'outbound', addr)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      if (!this.dialing.delete(key)) return
      // Cancelled by our own shutdown: no fault of the peer's, nothing to hold against it.
      if (this.stopped) return
      this.opts.addrman.markFailure(addr)
      this.opts.logger.debug('dial failed', { address: key, error: err.message })
    })
  }

  private accept(socket: net.Socket): void {
    const host = socket.remoteAddress ?? '?'
    const address = { host: host.startsWith('::ffff:') ? host.slice(7) : host, port: socket.remotePort ?? 0 }
    if (this.stopped || this.opts.addrman.isDiscouraged(address.host)) return void socket.destroy()
    const inbound = this.all().filter((p) => p.direction === 'inbound').length
    const inboundSlots = this.opts.maxPeers - this.opts.maxOutbound
    if (this.peersById.size >= this.opts.maxPeers || inbound >= inboundSlots) {
      const reason =
        inboundSlots <= 0
          ? `this node takes no inbound peers (max-peers ${this.opts.maxPeers} ≤ max-outbound ${this.opts.maxOutbound})`
          : `too many peers (limit ${this.opts.maxPeers})`
      this.opts.logger.debug('inbound connection refused', { address: addrKey(address), reason })
      // Told why, without a handshake: it learns nothing else about us.
      socket.on('error', () => {})
      socket.end(encodeMessage(this.opts.magic, { type: 'DISCONNECT', code: 'TOO_MANY_PEERS', reason }))
      setTimeout(() => socket.destroy(), 1000).unref()
      return
    }
    this.adopt(socket, 'inbound', address)
  }

  private adopt(socket: net.Socket, direction: 'inbound' | 'outbound', address: PeerAddress): Peer {
    const peer = new Peer({
      id: this.nextId++,
      socket,
      direction,
      address,
      magic: this.opts.magic,
      maxPayloadBytes: this.opts.maxPayloadBytes,
      timeouts: this.opts.timeouts,
      hello: () => this.makeHello(),
      checkHello: (p, hello) => this.checkHello(p, hello),
    })
    this.peersById.set(peer.id, peer)
    peer.on('ready', () => {
      if (direction === 'outbound') this.opts.addrman.markSuccess(address)
      this.opts.logger.info('peer connected', {
        peer: peer.id,
        direction,
        address: addrKey(address),
        height: peer.bestHeight,
        agent: peer.hello?.agent,
      })
      this.emit('ready', peer)
    })
    peer.on('message', (msg) => this.emit('message', peer, msg))
    peer.on('close', (info) => {
      this.peersById.delete(peer.id)
      if (info.misbehaving) this.opts.addrman.discourage(address.host, this.opts.discourageMs)
      const level = info.misbehaving ? 'warn' : 'info'
      this.opts.logger[level]('peer disconnected', { peer: peer.id, address: addrKey(address), reason: info.reason })
      this.emit('closed', peer, info)
    })
    peer.start()
    return peer
  }

  private makeHello(): Hello {
    const tip = this.opts.tip()
    const listen = this.listenAddress
    return {
      type: 'HELLO',
      version: PROTOCOL_VERSION,
      network: this.opts.networkId,
      genesis: this.opts.genesis,
      nodeId: this.opts.nodeId,
      listenHost: listen.host,
      listenPort: listen.port,
      bestHeight: tip.height,
      bestHash: tip.hash,
      agent: this.opts.agent,
    }
  }

  private checkHello(peer: Peer, hello: Hello): { code: string; reason: string } | null {
    if (hello.network !== this.opts.networkId)
      return { code: 'WRONG_NETWORK', reason: `this node is on network ${this.opts.networkId}, not ${hello.network}` }
    if (!hello.genesis.equals(this.opts.genesis)) return { code: 'WRONG_GENESIS', reason: 'different genesis block' }
    if (hello.version !== PROTOCOL_VERSION)
      return { code: 'BAD_VERSION', reason: `protocol version ${hello.version} is not supported (this node speaks ${PROTOCOL_VERSION})` }
    if (hello.nodeId.equals(this.opts.nodeId)) {
      // We dialled ourselves (through an address of ours we did not know).
      if (peer.direction === 'outbound') this.opts.addrman.remove(peer.address)
      return { code: 'SELF', reason: 'connected to itself' }
    }
    const nodeId = hello.nodeId.toString('hex')
    const other = [...this.peersById.values()].find((o) => o !== peer && o.state !== 'closed' && o.remoteNodeId === nodeId)
    if (other) {
      // Two nodes that dial each other at once both see a duplicate. Both
      // keep the connection dialled by the node with the smaller id, so
      // exactly one survives.
      const dialer = (p: Peer): Buffer => (p.direction === 'outbound' ? this.opts.nodeId : hello.nodeId)
      const mine = dialer(peer)
      const theirs = dialer(other)
      if (mine.equals(theirs) || Buffer.compare(theirs, mine) < 0) return { code: 'DUPLICATE', reason: 'already connected to this node' }
      other.close('replaced by a simultaneous connection', false, 'DUPLICATE')
    }
    return null
  }
}
