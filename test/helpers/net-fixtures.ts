// Fixtures for the multi-node network tests: several in-process BkcNodes on
// their own loopback addresses (127.R.(53+i).5, R random per test file so
// two files never meet), helpers to mine with the real miner, wait for the
// network to agree, turn RPC block views back into blocks for a fresh
// replay, and a raw TCP client that speaks (or breaks) the P2P protocol.
import type { BlockView } from '../../node/rpc/views.js'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Test } from 'tap'
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, type Block } from '../../protocol/chain/block-codec.js'
import { FrameDecoder } from '../../protocol/wire/frame.js'
import {
  encodeMessage,
  MAX_P2P_PAYLOAD_BYTES,
  tryDecodeMessage,
  type Message,
  type MessageByType,
  type MessageType,
} from '../../protocol/chain/messages.js'
import type { Transaction } from '../../protocol/chain/tx-codec.js'
import { networkFromJson, type NetworkParams } from '../../node/chain/params.js'
import { workProof } from '../../node/consensus/work.js'
import { silentLogger } from '../../lib/log.js'
import { BkcNode, type NodeConfig } from '../../node/node.js'
import type { PeerAddress } from '../../node/p2p/addrman.js'
import { PROTOCOL_VERSION } from '../../node/p2p/connman.js'
import type { PeerTimeouts } from '../../node/p2p/peer.js'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import { randomLoopbackOctet, urlOf, waitFor } from './node-fixtures.js'

/** This test file's second octet: every address it uses is 127.R.x.y. */
export const R = randomLoopbackOctet()
export const PREFIX = `127.${R}`

/** Node i listens on 127.R.(53+i).5, as the report's lab does on 192.168.(53+i).5. */
export function hostOf(i: number): string {
  return `${PREFIX}.${53 + i}.5`
}

/** A loopback source address no node uses, for raw clients (so discouraging one spares the nodes). */
export function rawHost(k: number): string {
  return `${PREFIX}.${200 + k}.9`
}

/** Short enough that a dead peer is noticed in a test, long enough not to drop a busy honest one. */
export const SHORT_TIMEOUTS: PeerTimeouts = { helloMs: 3000, pingIntervalMs: 1000, pongMs: 5000 }

export interface NetOptions {
  /** Leading zero bits of the PoW target (default 12: a few ms of hashing a block). */
  bits?: number
  /** P2P port of every node: 0 (any, the default) or 5555. */
  port?: number
  maxOutbound?: number
  maxPeers?: number
  timeouts?: PeerTimeouts
  discourageMs?: number
  /** 'hub' (default): nodes 1.. bootstrap to node 0; 'none': nobody does. */
  bootstrap?: 'hub' | 'none'
  networkId?: string
  /** Genesis balances by hex address (default none). */
  balances?: Record<string, number>
  /** Consensus block size limit (default testNetworkJson's). */
  maxBlockBytes?: number
  /** A whole network file instead of testNetworkJson's (a slots network, say). */
  networkJson?: Record<string, unknown>
}

export interface NetNode {
  index: number
  host: string
  dataDir: string
  node: BkcNode
  url: string
  /** The address peers dial: host and the P2P port actually bound. */
  p2p: PeerAddress
}

export class TestNet {
  readonly network: NetworkParams
  readonly networkJson: Record<string, unknown>
  /** Index i holds node i while it runs, undefined while it is stopped. */
  readonly nodes: Array<NetNode | undefined> = []
  private readonly root = tempDir('bkc-net-')

  constructor(readonly opts: NetOptions) {
    this.networkJson =
      opts.networkJson ??
      testNetworkJson({
        bits: opts.bits ?? 12,
        networkId: opts.networkId ?? `bkc-net-${R}`,
        ...(opts.balances ? { balances: opts.balances } : {}),
        ...(opts.maxBlockBytes ? { maxBlockBytes: opts.maxBlockBytes } : {}),
      })
    this.network = networkFromJson(this.networkJson, 'test network')
  }

  dataDir(i: number): string {
    return join(this.root.path, `node-${i}`)
  }

  /** Node i, which must be running. */
  at(i: number): NetNode {
    const n = this.nodes[i]
    if (!n) throw new Error(`node ${i} is not running`)
    return n
  }

  running(): NetNode[] {
    return this.nodes.filter((n): n is NetNode => n !== undefined)
  }

