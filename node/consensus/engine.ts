// The consensus seam: what a consensus engine decides, and nothing else.
// Validation, the block index's fork choice, the chain's expected target and
// the miner ask the engine named by the network file; none of them knows how
// a proof is made or checked. Everything else about a block (structure,
// reward, transactions, time rules, balances) is the same for every engine.
import type { Block, BlockHeader, ProofType } from '../../protocol/chain/block-codec.js'
import type { Prover } from '../validator/prover.js'

/** The block a new one builds on, as the block index knows it. */
export interface ParentBlock {
  hash: string // hex
  height: number
  timestamp: number
  target: Buffer
  proofType: ProofType
  /** What the engine derived from the block for its children (`seed()`). */
  seed: Buffer
}

/** The fields of a child header that the engine decides before it is sealed. */
export interface HeaderTemplate {
  timestamp: number
  target: Buffer
  proofType: ProofType
  /** The unsealed proof: the sealer fills it in. */
  proof: Buffer
}

export interface SealJob {
  /** The complete header with an unsealed proof (`template()`). */
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

/** Who seals: the reward key, and for `slots` the validator's identity and search. */
export interface SealerOptions {
  threads: number
  /** The miner's key pair; `slots` signs each block with it. */
  key?: { publicKey: Buffer; privateKey: Buffer }
  /** `slots`: the validator's fingerprint (16 bytes) and its prover for that key. */
  validator?: { fingerprint: Buffer; prover: Prover }
}

/** The slot clock of an engine that has one (`slots`). */
export interface SlotClock {
  readonly slotMs: number
  /** How long after its slot ends a slot's proof blocks are awaited before the empty block. */
  readonly graceMs: number
  slotOf(timestamp: number): number
  slotStart(slot: number): number
  /** The block every node makes for `slot` when no proof block came: identical everywhere. */
  emptyBlock(parent: ParentBlock, slot: number): Block
}

export interface ConsensusEngine {
  /** The name a network file gives in `consensus.engine`. */
  readonly name: string
  /** The largest header this engine's blocks have: the block-size budget's share. */
  readonly maxHeaderBytes: number
  /**
   * Checks the header's proof: its proof type, a target this network allows
   * and the proof itself, throwing a ValidationError (BAD_PROOF_TYPE,
   * BAD_TARGET, BAD_POW, BAD_PROOF…). Returns the block hash.
   */
  checkProof(header: BlockHeader): Buffer
  /**
   * The engine's rules against the parent (the target is checked by the
   * caller against `nextTarget`). `now` is null for a stored block, whose
   * time was judged when it arrived.
   */
  checkContext(header: BlockHeader, parent: ParentBlock, now: number | null): void
  /**
   * True when a block arrives too late to compete on a tie: it is then
   * taken only if it makes a heavier chain.
   */
  isLate(header: BlockHeader, now: number): boolean
  /** What the block adds to its chain's weight; the heavier chain wins. */
  weight(header: BlockHeader): bigint
  /** Equal weight and equal tip time: the tip with the larger value wins. */
  tieBreak(header: BlockHeader): bigint
  /** What children of this block need from it (`ParentBlock.seed`). */
  seed(header: BlockHeader): Buffer
  /** The target a child of `parent` must carry. */
  nextTarget(parent: ParentBlock): Buffer
  /**
   * The child of `parent` to seal at `now` (`earliest`: the least timestamp
   * the time rules allow), or null when there is none to make yet.
   */
  template(parent: ParentBlock, now: number, earliest: number): HeaderTemplate | null
  /** The proof's fields for people (getBlock). */
  describeProof(header: BlockHeader): Record<string, string | number>
  /** Present when blocks follow a slot clock. */
  readonly clock?: SlotClock
  createSealer(opts: SealerOptions): Sealer
}
