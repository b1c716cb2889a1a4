// One bkc node: chain state, pending pool, keystore, miner, P2P and
// JSON-RPC, wired together.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { toHex } from '../protocol/wire/bytes.js'
import { decodeTx, isRewardForm, txId, txSigningMessage, type Transaction } from '../protocol/chain/tx-codec.js'
import type { Block } from '../protocol/chain/block-codec.js'
import { sign } from '../protocol/chain/keys.js'
import type { NetworkParams } from './chain/params.js'
import { Chainstate, type SubmitResult, type TipChange } from './chain/chainstate.js'
import { Keystore, type KdfParams } from './keystore.js'
import type { Logger } from '../lib/log.js'
import { Semaphore } from '../lib/semaphore.js'
import { DEFAULT_POOL_OPTIONS, Mempool, PoolError, type PoolEntry } from './mempool/pool.js'
import { Miner } from './miner/miner.js'
import { createDispatcher } from './rpc/dispatcher.js'
import { startRpcServer, type RpcServer } from './rpc/http-server.js'
import { buildMethods } from './rpc/methods.js'
import { ChainBatch, ChainDb } from './storage/chain-db.js'
import { Connman } from './p2p/connman.js'
import { NetProcessing } from './p2p/net-processing.js'
import { loadAddrMan, PEERS_FILE_NAME } from './p2p/peer-store.js'
import { DEFAULT_TIMEOUTS, type PeerTimeouts } from './p2p/peer.js'
import type { PeerAddress } from './p2p/addrman.js'
import { MAX_P2P_PAYLOAD_BYTES } from '../protocol/chain/messages.js'

export interface NodeConfig {
  listen: string
  port: number
  rpcPort: number
  dataDir: string
  network: NetworkParams
  logger: Logger
  minerThreads?: number
  /** Rebuild the state from stored blocks before starting. */
  reindex?: boolean
  /** Test hook: cheaper scrypt for the keystore. */
  keystoreKdf?: KdfParams
  maxPoolTxs?: number
  rpcMaxBodyBytes?: number
  /** Peers dialled at startup (and remembered). */
  bootstrap?: PeerAddress[]
  maxOutbound?: number
  maxPeers?: number
  /** Test hook: shorter HELLO/PING/PONG timers. */
  p2pTimeouts?: PeerTimeouts
  /** How long a misbehaving peer's host is refused (default 10 min). */
  discourageMs?: number
}

export interface UnlockedAccount {
  name: string
  address: string
  privateKey: Buffer
}

export class BkcNode {
  readonly mempool: Mempool
  readonly keystore: Keystore
  private miner!: Miner
  private rpc: RpcServer | null = null
  connman: Connman | null = null
  net: NetProcessing | null = null
  /** Random per process: how peers recognise a connection to themselves or a second one to us. */
  readonly nodeId = randomBytes(32)
  private unlockedAccount: UnlockedAccount | null = null
  private stopping = false
  /**
   * Key derivation (scrypt) shares libuv's threadpool with LevelDB, so a
   * flood of unlock calls must not take it over: two at a time, a short
   * queue, and "busy" past that.
   */
  private readonly kdf = new Semaphore(2, 16, 'account unlocks')
  readonly logger: Logger
  chain!: Chainstate

  private constructor(
    readonly config: NodeConfig,
    readonly db: ChainDb,
  ) {
    this.logger = config.logger
    this.mempool = new Mempool({
      ...DEFAULT_POOL_OPTIONS,
      maxTxs: config.maxPoolTxs ?? DEFAULT_POOL_OPTIONS.maxTxs,
      networkId: config.network.networkId,
      maxFutureMs: config.network.consensus.maxFutureBlockTimeMs,
    })
    this.keystore = new Keystore(join(config.dataDir, 'keystore'), config.keystoreKdf ? { kdf: config.keystoreKdf } : {})
  }

  static async start(config: NodeConfig): Promise<BkcNode> {
    const db = await ChainDb.open(join(config.dataDir, 'chain'))
    const node = new BkcNode(config, db)
    try {
      await node.init()
    } catch (err) {
      await node.stop().catch(() => undefined)
      throw err
    }
    return node
  }

  private async init(): Promise<void> {
    const { config } = this
    this.chain = await Chainstate.open(this.db, config.network, {
      logger: this.logger.child({ component: 'chain' }),
      onTipChange: (change) => this.updatePool(change),
      reindex: config.reindex ?? false,
    })
    await this.loadPool()
    this.chain.on('tip', (change) => this.logTipChange(change))
    this.miner = new Miner(this.chain, this.mempool, this.logger.child({ component: 'miner' }), {
      threads: config.minerThreads ?? 1,
      jobMs: 1000,
      submit: (block) => this.submitBlock(block),
    })
    await this.startP2P()
    const dispatcher = createDispatcher(buildMethods(this), {
      onError: (err, method) => this.logger.error('rpc handler failed', { method, error: (err as Error)?.stack ?? String(err) }),
    })
    this.rpc = await startRpcServer({
      host: config.listen,
      port: config.rpcPort,
      dispatcher,
      maxBodyBytes: config.rpcMaxBodyBytes ?? 1024 * 1024,
      logger: this.logger.child({ component: 'rpc' }),
    })
    this.logger.info('node ready', {
      network: config.network.networkId,
      rpc: `http://${this.rpc.address.host}:${this.rpc.address.port}`,
      height: this.chain.tip.height,
      pending: this.mempool.size,
    })
  }

