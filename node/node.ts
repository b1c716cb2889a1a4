// One bkc node: the composition root. Builds the chain state, pending pool,
// wallet, miner, P2P and JSON-RPC, wires them together, and stops them in
// the reverse order.
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Transaction } from '../protocol/chain/tx-codec.js'
import { MAX_P2P_PAYLOAD_BYTES } from '../protocol/chain/messages.js'
import { makeDirs, removeEmptyDirs, retireDir } from '../lib/files.js'
import type { Logger } from '../lib/log.js'
import type { NetworkParams } from './chain/params.js'
import { Chainstate } from './chain/chainstate.js'
import { logTipChange } from './chain/tip-log.js'
import { Keystore, type KdfParams } from './keystore.js'
import { Wallet } from './wallet.js'
import { DEFAULT_POOL_OPTIONS, Mempool, type PoolEntry } from './mempool/pool.js'
import { TxAdmission } from './mempool/admission.js'
import { PoolPersistence } from './mempool/persistence.js'
import { Miner } from './miner/miner.js'
import { Metronome } from './miner/metronome.js'
import type { RpcContext } from './rpc/context.js'
import { createDispatcher } from './rpc/dispatcher.js'
import { startRpcServer, type RpcServer } from './rpc/http-server.js'
import { buildMethods } from './rpc/methods.js'
import { ChainDb } from './storage/chain-db.js'
import { Connman } from './p2p/connman.js'
import { NetProcessing } from './p2p/net-processing.js'
import { loadAddrMan, PEERS_FILE_NAME } from './p2p/peer-store.js'
import { DEFAULT_TIMEOUTS, type PeerTimeouts } from './p2p/peer.js'
import type { PeerAddress } from './p2p/addrman.js'
import type { Prover } from './validator/prover.js'
import { toHex } from '../protocol/wire/bytes.js'

export interface NodeConfig {
  listen: string
  port: number
  rpcPort: number
  dataDir: string
  network: NetworkParams
  logger: Logger
  minerThreads?: number
  /** `slots` networks: the validator's fingerprint and search for the key it validates with. */
  validator?: (publicKey: Buffer) => Promise<{ fingerprint: Buffer; prover: Prover }>
  /** Rebuild the state from stored blocks before starting. */
  reindex?: boolean
  /** Cheaper scrypt for the keystore (tests). */
  keystoreKdf?: KdfParams
  maxPoolTxs?: number
  /** Peers dialled at startup (and remembered). */
  bootstrap?: PeerAddress[]
  maxOutbound?: number
  maxPeers?: number
  /** Shorter HELLO/PING/PONG timers (tests). */
  p2pTimeouts?: PeerTimeouts
  /** How long a misbehaving peer's host is refused (default 10 min). */
  discourageMs?: number
  /** Gives up a start still in progress (a signal): what was done is undone and start() rejects with the reason. */
  signal?: AbortSignal
}

const AGENT_VERSION = '0.1.0'
const RPC_MAX_BODY_BYTES = 1024 * 1024

/** The node's parts, each built once. */
interface Parts {
  db: ChainDb
  chain: Chainstate
  mempool: Mempool
  admission: TxAdmission
  wallet: Wallet
  mining: Miner
  connman: Connman
  net: NetProcessing
  /** How the parts are shut down, newest first: the same steps a failed start undoes. */
  teardown: ReadonlyArray<() => unknown>
}

export class BkcNode {
  readonly db: ChainDb
  readonly chain: Chainstate
  readonly mempool: Mempool
  readonly admission: TxAdmission
  readonly wallet: Wallet
  readonly mining: Miner
  readonly connman: Connman
  readonly net: NetProcessing
  private readonly teardown: ReadonlyArray<() => unknown>
  readonly logger: Logger
  private rpc: RpcServer | null = null
  private stopping = false

  private constructor(
    readonly config: NodeConfig,
    parts: Parts,
  ) {
    this.logger = config.logger
    this.db = parts.db
    this.chain = parts.chain
    this.mempool = parts.mempool
    this.admission = parts.admission
    this.wallet = parts.wallet
    this.mining = parts.mining
    this.connman = parts.connman
    this.net = parts.net
    this.teardown = parts.teardown
  }

