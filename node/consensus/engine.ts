// The consensus seam: what a consensus engine decides, and nothing else.
// Validation, the block index's fork choice, the chain's expected target and
// the miner ask the engine named by the network file; none of them knows how
// a proof is made or checked. Everything else about a block (structure,
// reward, transactions, time rules, balances) is the same for every engine.
import type { BlockHeader } from '../../protocol/chain/block-codec.js'

/** The block a new one builds on, as the block index knows it. */
export interface ParentBlock {
  hash: string // hex
  height: number
  timestamp: number
}

/** The header fields that carry the proof: what a sealer fills in. */
export type ProofFields = Pick<BlockHeader, 'proofType' | 'nonce'>

export interface SealJob {
  /** The complete header with an unsealed proof (`emptyProof()`). */
  header: BlockHeader
  /** Give up after this many milliseconds. */
  maxMs: number
}

export type SealResult =
  | { found: true; header: BlockHeader; hashes: number }
  | { found: false; reason: 'exhausted' | 'timeout' | 'aborted'; hashes: number }

/** Makes the proof for block headers; one per miner, with its own threads. */
export interface Sealer {
  /**
   * Searches a proof for the job's header and resolves with the sealed
   * header, or without one when the time is up or the search was aborted.
   * A new search supersedes a pending one, which resolves 'aborted'.
   */
  search(job: SealJob): Promise<SealResult>
  /** Stops the pending search; it resolves 'aborted' within milliseconds. */
  abort(): void
  /** Attempts per second over the last few seconds, all threads together. */
  readonly hashRate: number
  /** Stops any search and releases the threads. Idempotent. */
  close(): Promise<void>
}

export interface ConsensusEngine {
  /** The name a network file gives in `consensus.engine`. */
  readonly name: string
  /**
   * Checks the header's proof: its proof type, a target this network allows
   * and the proof itself, throwing a ValidationError (BAD_PROOF_TYPE,
   * BAD_TARGET, BAD_POW). Returns the block hash, computed on the way.
   */
  checkProof(header: BlockHeader): Buffer
  /** What the block adds to its chain's weight; the heavier chain wins. */
  weight(header: BlockHeader): bigint
  /** Equal weight and equal tip time: the tip with the larger value wins. */
  tieBreak(header: BlockHeader): bigint
  /** The target a child of `parent` must carry. */
  nextTarget(parent: ParentBlock): Buffer
  /** The proof fields of a header that is not sealed yet. */
  emptyProof(): ProofFields
  createSealer(opts: { threads: number }): Sealer
}