  private async startP2P(): Promise<void> {
    const { config } = this
    const logger = this.logger.child({ component: 'p2p' })
    const peersFile = join(config.dataDir, PEERS_FILE_NAME)
    const { addrman, warning } = await loadAddrMan(peersFile, { self: [{ host: config.listen, port: config.port }] })
    if (warning) logger.warn(warning)
    for (const b of config.bootstrap ?? []) addrman.add(b, 'bootstrap', Date.now())
    this.connman = new Connman({
      listenHost: config.listen,
      listenPort: config.port,
      magic: config.network.magic,
      networkId: config.network.networkId,
      genesis: config.network.genesisHash,
      nodeId: this.nodeId,
      maxOutbound: config.maxOutbound ?? 8,
      maxPeers: config.maxPeers ?? 117,
      maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES,
      timeouts: config.p2pTimeouts ?? DEFAULT_TIMEOUTS,
      discourageMs: config.discourageMs ?? 10 * 60_000,
      addrman,
      peersFile,
      tip: () => ({ height: this.chain.tip.height, hash: Buffer.from(this.chain.tip.hash, 'hex') }),
      agent: `bkc/${AGENT_VERSION}`,
      logger,
    })
    this.net = new NetProcessing({
      chain: this.chain,
      connman: this.connman,
      submitTransaction: (tx) => this.submitTransaction(tx),
      maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES,
      logger,
    })
    await this.connman.start()
    logger.info('P2P listening', { address: `${this.connman.listenAddress.host}:${this.connman.listenAddress.port}`, known: addrman.size })
  }

  get rpcAddress(): { host: string; port: number } | null {
    return this.rpc?.address ?? null
  }

  get mining(): Miner {
    return this.miner
  }

  get unlocked(): UnlockedAccount | null {
    return this.unlockedAccount
  }

  /** True once stop() has begun: RPC handlers refuse new work. */
  get shuttingDown(): boolean {
    return this.stopping
  }

  createAccount(name: string, password: string): Promise<{ address: string }> {
    return this.kdf.run(() => this.keystore.create(name, password))
  }

  async unlock(name: string, password: string): Promise<UnlockedAccount> {
    const { address, privateKey } = await this.kdf.run(() => this.keystore.unlock(name, password))
    this.unlockedAccount?.privateKey.fill(0)
    this.unlockedAccount = { name, address, privateKey }
    this.logger.info('account unlocked', { name, address })
    return this.unlockedAccount
  }

  submitBlock(block: Block): Promise<SubmitResult> {
    return this.chain.submitBlock(block)
  }

  /** Validates a transaction against the tip and the pool, then keeps it (also on disk). */
  submitTransaction(tx: Transaction, now = Date.now()): Promise<PoolEntry> {
    return this.chain.exclusive(() => this.admitLocked(tx, now))
  }

  private async admitLocked(tx: Transaction, now: number): Promise<PoolEntry> {
    const id = toHex(txId(tx))
    if (await this.chain.getTxLocation(id)) throw new PoolError('DUPLICATE_TX', `transaction ${id} is already confirmed`)
    const sender = await this.chain.getAccount(toHex(tx.from))
    this.mempool.check(tx, id, sender, now)
    const entry = this.mempool.add(tx, id, now)
    await this.db.write(new ChainBatch().putPoolTx(id, entry.bytes, now))
    this.logger.debug('transaction accepted', { id, from: entry.from, to: entry.to, amount: tx.amount, nonce: tx.nonce })
    return entry
  }

  /**
   * Creates, signs and submits a transfer from the unlocked account. Built
   * under the chain lock so two quick sends get consecutive nonces.
   */
  sendFromUnlocked(to: Buffer, amount: number): Promise<PoolEntry> {
    if (!this.unlockedAccount) throw new NotUnlockedError()
    // A copy taken now: an unlock() while this waits for the lock zeroes the old key.
    const acct = { address: this.unlockedAccount.address, privateKey: Buffer.from(this.unlockedAccount.privateKey) }
    return this.chain.exclusive(async () => {
      try {
        return await this.signAndAdmit(acct, to, amount)
      } finally {
        acct.privateKey.fill(0)
      }
    })
  }

  /** Picks the next free nonce, signs with the copied key, and admits; runs inside the chain lock. */
  private async signAndAdmit(acct: { address: string; privateKey: Buffer }, to: Buffer, amount: number): Promise<PoolEntry> {
    const from = Buffer.from(acct.address, 'hex')
    const confirmed = await this.chain.getAccount(acct.address)
    const pending = this.mempool.fromSender(acct.address)
    let nonce = confirmed.nonce
    for (const e of pending) if (e.tx.nonce === nonce) nonce++
    const now = Date.now()
    const unsigned: Transaction = { from, to, amount, nonce, timestamp: now, signature: Buffer.alloc(64) }
    const tx = { ...unsigned, signature: sign(acct.privateKey, txSigningMessage(this.config.network.networkId, unsigned)) }
    const entry = await this.admitLocked(tx, now)
    this.net?.relayTransaction(entry)
    return entry
  }

