// What the JSON-RPC methods may ask of the node: the whole surface between
// the RPC layer and the rest, built by the composition root (node.ts). The
// error types are part of it: methods turn them into stable error codes.
import type { Block } from '../../protocol/chain/block-codec.js'
import type { Account } from '../chain/state.js'
import type { IndexEntry } from '../chain/block-index.js'
import type { TxLocation } from '../storage/records.js'
import type { PoolEntry } from '../mempool/pool.js'
import type { NetStats } from '../p2p/net-processing.js'
import type { Peer } from '../p2p/peer.js'
import type { PeerAddress } from '../p2p/addrman.js'
import type { ConsensusEngine } from '../consensus/engine.js'
import type { Prover } from '../validator/prover.js'

export { KeystoreError } from '../keystore.js'
export { PoolError, type PoolErrorCode } from '../mempool/pool.js'
export { MinerClosedError } from '../miner/miner.js'
export { NotUnlockedError } from '../wallet.js'
export { AddrError, addrKey, parseHostPort, type PeerAddress } from '../p2p/addrman.js'

export interface BlockOnChain {
  block: Block
  hash: string
  height: number
}

/** Best-chain queries. */
export interface ChainView {
  readonly tip: IndexEntry
  /** The network's consensus engine: its name, how it reads a proof, its slot clock. */
  readonly engine: Pick<ConsensusEngine, 'name' | 'describeProof' | 'clock'>
  /** The target a child of the tip must carry. */
  nextTarget(): Buffer
  getAccount(address: string): Promise<Account>
  getTxLocation(id: string): Promise<TxLocation | undefined>
  getBlockByHash(hash: string): Promise<BlockOnChain | undefined>
  getBlockByHeight(height: number): Promise<BlockOnChain | undefined>
  entry(hash: string): IndexEntry | undefined
  isOnBestChain(entry: IndexEntry): boolean
  /** Confirmed transaction ids touching an address, newest first. */
  accountTxIds(address: string, limit: number): Promise<string[]>
}

/** The pending pool, read-only. */
export interface PoolView {
  readonly size: number
  get(id: string): PoolEntry | undefined
  fromSender(address: string): PoolEntry[]
  involving(address: string): PoolEntry[]
}

export interface MinerView {
  readonly mining: boolean
  readonly minerAddress: string | null
  readonly hashRate: number
  /** The validator's search under `slots` (null before its first start, and on `work` networks). */
  readonly prover: Pick<Prover, 'kind' | 'hashRate' | 'storedRecords'> | null
  start(rewardAddress: Buffer): void
  stop(): Promise<void>
}

/** What the RPC reports of a connected peer: read-only, no socket, no send. */
export type PeerInfo = Readonly<
  Pick<
    Peer,
    | 'id'
    | 'address'
    | 'direction'
    | 'state'
    | 'hello'
    | 'bestHeight'
    | 'connectedAt'
    | 'rttMs'
    | 'bytesIn'
    | 'bytesOut'
    | 'messagesIn'
    | 'messagesOut'
  >
>

export interface PeersView {
  /** Connected peers, handshaken or not. */
  all(): PeerInfo[]
  /** How many peers finished the handshake. */
  readyCount(): number
  knownAddresses(): number
  stats(): NetStats
  add(address: PeerAddress): void
  remove(address: PeerAddress): boolean
}

export interface RpcContext {
  readonly networkId: string
  readonly chain: ChainView
  readonly pool: PoolView
  readonly miner: MinerView
  readonly peers: PeersView
  /** True once the node has begun to stop: methods refuse new work. */
  readonly shuttingDown: boolean
  /** The unlocked account's address, or null. */
  readonly unlockedAddress: string | null
  createAccount(name: string, password: string): Promise<{ address: string }>
  /** Unlocks an account for sending; resolves with its address. */
  unlock(name: string, password: string): Promise<{ address: string }>
  /** Signs and submits a transfer from the unlocked account (NotUnlockedError when there is none). */
  sendFromUnlocked(to: Buffer, amount: number): Promise<PoolEntry>
}
