// NetProcessing driven through its narrow interfaces: an in-memory chain
// (longest chain wins, first seen on a tie) and in-memory connections and
// peers that record what was sent. No sockets, no storage; blocks and
// transactions are real encodings.
import t, { type Test } from 'tap'
import { EventEmitter } from 'node:events'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { blockHash, encodeBlock, type Block } from '../../../../protocol/chain/block-codec.js'
import { encodeTx, txId, type Transaction } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { MAX_P2P_PAYLOAD_BYTES, type Message, type MessageByType, type MessageType } from '../../../../protocol/chain/messages.js'
import { silentLogger } from '../../../../lib/log.js'
import type { SubmitResult, TipChange } from '../../../../node/chain/chainstate.js'
import { ValidationError } from '../../../../node/chain/errors.js'
import { PoolError, type PoolEntry } from '../../../../node/mempool/pool.js'
import { AddrMan, type PeerAddress } from '../../../../node/p2p/addrman.js'
import { NetProcessing } from '../../../../node/p2p/net-processing.js'
import type {
  ChainEntry,
  ProcessingChain,
  ProcessingConnections,
  ProcessingPeer,
  StoredBlock,
} from '../../../../node/p2p/processing-deps.js'
import type { Direction, Hello, PeerState } from '../../../../node/p2p/peer.js'
import { BLOCK_BIN_HEADER_BYTES, BLOCKS_PAYLOAD_OVERHEAD_BYTES } from '../../../../node/p2p/sync-rules.js'
import { genesisRef, mine, mineChain, parentOf, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { indexEntry } from '../../../helpers/tamper.js'

const net = testNetwork({ bits: 4 })
const GENESIS = toHex(net.genesisHash)
const hashOf = (b: Block): string => toHex(blockHash(b.header))

// ---------------------------------------------------------------- fakes

/** The chain: a block tree in memory; the highest block wins, the first seen on a tie. */
class FakeChain extends EventEmitter<{ tip: [TipChange] }> implements ProcessingChain {
  readonly params = { consensus: { maxBlockBytes: net.consensus.maxBlockBytes } }
  readonly submitted: string[] = []
  /** Blocks to answer as invalid, by hash. */
  readonly rejects = new Map<string, ValidationError>()
  /** While set, submissions wait for it (to hold a peer's queue). */
  gate: Promise<void> | null = null
  private readonly entries = new Map<string, ChainEntry>()
  private readonly stored = new Map<string, { bytes: Buffer; block: Block }>()
  private best: string[] = [GENESIS]

  constructor() {
    super()
    this.entries.set(GENESIS, { hash: GENESIS, prev: '', height: 0, status: 'valid' })
    this.stored.set(GENESIS, { bytes: encodeBlock(net.genesis), block: net.genesis })
  }

  get tip(): ChainEntry {
    return this.entries.get(this.best[this.best.length - 1]!)!
  }

  entry(hash: string): ChainEntry | undefined {
    return this.entries.get(hash)
  }

  isOnBestChain(e: { hash: string; height: number }): boolean {
    return this.best[e.height] === e.hash
  }

  /** The bytes this chain holds for a block, as it would serve them. */
  storedBytes(hash: string): Buffer {
    return this.stored.get(hash)!.bytes
  }

  /** Runs before each stored-block read: lets a test move the best chain mid-answer. */
  beforeRead: ((height: number) => Promise<void>) | null = null

  async getStoredBlockByHeight(height: number): Promise<StoredBlock | undefined> {
    await this.beforeRead?.(height)
    const hash = this.best[height]
    return hash === undefined ? undefined : { hash, bytes: this.stored.get(hash)!.bytes }
  }

  async submitBlock(block: Block): Promise<SubmitResult> {
    return (await this.submitBlocks([block]))[0]!
  }

  async submitBlocks(blocks: Block[]): Promise<SubmitResult[]> {
    if (this.gate) await this.gate
    const results: SubmitResult[] = []
    for (const b of blocks) {
      const hash = hashOf(b)
      this.submitted.push(hash)
      const rejected = this.rejects.get(hash)
      const known = this.entries.get(hash)
      const prev = toHex(b.header.prevHash)
      if (rejected) results.push({ status: 'invalid', hash, error: rejected })
      else if (known) results.push({ status: 'duplicate', hash, height: known.height })
      else if (!this.entries.has(prev)) results.push({ status: 'orphan', hash, missing: prev })
      else {
        this.entries.set(hash, { hash, prev, height: b.header.height, status: 'valid' })
        this.stored.set(hash, { bytes: encodeBlock(b), block: b })
        results.push({ status: 'side', hash, height: b.header.height })
      }
    }
    this.activate()
    return results.map((r) => (r.status === 'side' && this.best[r.height] === r.hash ? { ...r, status: 'connected' } : r))
  }

  /** Moves to the highest block if it is higher than the tip; announces the move like Chainstate. */
  private activate(): void {
    let top = this.tip
    for (const e of this.entries.values()) if (e.height > top.height) top = e
    if (top === this.tip) return
    const path: string[] = []
    for (let e: ChainEntry | undefined = top; e && this.best[e.height] !== e.hash; e = this.entries.get(e.prev)) path.unshift(e.hash)
    const forkHeight = this.entries.get(path[0]!)!.height - 1
    const view = (hash: string) => {
      const s = this.stored.get(hash)!
      return { hash, height: s.block.header.height, block: s.block, txIds: [], size: s.bytes.length }
    }
    const disconnected = this.best
      .slice(forkHeight + 1)
      .reverse()
      .map(view)
    this.best = [...this.best.slice(0, forkHeight + 1), ...path]
    const tip = indexEntry({ ...top, work: 0n, chainWork: 0n })
    this.emit('tip', { tip, connected: path.map(view), disconnected })
  }
}

class FakePeer implements ProcessingPeer {
  state: PeerState = 'ready'
  bestHeight: number
  readonly knownBlocks = new Set<string>()
  readonly knownTxs = new Set<string>()
  readonly receivedBlocks = new Set<string>()
  readonly sent: Message[] = []
  closedWith: string | null = null
  paused = false

  constructor(
    readonly id: number,
    readonly direction: Direction,
    readonly address: PeerAddress,
    readonly hello: Hello | null,
    private readonly onClose: (peer: FakePeer) => void,
  ) {
    this.bestHeight = hello?.bestHeight ?? 0
  }

  send(msg: Message): boolean {
    if (this.state === 'closed') return false
    this.sent.push(msg)
    return true
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
  }

  close(reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closedWith = reason
    this.onClose(this)
  }

  sentOf<T extends MessageType>(type: T): Array<MessageByType<T>> {
    return this.sent.filter((m): m is MessageByType<T> => m.type === type)
  }
}

class FakeConnections
  extends EventEmitter<{ ready: [ProcessingPeer]; message: [ProcessingPeer, Message]; closed: [ProcessingPeer] }>
  implements ProcessingConnections
{
  readonly listenAddress = { host: '127.0.0.1', port: 5555 }
  readonly addrman = new AddrMan({ maxEntries: 100_000 })
  readonly peers: FakePeer[] = []
  readonly misbehaved: Array<{ peer: number; reason: string }> = []
  private nextId = 1

  ready(): FakePeer[] {
    return this.peers.filter((p) => p.state === 'ready')
  }

  misbehaving(peer: ProcessingPeer, reason: string): void {
    this.misbehaved.push({ peer: peer.id, reason })
    peer.close(reason)
  }

  /** A peer past the handshake, announcing `bestHeight` / `bestHash`. */
  connect(opts: { bestHeight?: number; bestHash?: string; direction?: Direction } = {}): FakePeer {
    const id = this.nextId++
    const hello: Hello = {
      type: 'HELLO',
      version: 1,
      network: net.networkId,
      genesis: net.genesisHash,
      nodeId: Buffer.alloc(32, id),
      listenHost: `10.0.0.${id}`,
      listenPort: 7000 + id,
      bestHeight: opts.bestHeight ?? 0,
      bestHash: Buffer.from(opts.bestHash ?? GENESIS, 'hex'),
      agent: 'fake',
    }
    const peer = new FakePeer(id, opts.direction ?? 'outbound', { host: `10.0.0.${id}`, port: 9000 + id }, hello, (p) => {
      this.emit('closed', p)
    })
    this.peers.push(peer)
    this.emit('ready', peer)
    return peer
  }
}

interface Harness {
  chain: FakeChain
  conns: FakeConnections
  np: NetProcessing
  /** Hands `msg` to net-processing as if `peer` sent it, and waits until it is handled. */
  deliver: (peer: FakePeer, msg: Message) => Promise<void>
}

/** Everything the fakes do resolves in microtasks, so one macrotask turn means all of it is done. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function setup(
  t: Test,
  opts: { maxPayloadBytes?: number; random?: () => number; submitTransaction?: (tx: Transaction) => Promise<PoolEntry> } = {},
): Harness {
  const chain = new FakeChain()
  const conns = new FakeConnections()
  const np = new NetProcessing({
    chain,
    connman: conns,
    submitTransaction: opts.submitTransaction ?? (() => Promise.reject(new PoolError('DUPLICATE_TX', 'already known'))),
    maxPayloadBytes: opts.maxPayloadBytes ?? MAX_P2P_PAYLOAD_BYTES,
    logger: silentLogger(),
    ...(opts.random ? { random: opts.random } : {}),
  })
  t.teardown(() => np.close())
  return {
    chain,
    conns,
    np,
    deliver: async (peer, msg) => {
      conns.emit('message', peer, msg)
      await settle()
    },
  }
}

function poolEntry(tx: Transaction): PoolEntry {
  return { tx, id: toHex(txId(tx)), from: toHex(tx.from), to: toHex(tx.to), bytes: encodeTx(tx), receivedAt: Date.now() }
}

/** Blocks with a transfer each, so they differ in size from empty ones. */
function chainWithTransfers(n: number): Block[] {
  const sender = generateKeyPair()
  const out: Block[] = []
  let p = genesisRef(net)
  for (let i = 0; i < n; i++) {
    const txs = Array.from({ length: i % 3 }, (_, k) => transfer(net, sender, generateKeyPair().address, 1, i * 3 + k))
    const b = mine(net, p, { txs, timestamp: p.timestamp + 1000 })
    out.push(b)
    p = parentOf(b)
  }
  return out
}

const blocksMsg = (blocks: readonly Block[]): Message => ({ type: 'BLOCKS', blocks: blocks.map(encodeBlock) })
const firstLocatorHash = (m: MessageByType<'GET_BLOCKS'>): string => toHex(m.locator[0]!)

// ---------------------------------------------------------------- handshake

t.test('a ready peer is sent our addresses, including our own listen address', async (t) => {
  const { conns } = setup(t)
  conns.addrman.add({ host: '10.1.1.1', port: 6000 }, 'gossip', Date.now())
  const a = conns.connect({ direction: 'inbound' })
  const [addr] = a.sentOf('ADDR')
  t.ok(addr, 'an ADDR went out')
  t.ok(
    addr!.addrs.some((x) => x.host === '127.0.0.1' && x.port === 5555),
    'it names our listen address',
  )
  t.ok(
    addr!.addrs.some((x) => x.host === '10.1.1.1'),
    'and what the book holds',
  )
  t.ok(conns.addrman.get({ host: a.address.host, port: a.hello!.listenPort }), "an inbound peer's listen address is remembered")
  t.equal(a.sentOf('GET_BLOCKS').length, 0, 'a peer not ahead of us is not asked for blocks')
})

t.test('a peer at our height with another tip is asked for its blocks at once', async (t) => {
  const { conns } = setup(t)
  const a = conns.connect({ bestHeight: 0, bestHash: 'ab'.repeat(32) })
  t.equal(a.sentOf('GET_BLOCKS').length, 1)
  t.equal(firstLocatorHash(a.sentOf('GET_BLOCKS')[0]!), GENESIS, 'from our tip')
})

// ---------------------------------------------------------------- transactions

t.test('a new transaction is relayed once to every other peer; a copy already known is not', async (t) => {
  const tx = transfer(net, generateKeyPair(), generateKeyPair().address, 5, 0)
  let accepted = false
  const { conns, np, deliver } = setup(t, {
    submitTransaction: async (x) => {
      if (accepted) throw new PoolError('DUPLICATE_TX', 'already in the pool')
      accepted = true
      return poolEntry(x)
    },
  })
  const [a, b, c] = [conns.connect(), conns.connect(), conns.connect()]
  await deliver(a!, { type: 'TX', tx: encodeTx(tx) })
  t.equal(a!.sentOf('TX').length, 0, 'not back to its sender')
  t.same(
    [b!, c!].map((p) => p.sentOf('TX').map((m) => m.tx.equals(encodeTx(tx)))),
    [[true], [true]],
    'once to each other peer',
  )
  t.equal(np.stats.txsRelayed, 2)

  await deliver(b!, { type: 'TX', tx: encodeTx(tx) })
  t.equal(np.stats.txsDuplicate, 1, 'the second copy counts as a duplicate')
  t.same(
    [a!, b!, c!].map((p) => p.sentOf('TX').length),
    [0, 1, 1],
    'and is relayed to nobody',
  )
  np.relayTransaction(poolEntry(tx))
  t.same(
    [a!, b!, c!].map((p) => p.sentOf('TX').length),
    [0, 1, 1],
    'a relay from RPC skips peers that have it',
  )
  t.equal(conns.misbehaved.length, 0, 'nobody is blamed for an honest duplicate')
})

t.test('an invalid or undecodable transaction gets its sender discouraged; an honest race does not', async (t) => {
  const tx = transfer(net, generateKeyPair(), generateKeyPair().address, 5, 0)
  let code: 'BAD_SIGNATURE' | 'BAD_NONCE' = 'BAD_NONCE'
  const { conns, deliver } = setup(t, { submitTransaction: () => Promise.reject(new PoolError(code, 'no')) })
  const [a, b, c] = [conns.connect(), conns.connect(), conns.connect()]
  await deliver(a!, { type: 'TX', tx: encodeTx(tx) })
  t.equal(a!.state, 'ready', 'a nonce already used is a race, not misbehaviour')
  code = 'BAD_SIGNATURE'
  await deliver(b!, { type: 'TX', tx: encodeTx(tx) })
  await deliver(c!, { type: 'TX', tx: Buffer.alloc(10) })
  t.match(conns.misbehaved, [
    { peer: b!.id, reason: /^invalid transaction/ },
    { peer: c!.id, reason: /^undecodable transaction/ },
  ])
  t.equal(conns.misbehaved.length, 2)
})

// ---------------------------------------------------------------- blocks

t.test('a new block is submitted once and relayed to the peers that lack it', async (t) => {
  const { chain, conns, np, deliver } = setup(t)
  const [b1] = mineChain(net, genesisRef(net), 1)
  const [a, b, c] = [conns.connect(), conns.connect(), conns.connect()]
  await deliver(a!, { type: 'BLOCK', block: encodeBlock(b1!) })
  t.equal(chain.tip.hash, hashOf(b1!), 'it became our tip')
  t.equal(a!.sentOf('BLOCK').length, 0, 'not sent back to where it came from')
  t.same(
    [b!, c!].map((p) => p.sentOf('BLOCK').map((m) => m.block.equals(encodeBlock(b1!)))),
    [[true], [true]],
  )
  t.equal(np.stats.blocksRelayed, 2)

  await deliver(b!, { type: 'BLOCK', block: encodeBlock(b1!) })
  await deliver(b!, { type: 'BLOCK', block: encodeBlock(b1!) })
  t.equal(chain.submitted.length, 1, 'known copies are recognised by their header, not submitted again')
  t.equal(np.stats.blocksDuplicate, 2)
  t.equal(np.stats.blocksRepeatedByPeer, 1, 'the same peer sending it twice is counted')
  t.same(
    [a!, b!, c!].map((p) => p.sentOf('BLOCK').length),
    [0, 1, 1],
    'copies are relayed to nobody',
  )
})

t.test('a block with an unknown parent is held, its ancestors are fetched, and it connects after them', async (t) => {
  const { chain, conns, np, deliver } = setup(t)
  const [b1, b2] = mineChain(net, genesisRef(net), 2)
  const a = conns.connect()
  await deliver(a, { type: 'BLOCK', block: encodeBlock(b2!) })
  t.equal(np.stats.orphans, 1, 'held as an orphan')
  t.equal(a.bestHeight, 2, 'the sender is known to have height 2')
  const [ask] = a.sentOf('GET_BLOCKS')
  t.equal(firstLocatorHash(ask!), GENESIS, 'its ancestors are asked for, from our tip')
  await deliver(a, blocksMsg([b1!]))
  t.equal(chain.tip.hash, hashOf(b2!), 'the orphan connected once its parent did')
  t.equal(np.stats.orphans, 0)
})

t.test('an invalid block gets its sender discouraged only when the fault is permanent', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const [b1, b2] = mineChain(net, genesisRef(net), 2)
  chain.rejects.set(hashOf(b1!), new ValidationError('TIME_TOO_NEW', 'from the future', false))
  const a = conns.connect()
  await deliver(a, { type: 'BLOCK', block: encodeBlock(b1!) })
  t.equal(a.state, 'ready', 'a block too far in the future may be fine later: no blame')
  chain.rejects.set(hashOf(b1!), new ValidationError('BAD_POW', 'no work'))
  const b = conns.connect()
  await deliver(b, { type: 'BLOCK', block: encodeBlock(b1!) })
  const c = conns.connect()
  await deliver(c, { type: 'BLOCK', block: Buffer.alloc(200, 1) })
  const d = conns.connect()
  await deliver(d, blocksMsg([b2!, b1!]))
  t.match(conns.misbehaved, [
    { peer: b.id, reason: /^invalid block .*BAD_POW/ },
    { peer: c.id, reason: /^undecodable block/ },
    { peer: d.id, reason: 'BLOCKS batch is not a chain' },
  ])
  t.equal(conns.misbehaved.length, 3)
})

