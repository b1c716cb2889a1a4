// The `slots` engine: DataSys Coin's consensus. Time is cut into slots of
// `slotMs`; a block belongs to one slot (its timestamp is the slot's start)
// and is won by a validator whose proof record lies within the target of the
// slot's challenge, signed by the record's key. A slot nobody wins gets the
// empty block every node derives alike. Rules: docs/PROTOCOL.md "Slots".
import { encodeHeader, headerSize, type Block, type BlockHeader, type ProofType } from '../../protocol/chain/block-codec.js'
import { CodecError } from '../../protocol/wire/codec-error.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { sign, verify } from '../../protocol/chain/keys.js'
import { ZERO_ADDRESS } from '../../protocol/chain/tx-codec.js'
import { proofRecord, recordDistance } from '../../protocol/chain/proof-record.js'
import {
  CHALLENGE_BYTES,
  decodeSlotProof,
  EMPTY_PROOF_BYTES,
  encodeSlotProof,
  SLOT_PROOF_BYTES,
  slotSigningMessage,
} from '../../protocol/chain/slot-proof.js'
import { ValidationError } from '../chain/errors.js'
import { bigIntToTarget, targetToBigInt } from './asert.js'
import type { ConsensusEngine, HeaderTemplate, ParentBlock, SealJob, SealResult, Sealer, SealerOptions, SlotClock } from './engine.js'
import { nextSlotTarget } from './slot-retarget.js'
import {
  blockSeed,
  DISTANCE_SPACE,
  emptyWeight,
  proofTieBreak,
  proofWeight,
  slotChallenge,
  slotOf,
  slotStart,
  type SlotTiming,
} from './slot-rules.js'
import type { Prover } from '../validator/prover.js'

export interface SlotsEngineOptions {
  /** Slot 0 begins at the genesis timestamp. */
  genesisTime: number
  slotMs: number
  /** How long after a slot ends its proof blocks still compete, and when its empty block is made. */
  graceMs: number
  /** The clock difference between nodes that the timing rules allow. */
  maxDriftMs: number
  /** Block 1's target (32 bytes, below 2^192). */
  target: Buffer
  /** The easiest target a block may carry. */
  targetLimit: Buffer
}

const SEALED_TYPES: ReadonlySet<ProofType> = new Set(['pow', 'pom', 'pos'])

/** A slot proof's record and its distance to the challenge, or the reason it has none. */
function recordOf(header: BlockHeader): { record: Buffer; distance: bigint; challenge: Buffer } {
  let p: ReturnType<typeof decodeSlotProof>
  try {
    p = decodeSlotProof(header.proof)
  } catch (err) {
    if (err instanceof CodecError) throw new ValidationError('BAD_PROOF', `slot proof: ${err.message}`)
    throw err
  }
  const record = proofRecord(p.fingerprint, header.miner, p.nonce)
  return { record, distance: recordDistance(record, p.challenge), challenge: p.challenge }
}

export class SlotsEngine implements ConsensusEngine, SlotClock {
  readonly name = 'slots'
  readonly maxHeaderBytes = headerSize(SLOT_PROOF_BYTES)
  readonly clock: SlotClock = this
  readonly slotMs: number
  readonly graceMs: number
  private readonly timing: SlotTiming
  private readonly initial: bigint
  private readonly limit: bigint

  constructor(private readonly opts: SlotsEngineOptions) {
    this.slotMs = opts.slotMs
    this.graceMs = opts.graceMs
    this.timing = { genesisTime: opts.genesisTime, slotMs: opts.slotMs }
    this.initial = targetToBigInt(opts.target)
    this.limit = targetToBigInt(opts.targetLimit)
    if (this.limit >= DISTANCE_SPACE) throw new RangeError('the slots target limit must be below 2^192')
    if (this.initial < 1n || this.initial > this.limit) throw new RangeError('the slots target must be in [1, limit]')
    for (const k of ['slotMs', 'graceMs', 'maxDriftMs', 'genesisTime'] as const) {
      if (!Number.isSafeInteger(opts[k]) || opts[k] < 0) throw new RangeError(`${k} must be a non-negative integer`)
    }
    if (opts.slotMs < 100 || opts.graceMs >= opts.slotMs) throw new RangeError('slotMs must be at least 100 and graceMs below it')
  }

