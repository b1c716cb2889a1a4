// What P2P messages mean (Bitcoin Core's net_processing): relaying new
// transactions and blocks to peers that lack them, downloading missing blocks
// (GET_BLOCKS/BLOCKS with a locator), holding orphans until their parents
// arrive, gossiping addresses, and telling misbehaviour apart from honest
// races.
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, decodeBlock, encodeBlock, headerLength, type Block } from '../../protocol/chain/block-codec.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { CodecError } from '../../protocol/wire/codec-error.js'
import { decodeTx, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import { MAX_BLOCKS_PER_MESSAGE, type Message, type MessageByType } from '../../protocol/chain/messages.js'
import type { SubmitResult, TipChange } from '../chain/chainstate.js'
import type { Logger } from '../../lib/log.js'
import { shuffleInPlace } from '../../lib/shuffle.js'
import { PoolError, type PoolEntry } from '../mempool/pool.js'
import type { ProcessingChain, ProcessingConnections, ProcessingPeer as Peer } from './processing-deps.js'
import { TokenBucket } from '../../lib/token-bucket.js'
import { fitBlocks, forkHeight, heightsToServe, locatorHeights, OrphanPool } from './sync-rules.js'

export interface NetProcessingDeps {
  chain: ProcessingChain
  connman: ProcessingConnections
  submitTransaction: (tx: Transaction) => Promise<PoolEntry>
  maxPayloadBytes: number
  logger: Logger
  /** Uniform in [0, 1); picks the peers an address is passed on to (default Math.random). */
  random?: () => number
}

/** Counters for the de-duplication checks and getNetStats. */
export interface NetStats {
  blocksReceived: number
  blocksDuplicate: number
  /** The same block from the same peer twice: a relay bug somewhere. */
  blocksRepeatedByPeer: number
  blocksRelayed: number
  txsReceived: number
  txsDuplicate: number
  txsRelayed: number
  blocksDownloaded: number
  orphans: number
}

/** Tip moves of at most this many blocks are relayed block by block. */
const RELAY_MAX_BLOCKS = 8
const SYNC_TIMEOUT_MS = 60_000
/** A peer's queued messages at which its socket is paused, and resumed again. */
const QUEUE_PAUSE = 64
const QUEUE_RESUME = 16
/** Empty-handed batches from a peer that claims to be ahead before it is dropped. */
const MAX_UNPRODUCTIVE = 3

export class NetProcessing {
  readonly stats: NetStats = {
    blocksReceived: 0,
    blocksDuplicate: 0,
    blocksRepeatedByPeer: 0,
    blocksRelayed: 0,
    txsReceived: 0,
    txsDuplicate: 0,
    txsRelayed: 0,
    blocksDownloaded: 0,
    orphans: 0,
  }
  private readonly orphans = new OrphanPool<Block>()
  private readonly addrBuckets = new Map<number, TokenBucket>()
  private readonly queues = new Map<number, { tail: Promise<void>; depth: number }>()
  /** Batches in a row from a peer that brought nothing new. */
  private readonly unproductive = new Map<number, number>()
  /**
   * The peer we are downloading from, one at a time, when we last heard from
   * it, and the height of the block we asked it to continue after (null when
   * the request started from our tip).
   */
  private sync: { peer: Peer; since: number; after: number | null } | null = null
  private readonly timer: NodeJS.Timeout

  constructor(private readonly deps: NetProcessingDeps) {
    const { connman, chain } = deps
    connman.on('ready', (peer) => this.onReady(peer))
    connman.on('message', (peer, msg) => this.enqueue(peer, msg))
    connman.on('closed', (peer) => {
      this.queues.delete(peer.id)
      this.unproductive.delete(peer.id)
      this.addrBuckets.delete(peer.id)
      this.orphans.removePeer(peer.id)
      if (this.sync?.peer === peer) {
        this.sync = null
        this.maybeSync()
      }
    })
    chain.on('tip', (change) => this.onTip(change))
    this.timer = setInterval(() => this.checkSync(), 5000)
    this.timer.unref()
  }

  close(): void {
    clearInterval(this.timer)
  }

  /**
   * One peer's messages are handled one at a time, in order; while many are
   * waiting its socket is paused, so a flood costs the sender (TCP pushes
   * back) rather than this node's memory, and other peers keep being served.
   */
  private enqueue(peer: Peer, msg: Message): void {
    let q = this.queues.get(peer.id)
    if (!q) this.queues.set(peer.id, (q = { tail: Promise.resolve(), depth: 0 }))
    const queue = q
    queue.depth++
    if (queue.depth === QUEUE_PAUSE) peer.pause()
    queue.tail = queue.tail
      .then(() => (peer.state === 'ready' ? this.onMessage(peer, msg) : undefined))
      .catch((err: Error) => {
        this.deps.logger.error('P2P message handling failed', { peer: peer.id, type: msg.type, error: err.stack ?? err.message })
      })
      .finally(() => {
        queue.depth--
        if (queue.depth === QUEUE_RESUME) peer.resume()
      })
  }

  /** A transaction this node accepted (from RPC or a peer): offer it to every peer that lacks it. */
  relayTransaction(entry: PoolEntry, except?: Peer): void {
    for (const peer of this.deps.connman.ready()) {
      if (peer === except || peer.knownTxs.has(entry.id)) continue
      peer.knownTxs.add(entry.id)
      if (peer.send({ type: 'TX', tx: entry.bytes })) this.stats.txsRelayed++
    }
  }

  private onReady(peer: Peer): void {
    const { connman } = this.deps
    const self = connman.listenAddress
    const addrs = connman.addrman.sample(999)
    addrs.push({ host: self.host, port: self.port, lastSeen: Date.now() })
    peer.send({ type: 'ADDR', addrs })
    if (peer.hello && peer.direction === 'inbound') {
      connman.addrman.add({ host: peer.address.host, port: peer.hello.listenPort }, 'inbound', Date.now())
    }
    const tip = this.deps.chain.tip
    const theirs = peer.hello ? peer.hello.bestHash.toString('hex') : tip.hash
    if (!this.sync && peer.bestHeight === tip.height && this.deps.chain.entry(theirs) === undefined) {
      // Same height, another tip (a healed partition): fetch it so the
      // tie-break settles both sides without waiting for the next block.
      this.requestBlocks(peer)
      return
    }
    this.maybeSync()
  }

  private async onMessage(peer: Peer, msg: Message): Promise<void> {
    switch (msg.type) {
      case 'ADDR':
        return this.onAddr(peer, msg)
      case 'TX':
        return this.onTx(peer, msg.tx)
      case 'BLOCK':
        return this.onBlock(peer, msg.block)
      case 'GET_BLOCKS':
        return this.onGetBlocks(peer, msg)
      case 'BLOCKS':
        return this.onBlocks(peer, msg.blocks)
      default:
        // HELLO, PING, PONG and DISCONNECT are handled by the connection itself.
        return
    }
  }

  private onAddr(peer: Peer, msg: MessageByType<'ADDR'>): void {
    let bucket = this.addrBuckets.get(peer.id)
    if (!bucket) this.addrBuckets.set(peer.id, (bucket = new TokenBucket({ capacity: 2000, refillPerSec: 10 })))
    // Entries over the rate are ignored, not punished (it may be a burst of gossip).
    const allowed = Math.min(msg.addrs.length, Math.floor(bucket.tokens))
    if (allowed === 0 || !bucket.take(allowed)) return
    const { addrman } = this.deps.connman
    const fresh: typeof msg.addrs = []
    const now = Date.now()
    for (const a of msg.addrs.slice(0, allowed)) {
      const known = addrman.get(a) !== undefined
      if (addrman.add(a, 'gossip', Math.min(a.lastSeen, now)) && !known) fresh.push(a)
    }
    // Pass a few new addresses on, so a node's address spreads past its first peers.
    if (fresh.length > 0 && fresh.length <= 10) {
      const others = this.deps.connman.ready().filter((p) => p !== peer)
      for (const p of shuffleInPlace(others, this.deps.random).slice(0, 2)) p.send({ type: 'ADDR', addrs: fresh })
    }
  }

  private async onTx(peer: Peer, bytes: Buffer): Promise<void> {
    let tx: Transaction
    try {
      tx = decodeTx(bytes)
    } catch (err) {
      if (err instanceof CodecError) return this.deps.connman.misbehaving(peer, `undecodable transaction: ${err.message}`)
      throw err
    }
    const id = toHex(txId(tx))
    this.stats.txsReceived++
    peer.knownTxs.add(id)
    try {
      const entry = await this.deps.submitTransaction(tx)
      this.relayTransaction(entry, peer)
    } catch (err) {
      if (!(err instanceof PoolError)) throw err
      if (err.code === 'BAD_SIGNATURE' || err.code === 'INVALID_TX')
        return this.deps.connman.misbehaving(peer, `invalid transaction ${id}: ${err.message}`)
      // Already known, nonce used meanwhile, balance moved, pool full: honest races.
      this.stats.txsDuplicate++
    }
  }

  private decodeBlockFrom(peer: Peer, bytes: Buffer): Block | null {
    try {
      return decodeBlock(bytes, this.deps.chain.params.consensus.maxBlockBytes)
    } catch (err) {
      if (!(err instanceof CodecError)) throw err
      this.deps.connman.misbehaving(peer, `undecodable block: ${err.message}`)
      return null
    }
  }

  private async onBlock(peer: Peer, bytes: Buffer): Promise<void> {
    // In a mesh most copies of a block are ones we already have: the header's
    // hash tells, without decoding the body.
    const hlen = headerLength(bytes)
    if (hlen !== null && bytes.length >= hlen) {
      const hash = sha256(bytes.subarray(0, hlen)).toString('hex')
      const known = this.deps.chain.entry(hash)
      if (known && known.status !== 'invalid') {
        this.stats.blocksReceived++
        this.stats.blocksDuplicate++
        if (peer.receivedBlocks.has(hash)) this.stats.blocksRepeatedByPeer++
        peer.receivedBlocks.add(hash)
        peer.knownBlocks.add(hash)
        peer.bestHeight = Math.max(peer.bestHeight, known.height)
        return
      }
    }
    const block = this.decodeBlockFrom(peer, bytes)
    if (!block) return
    const hash = toHex(blockHash(block.header))
    this.stats.blocksReceived++
    if (peer.receivedBlocks.has(hash)) this.stats.blocksRepeatedByPeer++
    peer.receivedBlocks.add(hash)
    peer.knownBlocks.add(hash)
    peer.bestHeight = Math.max(peer.bestHeight, block.header.height)
    const result = await this.deps.chain.submitBlock(block)
    await this.afterSubmit(peer, block, bytes.length, result)
  }

  /** Shared by BLOCK and each block of BLOCKS: duplicates, orphans, misbehaviour, waiting children. */
  private async afterSubmit(peer: Peer, block: Block, size: number, result: SubmitResult): Promise<void> {
    switch (result.status) {
      case 'duplicate':
        this.stats.blocksDuplicate++
        return
      case 'orphan':
        this.orphans.add({
          hash: result.hash,
          prev: result.missing,
          block,
          size,
          peer: peer.id,
          receivedAt: Date.now(),
        })
        this.stats.orphans = this.orphans.size
        peer.bestHeight = Math.max(peer.bestHeight, block.header.height)
        // Its ancestors come with the running download, or with one we start now.
        if (!this.sync) this.requestBlocks(peer)
        return
      case 'invalid':
        if (result.error.permanent)
          this.deps.connman.misbehaving(peer, `invalid block ${result.hash}: ${result.error.code}: ${result.error.message}`)
        return
      default:
        await this.connectOrphans(result.hash)
    }
  }

  /** Blocks that were waiting for `parent` can go in now, and their own children after them. */
  private async connectOrphans(parent: string): Promise<void> {
    const queue = [parent]
    while (queue.length > 0) {
      for (const o of this.orphans.takeChildren(queue.shift()!)) {
        const r = await this.deps.chain.submitBlock(o.block)
        if (r.status === 'connected' || r.status === 'side') queue.push(r.hash)
      }
    }
    this.stats.orphans = this.orphans.size
  }

  private async onGetBlocks(peer: Peer, msg: MessageByType<'GET_BLOCKS'>): Promise<void> {
    const { chain } = this.deps
    const from = forkHeight(
      msg.locator.map((h) => h.toString('hex')),
      (hash) => {
        const e = chain.entry(hash)
        return e && e.status !== 'invalid' && chain.isOnBestChain(e) ? e.height : undefined
      },
    )
    // Served as stored: no decoding, no re-encoding, sizes known from the bytes.
    const blocks: Buffer[] = []
    const sizes: number[] = []
    const hashes: string[] = []
    for (const height of heightsToServe(from, chain.tip.height, msg.max)) {
      const found = await chain.getStoredBlockByHeight(height)
      if (!found) break
      // A reorg between two reads: stop where the best chain changed, so the batch stays one chain.
      if (hashes.length > 0 && chain.entry(found.hash)?.prev !== hashes[hashes.length - 1]) break
      sizes.push(found.bytes.length)
      if (fitBlocks(sizes, this.deps.maxPayloadBytes) < sizes.length) break
      blocks.push(found.bytes)
      hashes.push(found.hash)
    }
    for (const h of hashes) peer.knownBlocks.add(h)
    peer.send({ type: 'BLOCKS', blocks })
  }

  private async onBlocks(peer: Peer, list: Buffer[]): Promise<void> {
    if (this.sync?.peer === peer) this.sync.since = Date.now()
    const blocks: Block[] = []
    for (const bytes of list) {
      const b = this.decodeBlockFrom(peer, bytes)
      if (!b) return
      // A batch is one run of a chain: each block the child of the one before.
      const prev = blocks[blocks.length - 1]
      if (prev && !b.header.prevHash.equals(blockHash(prev.header))) {
        return this.deps.connman.misbehaving(peer, 'BLOCKS batch is not a chain')
      }
      blocks.push(b)
    }
    for (const b of blocks) peer.knownBlocks.add(toHex(blockHash(b.header)))
    this.stats.blocksDownloaded += blocks.length
    const results = await this.deps.chain.submitBlocks(blocks)
    for (let i = 0; i < blocks.length; i++) {
      if (peer.state !== 'ready') return
      const r = results[i]!
      // A batch must attach to our chain; an unattached one is simply unproductive.
      if (r.status === 'orphan') continue
      await this.afterSubmit(peer, blocks[i]!, list[i]!.length, r)
    }
    const progressed = results.some((r) => r.status === 'connected' || r.status === 'side')
    if (progressed) {
      this.unproductive.delete(peer.id)
      for (const b of blocks) peer.bestHeight = Math.max(peer.bestHeight, b.header.height)
    }
    const last = results[results.length - 1]
    const lastKnown = last !== undefined && last.status !== 'orphan' && last.status !== 'invalid'
    if (this.sync?.peer !== peer) return
    const lastHeight = blocks[blocks.length - 1]?.header.height ?? -1
    // More to come: a full batch, or a short one (the payload cap cut it)
    // ending below the height the peer announced.
    const peerHasMore = blocks.length === MAX_BLOCKS_PER_MESSAGE || peer.bestHeight > lastHeight
    // A continuation must reach past the block it followed on from, so a
    // peer that sends the same blocks again cannot keep us asking.
    const movedOn = this.sync.after === null || lastHeight > this.sync.after
    if (lastKnown && peerHasMore && movedOn) {
      // Follow on from the batch's last block (known already or new). During
      // a deep reorg that block may sit on a side branch not yet ahead; a
      // locator from our tip would ask for the same blocks again.
      return this.requestBlocks(peer, last.hash)
    }
    if (!progressed) {
      // It claimed to be ahead and sent nothing new: believe our chain, not
      // its claim, and drop a peer that keeps doing it.
      peer.bestHeight = Math.min(peer.bestHeight, this.deps.chain.tip.height)
      const n = (this.unproductive.get(peer.id) ?? 0) + 1
      this.unproductive.set(peer.id, n)
      if (n >= MAX_UNPRODUCTIVE) peer.close('claims a better chain but does not send it')
    }
    this.sync = null
    if (progressed && peer.bestHeight > this.deps.chain.tip.height) return this.requestBlocks(peer)
    this.maybeSync()
  }

  /** GET_BLOCKS with a locator from `from` (default: our tip): the peer answers with what follows. */
  private requestBlocks(peer: Peer, from?: string): void {
    if (peer.state !== 'ready') return
    const after = from === undefined ? null : (this.deps.chain.entry(from)?.height ?? null)
    this.sync = { peer, since: Date.now(), after }
    peer.send({ type: 'GET_BLOCKS', locator: this.locator(from ?? this.deps.chain.tip.hash), max: MAX_BLOCKS_PER_MESSAGE })
  }

  /** Hashes at locator heights along the chain ending at `from`, walking the in-memory block index. */
  private locator(from: string): Buffer[] {
    const { chain } = this.deps
    let e = chain.entry(from) ?? chain.tip
    const out: Buffer[] = []
    for (const h of locatorHeights(e.height)) {
      while (e.height > h) e = chain.entry(e.prev)!
      out.push(Buffer.from(e.hash, 'hex'))
    }
    return out
  }

  /** Starts a download from the best-placed peer when one is ahead of us and none is running. */
  private maybeSync(): void {
    if (this.sync) return
    const ours = this.deps.chain.tip.height
    const ahead = this.deps.connman.ready().filter((p) => p.bestHeight > ours)
    if (ahead.length === 0) return
    this.requestBlocks(ahead.reduce((a, b) => (b.bestHeight > a.bestHeight ? b : a)))
  }

  private checkSync(): void {
    if (this.sync && Date.now() - this.sync.since > SYNC_TIMEOUT_MS) {
      const stalled = this.sync.peer
      this.sync = null
      stalled.close('block download stalled')
    }
    this.maybeSync()
  }

  private onTip(change: TipChange): void {
    // After a long move (a catch-up) only the new tip is offered: a peer
    // without its parent fetches the ancestors itself.
    const offer = change.connected.length > RELAY_MAX_BLOCKS ? change.connected.slice(-1) : change.connected
    for (const c of offer) {
      const bytes = encodeBlock(c.block)
      for (const peer of this.deps.connman.ready()) {
        if (peer.knownBlocks.has(c.hash)) continue
        peer.knownBlocks.add(c.hash)
        if (peer.send({ type: 'BLOCK', block: bytes })) this.stats.blocksRelayed++
      }
    }
  }
}