  /** Starts node i (on its own data dir, so a restart resumes its chain and peers.json). */
  async start(i: number, extra: Partial<NodeConfig> = {}): Promise<NetNode> {
    if (this.nodes[i]) throw new Error(`node ${i} is already running`)
    const o = this.opts
    const hub = this.nodes[0]
    const bootstrap = (o.bootstrap ?? 'hub') === 'hub' && i !== 0 && hub ? [hub.p2p] : []
    const node = await BkcNode.start({
      listen: hostOf(i),
      port: o.port ?? 0,
      rpcPort: 0,
      dataDir: this.dataDir(i),
      network: this.network,
      logger: silentLogger(),
      keystoreKdf: { N: 1024, r: 8, p: 1 },
      minerThreads: 1,
      bootstrap,
      maxOutbound: o.maxOutbound ?? 8,
      maxPeers: o.maxPeers ?? 117,
      p2pTimeouts: o.timeouts ?? SHORT_TIMEOUTS,
      discourageMs: o.discourageMs ?? 60_000,
      ...extra,
    })
    const p2p = node.connman!.listenAddress
    const entry: NetNode = {
      index: i,
      host: hostOf(i),
      dataDir: this.dataDir(i),
      node,
      url: urlOf(node.rpcAddress),
      p2p: { host: p2p.host, port: p2p.port },
    }
    this.nodes[i] = entry
    return entry
  }

  async stop(i: number): Promise<void> {
    const n = this.nodes[i]
    this.nodes[i] = undefined
    await n?.node.stop()
  }

  /** Stops every running node, then removes the data dirs. */
  async close(): Promise<void> {
    const all = this.nodes.map((_, i) => i)
    await Promise.allSettled(all.map((i) => this.stop(i)))
    this.root.cleanup()
  }
}

/** Starts `n` nodes (node 0 first: the others bootstrap to it); all are stopped in teardown. */
export async function startNet(t: Test, n: number, opts: NetOptions = {}): Promise<TestNet> {
  const tn = new TestNet(opts)
  t.teardown(() => tn.close())
  await tn.start(0)
  await Promise.all(Array.from({ length: n - 1 }, (_, k) => tn.start(k + 1)))
  return tn
}

// ---------------------------------------------------------------- waiting

export function readyPeers(node: BkcNode): number {
  return node.connman!.ready().length
}

/** Waits until every node has at least `min` READY peers. */
export async function waitPeers(nodes: readonly BkcNode[], min: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    `every node to have ${min} peers (have ${nodes.map(readyPeers).join(',')})`,
    () => nodes.every((n) => readyPeers(n) >= min),
    { timeoutMs },
  )
}