  slotOf(timestamp: number): number {
    return slotOf(this.timing, timestamp)
  }

  slotStart(slot: number): number {
    return slotStart(this.timing, slot)
  }

  /**
   * Cheap checks before the signature: proof type, proof length, a target
   * in bounds, the record's distance; an empty block has no miner.
   */
  checkProof(header: BlockHeader): Buffer {
    if (header.proofType !== 'empty' && !SEALED_TYPES.has(header.proofType)) {
      throw new ValidationError('BAD_PROOF_TYPE', `proof type ${header.proofType} is not accepted`)
    }
    const expected = header.proofType === 'empty' ? EMPTY_PROOF_BYTES : SLOT_PROOF_BYTES
    if (header.proof.length !== expected) {
      throw new ValidationError('BAD_PROOF', `a ${header.proofType} proof of this network is ${expected} bytes, not ${header.proof.length}`)
    }
    const target = targetToBigInt(header.target)
    if (target < 1n || target > this.limit) throw new ValidationError('BAD_TARGET', 'block target is outside what the network allows')
    if (header.proofType === 'empty') {
      if (!header.miner.equals(ZERO_ADDRESS)) throw new ValidationError('BAD_EMPTY_BLOCK', 'an empty block has no miner')
      return sha256(encodeHeader(header))
    }
    const { distance } = recordOf(header)
    if (distance >= target) throw new ValidationError('BAD_PROOF', 'the record is not within the target of the challenge')
    const { signature } = decodeSlotProof(header.proof)
    if (!verify(header.miner, slotSigningMessage(header), signature)) {
      throw new ValidationError('BAD_BLOCK_SIGNATURE', "the block is not signed by its proof's key")
    }
    return sha256(encodeHeader(header))
  }

  checkContext(header: BlockHeader, parent: ParentBlock, now: number | null): void {
    const slot = this.slotOf(header.timestamp)
    if (header.timestamp !== this.slotStart(slot)) throw new ValidationError('BAD_SLOT', 'the timestamp is not the start of a slot')
    const parentSlot = this.slotOf(parent.timestamp)
    if (slot <= parentSlot) throw new ValidationError('TIME_TOO_OLD', `slot ${slot} does not follow the parent's slot ${parentSlot}`)
    // Every slot gets a block, so the target rule sees each empty one: a
    // proof block follows the slot before it; only an empty block may leave a
    // gap (a network that was down).
    if (header.proofType !== 'empty' && slot !== parentSlot + 1) {
      throw new ValidationError('BAD_SLOT', `a proof block for slot ${slot} must follow a block of slot ${slot - 1}, not ${parentSlot}`)
    }
    if (!header.proof.subarray(0, CHALLENGE_BYTES).equals(slotChallenge(parent.seed, slot))) {
      throw new ValidationError('BAD_CHALLENGE', `the proof is not for slot ${slot}'s challenge`)
    }
    if (now === null) return
    // An empty block is due only once its slot is over and proofs had their grace.
    const opens = header.proofType === 'empty' ? this.slotStart(slot + 1) + this.graceMs : this.slotStart(slot)
    if (opens > now + this.opts.maxDriftMs) {
      throw new ValidationError('TOO_EARLY', `slot ${slot} ${header.proofType === 'empty' ? 'is not over' : 'has not begun'}`, false)
    }
  }

  isLate(header: BlockHeader, now: number): boolean {
    return now > this.slotStart(this.slotOf(header.timestamp) + 1) + this.graceMs
  }

  weight(header: BlockHeader): bigint {
    const target = targetToBigInt(header.target)
    return header.proofType === 'empty' ? emptyWeight(target) : proofWeight(target)
  }

  tieBreak(header: BlockHeader): bigint {
    return header.proofType === 'empty' ? 0n : proofTieBreak(recordOf(header).distance)
  }

  seed(header: BlockHeader): Buffer {
    if (header.proofType === 'empty') return blockSeed(header.proof, null)
    const { challenge, record } = recordOf(header)
    return blockSeed(challenge, record)
  }

