// The pure rules of the `slots` engine: the slot clock, the challenge chain,
// a proof's distance, weight and tie-break. See docs/PROTOCOL.md "Slots".
import { writeU64 } from '../../protocol/wire/bytes.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { RECORD_HASH_BYTES } from '../../protocol/chain/proof-record.js'

const SEED_TAG = Buffer.from('bkc-slot-seed', 'utf8')
const CHALLENGE_TAG = Buffer.from('bkc-slot-challenge', 'utf8')
const GENESIS_TAG = Buffer.from('bkc-slot-genesis', 'utf8')
const NO_RECORD = Buffer.alloc(RECORD_HASH_BYTES)
/** Distances and targets are 192-bit: the record's size. */
export const DISTANCE_SPACE = 1n << 192n

export interface SlotTiming {
  /** Slot 0 begins at the genesis timestamp. */
  genesisTime: number
  slotMs: number
}

export function slotOf(t: SlotTiming, timestamp: number): number {
  return Math.floor((timestamp - t.genesisTime) / t.slotMs)
}

export function slotStart(t: SlotTiming, slot: number): number {
  return t.genesisTime + slot * t.slotMs
}

/** The genesis block's challenge: fixed by the network's id. */
export function genesisChallenge(networkId: string): Buffer {
  return sha256(GENESIS_TAG, Buffer.from(networkId, 'utf8'))
}

/**
 * What a block hands its children: its challenge and its winning record
 * (none for an empty block). Neither depends on the block's transactions,
 * so a winner cannot grind the next challenge by choosing them.
 */
export function blockSeed(challenge: Buffer, record: Buffer | null): Buffer {
  return sha256(SEED_TAG, challenge, record ?? NO_RECORD)
}

/** The challenge of a child in `slot` of a block whose seed is `parentSeed`. */
export function slotChallenge(parentSeed: Buffer, slot: number): Buffer {
  const s = Buffer.alloc(8)
  writeU64(s, slot, 0)
  return sha256(CHALLENGE_TAG, parentSeed, s)
}

/**
 * A proof block's weight: the records one expects to hash for a win at its
 * target (at least 2).
 */
export function proofWeight(target: bigint): bigint {
  return DISTANCE_SPACE / (2n * target + 1n) + 2n
}

/**
 * An empty block weighs half a proof block at its target: less than any
 * proof for its slot, yet with the next (1.588× easier, so lighter) proof
 * block more than one proof block. So a validator that withholds a proof
 * for a slot cannot later replace the empty block and the next slot's
 * proof with it.
 */
export function emptyWeight(target: bigint): bigint {
  return proofWeight(target) / 2n
}

/** Competing proofs of equal weight: the nearer record wins. */
export function proofTieBreak(distance: bigint): bigint {
  return DISTANCE_SPACE - distance
}