/** Waits until every node has the same tip; returns it. */
export async function waitConverged(nodes: readonly BkcNode[], timeoutMs = 30_000): Promise<{ hash: string; height: number }> {
  const describe = (): string => nodes.map((n) => `${n.chain.tip.height}:${n.chain.tip.hash.slice(0, 8)}`).join(' ')
  try {
    await waitFor('tips to converge', () => nodes.every((n) => n.chain.tip.hash === nodes[0]!.chain.tip.hash), { timeoutMs })
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${describe()}`)
  }
  return { hash: nodes[0]!.chain.tip.hash, height: nodes[0]!.chain.tip.height }
}

/**
 * Mines with the node's real miner to `address` until it has found at least
 * `n` blocks that connected (or until its tip is `n` higher, with
 * `{ by: 'height' }`), then stops the miner.
 */
export async function mineBlocks(
  node: BkcNode,
  n: number,
  address: Buffer,
  opts: { by?: 'found' | 'height'; timeoutMs?: number } = {},
): Promise<void> {
  const found0 = node.mining.found
  const height0 = node.chain.tip.height
  node.mining.start(address)
  try {
    await waitFor(`${n} mined blocks`, () => (opts.by === 'height' ? node.chain.tip.height - height0 : node.mining.found - found0) >= n, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: 10,
    })
  } finally {
    await node.mining.stop()
  }
}

/**
 * After concurrent mining, two equal-work tips can stand side by side and
 * nobody switches. One more block mined alone breaks the tie; then every
 * node converges on it.
 */
export async function settle(nodes: readonly BkcNode[], address: Buffer, timeoutMs = 30_000): Promise<{ hash: string; height: number }> {
  await Promise.all(nodes.map((n) => n.mining.stop()))
  await mineBlocks(nodes[0]!, 1, address)
  return waitConverged(nodes, timeoutMs)
}

/** Creates an account in the node's keystore and unlocks it; returns its address. */
export async function unlockedAccount(node: BkcNode, name: string): Promise<Buffer> {
  await node.wallet.create(name, 'pw')
  const acct = await node.wallet.unlock(name, 'pw')
  return Buffer.from(acct.address, 'hex')
}

// ---------------------------------------------------------------- blocks from RPC

export type { BlockView }

/** The block an RPC getBlock view describes; throws if it does not hash to the view's hash. */
export function blockFromView(v: BlockView): Block {
  // The view gives a proof's fields, not its bytes: only a work proof (the nonce) is rebuilt.
  if (v.nonce === undefined) throw new Error(`block view at height ${v.height} has no nonce: only work blocks are rebuilt`)
  const hex = (s: string): Buffer => Buffer.from(s, 'hex')
  const txs: Transaction[] = v.transactions.map((x) => ({
    from: hex(x.from),
    to: hex(x.to),
    amount: x.amount,
    nonce: x.nonce,
    timestamp: x.timestamp,
    signature: hex(x.signature),
  }))
  const block: Block = {
    header: {
      height: v.height,
      prevHash: hex(v.previousHash),
      timestamp: v.timestamp,
      txRoot: hex(v.txRoot),
      miner: hex(v.miner),
      target: hex(v.target),
      proofType: v.proofType,
      proof: workProof(v.nonce),
    },
    txs,
  }
  const hash = toHex(blockHash(block.header))
  if (hash !== v.hash) throw new Error(`block view at height ${v.height} does not round-trip: ${hash} != ${v.hash}`)
  return block
}

// ---------------------------------------------------------------- raw P2P client

export interface RawConnectOptions {
  host: string
  port: number
  localAddress: string
  magic: number
}

/**
 * A bare TCP client of the P2P port: writes whatever a test wants (frames,
 * garbage) and records what the node sends back and when it hangs up.
 */
export class RawPeer {
  readonly received: Message[] = []
  bytesReceived = 0
  /** Set when the node sent bytes we could not decode. */
  decodeError: string | null = null
  closed = false
  readonly closedPromise: Promise<void>
  private readonly decoder: FrameDecoder
  private autoPong = false

  private constructor(
    readonly socket: net.Socket,
    readonly magic: number,
  ) {
    this.decoder = new FrameDecoder({ magic, maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES })
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => undefined) // a reset shows up as close
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true
        resolve()
      }),
    )
  }

  static connect(o: RawConnectOptions): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: o.host, port: o.port, localAddress: o.localAddress })
      // Listeners first: a node that drops us at once may close before 'connect' fires here.
      const peer = new RawPeer(socket, o.magic)
      socket.once('connect', () => resolve(peer))
      socket.once('error', reject)
    })
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length
    if (this.decodeError) return
    try {
      for (const frame of this.decoder.push(chunk)) {
        const r = tryDecodeMessage(frame)
        if (!r.ok) throw r.error
        this.received.push(r.message)
        if (this.autoPong && r.message.type === 'PING') this.send({ type: 'PONG', nonce: r.message.nonce })
      }
    } catch (err) {
      this.decodeError = (err as Error).message
    }
  }

  /** Answer every PING with its PONG from now on (an honest, live peer). */
  answerPings(): void {
    this.autoPong = true
    for (const m of this.received) if (m.type === 'PING') this.send({ type: 'PONG', nonce: m.nonce })
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes)
  }

  send(msg: Message): void {
    this.write(encodeMessage(this.magic, msg))
  }

  /** Waits for the first message of `type` (already received or still to come). */
  async next<T extends MessageType>(type: T, timeoutMs = 10_000): Promise<MessageByType<T>> {
    return waitFor(
      `a ${type} message (got ${this.received.map((m) => m.type).join(',') || 'nothing'}${this.closed ? ', closed' : ''})`,
      () => this.received.find((m): m is MessageByType<T> => m.type === type),
      { timeoutMs, intervalMs: 10 },
    )
  }

  /** Waits until the node has closed the connection; throws after `timeoutMs`. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`the node kept the connection open for ${timeoutMs} ms (got ${this.received.map((m) => m.type).join(',')})`)),
        timeoutMs,
      )
    })
    try {
      await Promise.race([this.closedPromise, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** A HELLO the node accepts (fields overridable to make it unacceptable). */
export function helloFor(network: NetworkParams, over: Partial<MessageByType<'HELLO'>> = {}): MessageByType<'HELLO'> {
  return {
    type: 'HELLO',
    version: PROTOCOL_VERSION,
    network: network.networkId,
    genesis: network.genesisHash,
    nodeId: randomBytes(32),
    listenHost: '127.0.0.1',
    listenPort: 1, // nothing listens there: if the node dials it back, the dial just fails
    bestHeight: 0,
    bestHash: network.genesisHash,
    agent: 'raw-test-client',
    ...over,
  }
}

/** Connects a raw client and completes the handshake; resolves once the node treats it as READY (its ADDR arrived). */
export async function handshaken(
  tn: TestNet,
  i: number,
  localAddress: string,
  over: Partial<MessageByType<'HELLO'>> = {},
): Promise<RawPeer> {
  const target = tn.at(i).p2p
  const raw = await RawPeer.connect({ host: target.host, port: target.port, localAddress, magic: tn.network.magic })
  raw.send(helloFor(tn.network, over))
  await raw.next('HELLO')
  await raw.next('ADDR')
  return raw
}