t.test('many queued messages pause the peer; it resumes once they are handled', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const blocks = mineChain(net, genesisRef(net), 70)
  const a = conns.connect()
  let open!: () => void
  chain.gate = new Promise((resolve) => (open = resolve))
  for (const b of blocks) conns.emit('message', a, { type: 'BLOCK', block: encodeBlock(b) })
  await settle()
  t.equal(a.paused, true, 'paused while 70 messages wait')
  chain.gate = null
  open()
  await deliver(a, { type: 'PING', nonce: 1 })
  t.equal(a.paused, false, 'resumed')
  t.equal(chain.tip.height, 70, 'and every block was handled, in order')
})

// ---------------------------------------------------------------- serving GET_BLOCKS

t.test('GET_BLOCKS is answered with the stored bytes of the blocks after the locator', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const blocks = chainWithTransfers(10)
  await chain.submitBlocks(blocks)
  const a = conns.connect()
  await deliver(a, { type: 'GET_BLOCKS', locator: [blockHash(blocks[3]!.header), net.genesisHash], max: 500 })
  const [reply] = a.sentOf('BLOCKS')
  t.equal(reply!.blocks.length, 6, 'heights 5 to 10')
  reply!.blocks.forEach((bytes, i) => {
    const stored = chain.storedBytes(hashOf(blocks[4 + i]!))
    t.equal(bytes, stored, `block ${5 + i} is the stored buffer itself, not a re-encoding`)
  })
  t.ok(
    blocks.slice(4).every((b) => a.knownBlocks.has(hashOf(b))),
    'the peer is known to have them now',
  )

  await deliver(a, { type: 'GET_BLOCKS', locator: [Buffer.alloc(32, 7)], max: 3 })
  const second = a.sentOf('BLOCKS')[1]!
  t.same(
    second.blocks.map((bytes, i) => bytes.equals(encodeBlock(blocks[i]!))),
    [true, true, true],
    'an unknown locator starts after genesis; max is honoured',
  )
})

