// What a DataSys Coin validator's search looks like from the sealer: given a
// slot's challenge and target, find a nonce whose record lies within the
// target of the challenge. `pow` hashes nonces live during the slot, `pom`
// looks the challenge up in a sorted table in memory, `pos` in a sorted vault
// on disk; all three produce the same records (protocol/chain/proof-record.ts).

export type ProverKind = 'pow' | 'pom' | 'pos'

/** A nonce whose record is within the target of the challenge. */
export interface ProofCandidate {
  nonce: number
  /** The record: 24 bytes. */
  record: Buffer
  /** |record − challenge| (protocol/chain/proof-record.ts recordDistance). */
  distance: bigint
}

export interface FindOptions {
  /** Give up at this time (ms since the epoch): the end of the slot. */
  deadline: number
  signal?: AbortSignal
}

export interface Prover {
  readonly kind: ProverKind
  /** Builds or opens what the search needs (table, vault, threads); idempotent. */
  ready(): Promise<void>
  /**
   * The best record within `target` of `challenge` (its first 24 bytes)
   * that this prover can find by `deadline`, or null. `pow` returns the
   * first one it hashes; `pom` and `pos` answer at once with the nearest.
   */
  find(challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null>
  /** Records hashed per second over the last few seconds (pow: live; pom/pos: while building). */
  readonly hashRate: number
  /** Records held in the table or vault (0 for pow). */
  readonly storedRecords: number
  /** Stops any search and releases threads and files. Idempotent. */
  close(): Promise<void>
}