  nextTarget(parent: ParentBlock): Buffer {
    if (parent.height === 0) return bigIntToTarget(this.initial)
    return bigIntToTarget(nextSlotTarget(targetToBigInt(parent.target), parent.proofType === 'empty', this.limit))
  }

  template(parent: ParentBlock, now: number): HeaderTemplate | null {
    const slot = this.slotOf(now)
    if (slot !== this.slotOf(parent.timestamp) + 1) return null
    const proof = Buffer.alloc(SLOT_PROOF_BYTES)
    slotChallenge(parent.seed, slot).copy(proof, 0)
    return { timestamp: this.slotStart(slot), target: this.nextTarget(parent), proofType: 'pow', proof }
  }

  emptyBlock(parent: ParentBlock, slot: number): Block {
    return {
      header: {
        height: parent.height + 1,
        prevHash: Buffer.from(parent.hash, 'hex'),
        timestamp: this.slotStart(slot),
        txRoot: merkleRoot([]),
        miner: ZERO_ADDRESS,
        target: this.nextTarget(parent),
        proofType: 'empty',
        proof: slotChallenge(parent.seed, slot),
      },
      txs: [],
    }
  }

  describeProof(header: BlockHeader): Record<string, string | number> {
    if (header.proofType === 'empty') return { slot: this.slotOf(header.timestamp), challenge: toHex(header.proof) }
    const p = decodeSlotProof(header.proof)
    const { record, distance } = recordOf(header)
    return {
      slot: this.slotOf(header.timestamp),
      challenge: toHex(p.challenge),
      fingerprint: toHex(p.fingerprint),
      nonce: p.nonce,
      record: toHex(record),
      distance: distance.toString(16).padStart(48, '0'),
      signature: toHex(p.signature),
    }
  }

  createSealer(opts: SealerOptions): Sealer {
    if (!opts.key || !opts.validator) throw new Error('a slots validator needs its key, fingerprint and prover')
    return new SlotsSealer(this, opts.key.privateKey, opts.validator.fingerprint, opts.validator.prover)
  }
}

/** Seals a slot's header with the validator's prover and key. */
class SlotsSealer implements Sealer {
  private pending: AbortController | null = null

  constructor(
    private readonly engine: SlotsEngine,
    private readonly privateKey: Buffer,
    private readonly fingerprint: Buffer,
    private readonly prover: Prover,
  ) {}

  /**
   * Searches until the slot ends: `pow` hashes, `pom`/`pos` answer at once;
   * without a proof the search waits out the slot, so a lookup is made once
   * per slot and parent.
   */
  async search(job: SealJob): Promise<SealResult> {
    this.pending?.abort()
    const ac = new AbortController()
    this.pending = ac
    const { header } = job
    const challenge = header.proof.subarray(0, CHALLENGE_BYTES)
    const deadline = this.engine.slotStart(this.engine.slotOf(header.timestamp) + 1)
    try {
      const found = await this.prover.find(Buffer.from(challenge), targetToBigInt(header.target), { deadline, signal: ac.signal })
      if (found === null) {
        await waitUntil(deadline, ac.signal)
        return { found: false, reason: ac.signal.aborted ? 'aborted' : 'exhausted', hashes: 0 }
      }
      const unsigned = { fingerprint: this.fingerprint, nonce: found.nonce, challenge: Buffer.from(challenge) }
      const draft: BlockHeader = {
        ...header,
        proofType: this.prover.kind,
        proof: encodeSlotProof({ ...unsigned, signature: Buffer.alloc(64) }),
      }
      const signature = sign(this.privateKey, slotSigningMessage(draft))
      return { found: true, header: { ...draft, proof: encodeSlotProof({ ...unsigned, signature }) }, hashes: 0 }
    } finally {
      if (this.pending === ac) this.pending = null
    }
  }

  abort(): void {
    this.pending?.abort()
  }

  get hashRate(): number {
    return this.prover.hashRate
  }

  close(): Promise<void> {
    this.abort()
    this.privateKey.fill(0)
    return this.prover.close()
  }
}

function waitUntil(time: number, signal: AbortSignal): Promise<void> {
  const ms = time - Date.now()
  if (ms <= 0 || signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