t.test('a reorg while GET_BLOCKS is answered: the reply stops where the chain changed, so it is still a chain', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const main = mineChain(net, genesisRef(net), 6)
  await chain.submitBlocks(main)
  // A longer branch from height 2, taken as best while height 4 is being read.
  const branch = mineChain(net, parentOf(main[1]!), 6, { miner: generateKeyPair().address })
  chain.beforeRead = async (height) => {
    if (height !== 4) return
    chain.beforeRead = null
    await chain.submitBlocks(branch)
  }
  const a = conns.connect()
  await deliver(a, { type: 'GET_BLOCKS', locator: [net.genesisHash], max: 500 })
  const [reply] = a.sentOf('BLOCKS')
  const served = reply!.blocks.map((bytes) => bytes.toString('hex'))
  t.same(
    served.slice(0, 3),
    main.slice(0, 3).map((b) => encodeBlock(b).toString('hex')),
    'heights 1-3 of the chain it began with',
  )
  t.equal(served.length, 3, 'nothing from the new branch after them: that would not be a chain')
})

t.test('a BLOCKS reply is cut to the payload cap by the stored sizes', async (t) => {
  const blocks = chainWithTransfers(9)
  const sizes = blocks.map((b) => encodeBlock(b).length)
  t.not(new Set(sizes).size, 1, 'the blocks differ in size')
  // Room for exactly the first four, one byte short of the fifth.
  const cap = BLOCKS_PAYLOAD_OVERHEAD_BYTES + sizes.slice(0, 5).reduce((sum, s) => sum + BLOCK_BIN_HEADER_BYTES + s, 0) - 1
  const { chain, conns, deliver } = setup(t, { maxPayloadBytes: cap })
  await chain.submitBlocks(blocks)
  const a = conns.connect()
  await deliver(a, { type: 'GET_BLOCKS', locator: [net.genesisHash], max: 500 })
  t.equal(a.sentOf('BLOCKS')[0]!.blocks.length, 4)
})