  /** Opens the data directory, builds every part, and starts P2P and JSON-RPC. */
  static async start(config: NodeConfig): Promise<BkcNode> {
    const { logger } = config
    // What to undo, newest first, if a later step fails.
    const undo: Array<() => Promise<unknown> | unknown> = []
    // A start that fails leaves no data directory it created behind.
    const madeDirs = await makeDirs(config.dataDir)
    let ownsDataDir = false
    const stillWanted = (): void => config.signal?.throwIfAborted()
    try {
      const db = await ChainDb.open(join(config.dataDir, 'chain'))
      ownsDataDir = true
      undo.unshift(() => db.close())
      const mempool = new Mempool({
        ...DEFAULT_POOL_OPTIONS,
        maxTxs: config.maxPoolTxs ?? DEFAULT_POOL_OPTIONS.maxTxs,
        networkId: config.network.networkId,
        maxFutureMs: config.network.consensus.maxFutureBlockTimeMs,
      })
      // The chain's own startup catch-up runs inside open(), before the pool
      // is restored: restore() checks everything against the tip it reaches.
      let persistence: PoolPersistence | undefined
      const chain = await Chainstate.open(db, config.network, {
        logger: logger.child({ component: 'chain' }),
        onTipChange: async (change) => persistence?.afterTipChange(change),
        reindex: config.reindex ?? false,
      })
      undo.unshift(() => chain.exclusive(async () => undefined))
      const pool = new PoolPersistence({ db, chain, pool: mempool, logger })
      stillWanted()
      await pool.restore()
      persistence = pool
      chain.on('tip', (change) => logTipChange(logger, change))

      // Only the node's own sends are announced from here, and those start
      // with RPC, after P2P is up; peers' transactions are relayed by net.
      let relay: NetProcessing | undefined
      const admission = new TxAdmission({
        chain,
        pool: mempool,
        networkId: config.network.networkId,
        persist: (entry) => pool.save(entry),
        announce: (entry) => relay?.relayTransaction(entry),
        logger,
      })
      stillWanted()
      const { connman, net } = await startP2P(config, chain, (tx) => admission.submit(tx))
      relay = net
      undo.unshift(async () => {
        net.close()
        await connman.stop()
      })
      const wallet = new Wallet(
        new Keystore(join(config.dataDir, 'keystore'), config.keystoreKdf ? { kdf: config.keystoreKdf } : {}),
        logger,
      )
      undo.unshift(() => wallet.lock())
      const mining = new Miner(chain, mempool, logger.child({ component: 'miner' }), {
        threads: config.minerThreads ?? 1,
        jobMs: 1000,
        submit: (block) => chain.submitBlock(block),
        keyFor: (address) => (wallet.unlocked && wallet.unlocked.address === toHex(address) ? wallet.unlocked.privateKey : null),
        ...(config.validator && { validator: config.validator }),
      })
      undo.unshift(() => mining.close())
      const clock = chain.params.engine.clock
      if (clock) {
        const metronome = new Metronome({
          clock,
          tip: () => chain.tip,
          submit: (block) => chain.submitBlock(block),
          synced: () => connman.ready().every((p) => p.bestHeight <= chain.tip.height),
          logger: logger.child({ component: 'metronome' }),
        })
        metronome.start()
        undo.unshift(() => metronome.stop())
      }

      stillWanted()
      const node = new BkcNode(config, { db, chain, mempool, admission, wallet, mining, connman, net, teardown: undo })
      await node.startRpc()
      return node
    } catch (err) {
      // A directory this start created goes, but only one it also opened the
      // store in (it holds the lock): moved aside before the lock is
      // released, removed after.
      let retired: string | null = null
      if (ownsDataDir && madeDirs.length > 0) retired = await retireDir(config.dataDir).catch(() => null)
      for (const step of undo) await Promise.resolve(step()).catch(() => undefined)
      try {
        if (retired !== null) await rm(retired, { recursive: true, force: true })
        await removeEmptyDirs(retired !== null ? madeDirs.slice(1) : madeDirs)
      } catch (e) {
        logger.warn('could not remove the data directory this start created', { dir: config.dataDir, error: String(e) })
      }
      throw err
    }
  }

  private async startRpc(): Promise<void> {
    const { config } = this
    const dispatcher = createDispatcher(buildMethods(this.rpcContext()), {
      onError: (err, method) => this.logger.error('rpc handler failed', { method, error: (err as Error)?.stack ?? String(err) }),
    })
    this.rpc = await startRpcServer({
      host: config.listen,
      port: config.rpcPort,
      dispatcher,
      maxBodyBytes: RPC_MAX_BODY_BYTES,
      logger: this.logger.child({ component: 'rpc' }),
    })
    this.logger.info('node ready', {
      network: config.network.networkId,
      rpc: `http://${this.rpc.address.host}:${this.rpc.address.port}`,
      height: this.chain.tip.height,
      pending: this.mempool.size,
    })
  }

