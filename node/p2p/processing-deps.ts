// What net-processing needs from the rest of the node, as narrow interfaces:
// the chain (tip, block index lookups, submission, the stored bytes of best
// chain blocks) and the connections (ready peers, misbehaviour, events).
// Chainstate, Connman and Peer satisfy them as they are; tests drive
// net-processing with small in-memory fakes, without sockets or storage.
import type { Block } from '../../protocol/chain/block-codec.js'
import type { Message } from '../../protocol/chain/messages.js'
import type { BlockStatus } from '../chain/block-index.js'
import type { SubmitResult, TipChange } from '../chain/chainstate.js'
import type { AddrSource, PeerAddress } from './addrman.js'
import type { Direction, Hello, PeerState } from './peer.js'

/** A block index entry, as far as net-processing reads it. */
export interface ChainEntry {
  hash: string
  /** '' for genesis. */
  prev: string
  height: number
  status: BlockStatus
}

/** A block of the best chain exactly as stored, so it can be served without decoding. */
export interface StoredBlock {
  hash: string
  bytes: Buffer
}

export interface ProcessingChain {
  readonly tip: ChainEntry
  readonly params: { readonly consensus: { readonly maxBlockBytes: number } }
  /** Any block the index knows (best chain, side branch or invalid). */
  entry(hash: string): ChainEntry | undefined
  isOnBestChain(entry: { hash: string; height: number }): boolean
  submitBlock(block: Block): Promise<SubmitResult>
  /** A downloaded run of blocks, validated in order and activated once. */
  submitBlocks(blocks: Block[]): Promise<SubmitResult[]>
  /** The best chain's block at `height` as stored, or undefined above the tip. */
  getStoredBlockByHeight(height: number): Promise<StoredBlock | undefined>
  on(event: 'tip', listener: (change: TipChange) => void): unknown
}

/** Hashes a peer has or was sent (Peer keeps them in bounded LRU sets). */
export interface HashSet {
  has(hash: string): boolean
  add(hash: string): unknown
}

export interface ProcessingPeer {
  readonly id: number
  readonly direction: Direction
  readonly address: PeerAddress
  readonly state: PeerState
  readonly hello: Hello | null
  /** From HELLO, then raised by what the peer sends and lowered when it fails to back a claim. */
  bestHeight: number
  readonly knownBlocks: HashSet
  readonly knownTxs: HashSet
  readonly receivedBlocks: HashSet
  /** False when the peer is closed. */
  send(msg: Message): boolean
  pause(): void
  resume(): void
  /** Drops the connection without blaming the peer. */
  close(reason: string): void
}

/** The address book as gossip uses it. */
export interface AddrBook {
  sample(n: number): Array<{ host: string; port: number; lastSeen: number }>
  /** True when the address was stored or refreshed. */
  add(addr: PeerAddress, source: AddrSource, lastSeen?: number): boolean
  get(addr: PeerAddress): unknown
}

export interface ProcessingConnections {
  readonly listenAddress: { host: string; port: number }
  readonly addrman: AddrBook
  /** Peers past the handshake. */
  ready(): ProcessingPeer[]
  /** Drops a peer that broke the rules and keeps its host away for a while. */
  misbehaving(peer: ProcessingPeer, reason: string): void
  on(event: 'ready', listener: (peer: ProcessingPeer) => void): unknown
  on(event: 'message', listener: (peer: ProcessingPeer, msg: Message) => void): unknown
  on(event: 'closed', listener: (peer: ProcessingPeer) => void): unknown
}