// ---------------------------------------------------------------- downloading BLOCKS

t.test('a short batch from a peer that claims more is followed by a request from its last block (a deep fork)', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const own = mineChain(net, genesisRef(net), 6, { miner: generateKeyPair().address })
  await chain.submitBlocks(own)
  const theirs = mineChain(net, genesisRef(net), 8, { miner: generateKeyPair().address })
  const a = conns.connect({ bestHeight: 8, bestHash: hashOf(theirs[7]!) })
  const asks = (): Array<MessageByType<'GET_BLOCKS'>> => a.sentOf('GET_BLOCKS')
  t.equal(asks().length, 1, 'the peer ahead of us is asked')
  t.equal(firstLocatorHash(asks()[0]!), hashOf(own[5]!), 'from our tip')

  // The payload cap let only five through: a side branch, not yet better than ours.
  await deliver(a, blocksMsg(theirs.slice(0, 5)))
  t.equal(chain.tip.hash, hashOf(own[5]!), 'still on our branch')
  t.equal(asks().length, 2, 'asked again')
  t.equal(firstLocatorHash(asks()[1]!), hashOf(theirs[4]!), 'following on from the last block received, not our tip')

  await deliver(a, blocksMsg(theirs.slice(5)))
  t.equal(chain.tip.hash, hashOf(theirs[7]!), 'the longer branch won')
  t.equal(asks().length, 2, 'no more requests once the announced height is reached')
  t.equal(a.state, 'ready', 'the honest peer is kept')
})