  /** Pool upkeep after the tip moved; runs inside the chain lock. */
  private async updatePool(change: TipChange): Promise<void> {
    // The chain's own startup catch-up runs before the pool is loaded (and
    // before this.chain is set); loadPool revalidates everything then.
    if (this.chain === undefined) return
    for (const b of change.connected) for (const id of b.txIds) this.mempool.remove(id)
    const touched = new Set<string>()
    for (const b of [...change.connected, ...change.disconnected]) {
      for (const tx of b.block.txs) {
        touched.add(toHex(tx.from))
        touched.add(toHex(tx.to))
      }
    }
    const senders = this.mempool.senders().filter((s) => touched.has(s))
    const batch = new ChainBatch()
    const removed = this.mempool.revalidate(await this.chain.getAccounts(senders), senders)
    const pendingChecks: Array<{ tx: Transaction; id: string }> = []
    for (const e of removed) batch.delPoolTx(e.id)
    // Transactions of abandoned blocks: the reorg's own batch already wrote
    // them back to the pool on disk; keep those still valid, drop the rest.
    let returned = 0
    for (const b of [...change.disconnected].reverse()) {
      b.block.txs.forEach((tx, i) => {
        if (isRewardForm(tx)) return
        const id = b.txIds[i]!
        if (this.mempool.has(id)) return
        pendingChecks.push({ tx, id })
      })
    }
    for (const { tx, id } of pendingChecks) {
      try {
        if (await this.chain.getTxLocation(id)) continue // in the new branch too (its batch removed it)
        this.mempool.check(tx, id, await this.chain.getAccount(toHex(tx.from)), Date.now())
        this.mempool.add(tx, id, Date.now())
        returned++
      } catch (err) {
        if (!(err instanceof PoolError)) throw err
        batch.delPoolTx(id)
      }
    }
    await this.db.write(batch)
    if (removed.length > 0 || returned > 0) this.logger.info('pool updated', { dropped: removed.length, returned })
  }

  /** Reloads the persisted pool, dropping what the chain has made invalid meanwhile. */
  private async loadPool(): Promise<void> {
    const stored: Array<{ tx: Transaction; receivedAt: number }> = []
    for await (const { bytes, receivedAt } of this.db.poolTxs()) {
      try {
        stored.push({ tx: decodeTx(bytes), receivedAt })
      } catch {
        // unreadable entry: dropped below by id mismatch
      }
    }
    stored.sort((a, b) => a.tx.nonce - b.tx.nonce || a.receivedAt - b.receivedAt)
    const drop = new ChainBatch()
    let kept = 0
    await this.chain.exclusive(async () => {
      for (const { tx, receivedAt } of stored) {
        const id = toHex(txId(tx))
        try {
          if (await this.chain.getTxLocation(id)) throw new PoolError('DUPLICATE_TX', 'confirmed')
          this.mempool.check(tx, id, await this.chain.getAccount(toHex(tx.from)), Date.now())
          this.mempool.add(tx, id, receivedAt)
          kept++
        } catch (err) {
          if (!(err instanceof PoolError)) throw err
          drop.delPoolTx(id)
        }
      }
    })
    await this.db.write(drop)
    if (stored.length > 0) this.logger.info('pending pool restored', { kept, dropped: stored.length - kept })
  }

  private logTipChange(change: TipChange): void {
    if (change.disconnected.length > 0) {
      this.logger.warn('chain reorganised', {
        disconnected: change.disconnected.length,
        connected: change.connected.length,
        height: change.tip.height,
        tip: change.tip.hash,
      })
    }
    const last = change.connected[change.connected.length - 1]
    if (last && change.connected.length <= 3) {
      for (const b of change.connected) {
        this.logger.info('block connected', {
          height: b.height,
          hash: b.hash,
          txs: b.block.txs.length - 1,
          miner: toHex(b.block.header.miner),
        })
      }
    } else if (last) {
      this.logger.info('blocks connected', { count: change.connected.length, height: last.height, tip: last.hash })
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    // RPC first, waiting for handlers already running, so none can restart
    // the miner or touch the database after it closes.
    await this.rpc?.close()
    this.rpc = null
    await this.miner?.close()
    this.net?.close()
    await this.connman?.stop()
    this.unlockedAccount?.privateKey.fill(0)
    this.unlockedAccount = null
    // Let in-flight chain work finish before the database closes.
    if (this.chain) await this.chain.exclusive(async () => undefined)
    await this.db.close()
  }
}

const AGENT_VERSION = '0.1.0'

export class NotUnlockedError extends Error {
  override name = 'NotUnlockedError'
  constructor() {
    super('no account is unlocked on this node: call unlock(name, password) first')
  }
}