  /** The RPC methods' view of this node. */
  private rpcContext(): RpcContext {
    const { chain, mempool, mining, connman, net, wallet } = this
    const node = this
    return {
      networkId: this.config.network.networkId,
      chain: {
        get tip() {
          return chain.tip
        },
        engine: chain.params.engine,
        nextTarget: () => chain.expectedTarget(chain.tip),
        getAccount: (a) => chain.getAccount(a),
        getTxLocation: (id) => chain.getTxLocation(id),
        getBlockByHash: (h) => chain.getBlockByHash(h),
        getBlockByHeight: (h) => chain.getBlockByHeight(h),
        entry: (h) => chain.entry(h),
        isOnBestChain: (e) => chain.isOnBestChain(e),
        accountTxIds: (a, limit) => chain.db.accountTxIds(a, limit),
      },
      pool: mempool,
      miner: mining,
      peers: {
        all: () => connman.all(),
        readyCount: () => connman.ready().length,
        knownAddresses: () => connman.addrman.size,
        stats: () => net.stats,
        add: (a) => connman.addPeer(a, 'manual'),
        remove: (a) => connman.removePeer(a),
      },
      get shuttingDown() {
        return node.stopping
      },
      get unlockedAddress() {
        return wallet.unlocked?.address ?? null
      },
      createAccount: (name, password) => wallet.create(name, password),
      unlock: (name, password) => wallet.unlock(name, password),
      sendFromUnlocked: (to, amount) => this.sendFromUnlocked(to, amount),
    }
  }

  get rpcAddress(): { host: string; port: number } | null {
    return this.rpc?.address ?? null
  }

  /** Signs a transfer with the unlocked account's key as it is now, and submits and relays it. */
  async sendFromUnlocked(to: Buffer, amount: number): Promise<PoolEntry> {
    const key = this.wallet.copyKey()
    try {
      return await this.admission.sendSigned(key, to, amount)
    } finally {
      key.privateKey.fill(0)
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    // RPC first, waiting for handlers already running, so none can restart
    // the miner or touch the database after it closes.
    await this.rpc?.close()
    this.rpc = null
    // Then miner, wallet, P2P, in-flight chain work, and the database last.
    let failure: unknown = null
    for (const step of this.teardown) {
      try {
        await step()
      } catch (err) {
        failure ??= err
      }
    }
    if (failure !== null) throw failure
  }
}

/** Builds the connection manager and message handling, and starts listening. */
async function startP2P(
  config: NodeConfig,
  chain: Chainstate,
  submitTransaction: (tx: Transaction) => Promise<PoolEntry>,
): Promise<{ connman: Connman; net: NetProcessing }> {
  const logger = config.logger.child({ component: 'p2p' })
  const peersFile = join(config.dataDir, PEERS_FILE_NAME)
  const { addrman, warning } = await loadAddrMan(peersFile, { self: [{ host: config.listen, port: config.port }] })
  if (warning) logger.warn(warning)
  for (const b of config.bootstrap ?? []) addrman.add(b, 'bootstrap', Date.now())
  const connman = new Connman({
    listenHost: config.listen,
    listenPort: config.port,
    magic: config.network.magic,
    networkId: config.network.networkId,
    genesis: config.network.genesisHash,
    // Random per process: how peers recognise a connection to themselves or a second one to us.
    nodeId: randomBytes(32),
    maxOutbound: config.maxOutbound ?? 8,
    maxPeers: config.maxPeers ?? 117,
    maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES,
    timeouts: config.p2pTimeouts ?? DEFAULT_TIMEOUTS,
    discourageMs: config.discourageMs ?? 10 * 60_000,
    addrman,
    peersFile,
    tip: () => ({ height: chain.tip.height, hash: Buffer.from(chain.tip.hash, 'hex') }),
    agent: `bkc/${AGENT_VERSION}`,
    logger,
  })
  const net = new NetProcessing({
    chain,
    connman,
    submitTransaction,
    maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES,
    logger,
  })
  await connman.start()
  logger.info('P2P listening', { address: `${connman.listenAddress.host}:${connman.listenAddress.port}`, known: addrman.size })
  return { connman, net }
}