t.test('a catch-up cut short by the payload cap continues until the announced height', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const theirs = mineChain(net, genesisRef(net), 12)
  const a = conns.connect({ bestHeight: 12, bestHash: hashOf(theirs[11]!) })
  for (const [from, to] of [
    [0, 5],
    [5, 10],
    [10, 12],
  ] as const) {
    await deliver(a, blocksMsg(theirs.slice(from, to)))
  }
  t.equal(chain.tip.hash, hashOf(theirs[11]!))
  t.same(a.sentOf('GET_BLOCKS').map(firstLocatorHash), [GENESIS, hashOf(theirs[4]!), hashOf(theirs[9]!)])
})

t.test('an already known run is skipped over: duplicates from the peer ahead lead on, not to blame', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const theirs = mineChain(net, genesisRef(net), 8)
  // We hold the first five already, as a side branch below our own tip.
  await chain.submitBlocks(mineChain(net, genesisRef(net), 6, { miner: generateKeyPair().address }))
  await chain.submitBlocks(theirs.slice(0, 5))
  const a = conns.connect({ bestHeight: 8, bestHash: hashOf(theirs[7]!) })
  await deliver(a, blocksMsg(theirs.slice(0, 5)))
  t.equal(firstLocatorHash(a.sentOf('GET_BLOCKS')[1]!), hashOf(theirs[4]!))
  await deliver(a, blocksMsg(theirs.slice(5)))
  t.equal(chain.tip.hash, hashOf(theirs[7]!))
  t.equal(a.state, 'ready')
})

t.test('an empty batch ends the download instead of asking again', async (t) => {
  const { conns, deliver } = setup(t)
  const a = conns.connect({ bestHeight: 5, bestHash: 'cd'.repeat(32) })
  await deliver(a, { type: 'BLOCKS', blocks: [] })
  t.equal(a.sentOf('GET_BLOCKS').length, 1, 'one request, no loop')
  t.equal(a.bestHeight, 0, 'its claim is no longer believed')
  t.equal(a.state, 'ready', 'one empty answer is not yet a reason to drop it')
})

t.test('a peer that answers a continuation with the same blocks again is not followed', async (t) => {
  const { chain, conns, deliver } = setup(t)
  const ours = mineChain(net, genesisRef(net), 5)
  await chain.submitBlocks(ours)
  const a = conns.connect({ bestHeight: 1_000_000, bestHash: 'ef'.repeat(32) })
  await deliver(a, blocksMsg(ours))
  t.equal(a.sentOf('GET_BLOCKS').length, 2, 'a run of known blocks from a peer claiming more: follow on once')
  await deliver(a, blocksMsg(ours))
  t.equal(a.sentOf('GET_BLOCKS').length, 2, 'the same run again does not move on: no further request')
  t.equal(a.bestHeight, 5, 'and its claim is cut to what it showed')
})

t.test('a peer that keeps claiming a better chain without sending it is dropped', async (t) => {
  const { conns, deliver } = setup(t)
  const a = conns.connect({ bestHeight: 3, bestHash: '12'.repeat(32) })
  const orphans = mineChain(net, genesisRef(net), 4).slice(1)
  for (let round = 0; round < 3; round++) {
    t.equal(a.state, 'ready', `still connected before round ${round + 1}`)
    // A block of its "better chain" makes us ask again; it answers with nothing.
    if (round > 0) await deliver(a, { type: 'BLOCK', block: encodeBlock(orphans[round]!) })
    await deliver(a, { type: 'BLOCKS', blocks: [] })
  }
  t.equal(a.state, 'closed')
  t.equal(a.closedWith, 'claims a better chain but does not send it')
  t.equal(conns.misbehaved.length, 0, 'dropped, not discouraged: it may just be behind itself')
})

t.test('when the peer we download from goes away, another one ahead takes over', async (t) => {
  const { conns } = setup(t)
  const a = conns.connect({ bestHeight: 10, bestHash: '34'.repeat(32) })
  const b = conns.connect({ bestHeight: 9, bestHash: '56'.repeat(32) })
  t.same([a.sentOf('GET_BLOCKS').length, b.sentOf('GET_BLOCKS').length], [1, 0], 'one download at a time')
  a.close('gone')
  t.equal(b.sentOf('GET_BLOCKS').length, 1)
})

// ---------------------------------------------------------------- ADDR

const addrs = (n: number, base: number): Array<{ host: string; port: number; lastSeen: number }> =>
  Array.from({ length: n }, (_, i) => ({
    host: `10.${(base >> 8) & 255}.${base & 255}.${(i % 250) + 1}`,
    port: 1000 + i,
    lastSeen: Date.now(),
  }))

t.test('ADDR over the rate is ignored, not punished', async (t) => {
  const { conns, deliver } = setup(t)
  const a = conns.connect()
  await deliver(a, { type: 'ADDR', addrs: addrs(1000, 1) })
  await deliver(a, { type: 'ADDR', addrs: addrs(1000, 2) })
  t.equal(conns.addrman.size, 2000, 'a burst of 2000 is taken')
  await deliver(a, { type: 'ADDR', addrs: addrs(1000, 3) })
  t.ok(conns.addrman.size <= 2000 + 10, `beyond the burst only the refill is taken (${conns.addrman.size - 2000})`)
  t.equal(a.state, 'ready')
  t.equal(conns.misbehaved.length, 0)
})

t.test('a few new addresses are passed on to two other peers; known ones and large batches are not', async (t) => {
  const { conns, deliver } = setup(t)
  const [a, b, c, d] = [conns.connect(), conns.connect(), conns.connect(), conns.connect()]
  const forwarded = (): number[] => [a!, b!, c!, d!].map((p) => p.sentOf('ADDR').length - 1)
  await deliver(a!, { type: 'ADDR', addrs: addrs(3, 10) })
  t.equal(forwarded()[0], 0, 'not back to the sender')
  t.equal(
    forwarded().reduce((x, y) => x + y),
    2,
    'to two others',
  )
  await deliver(b!, { type: 'ADDR', addrs: addrs(3, 10) })
  t.equal(
    forwarded().reduce((x, y) => x + y),
    2,
    'addresses already known are not passed on again',
  )
  await deliver(b!, { type: 'ADDR', addrs: addrs(11, 11) })
  t.equal(
    forwarded().reduce((x, y) => x + y),
    2,
    'a large batch is not passed on',
  )
})

t.test('the peers an address is passed on to are chosen uniformly', async (t) => {
  // A fixed seed: the outcome is the same every run.
  let seed = 7
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0
    let x = seed
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const { conns } = setup(t, { random })
  const sender = conns.connect()
  const others = [conns.connect(), conns.connect(), conns.connect(), conns.connect()]
  const ROUNDS = 1500 // within the sender's ADDR burst allowance
  for (let i = 0; i < ROUNDS; i++) conns.emit('message', sender, { type: 'ADDR', addrs: addrs(1, 100 + i) })
  await settle()
  const counts = others.map((p) => p.sentOf('ADDR').length - 1)
  t.equal(
    counts.reduce((x, y) => x + y),
    2 * ROUNDS,
    'two peers each time',
  )
  // Each is picked half the time: 750 ± 19; 75 (10%) is four standard deviations.
  for (const [i, n] of counts.entries()) t.ok(Math.abs(n - ROUNDS / 2) < ROUNDS * 0.05, `peer ${i + 1} was picked ${n} times of ${ROUNDS}`)
})
