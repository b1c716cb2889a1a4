// The `work` engine: proof of work over the header. A block is valid when
// sha256(header) <= its target, its weight is the expected number of hashes
// for that target, and every block carries the target the network's rule
// gives: its fixed target, or ASERT's (asert.ts) when the network retargets.
import { randomInt } from 'node:crypto'
import { encodeHeader, headerSize, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { readU64, toHex, writeU64 } from '../../protocol/wire/bytes.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { ValidationError } from '../chain/errors.js'
import type { ConsensusEngine, HeaderTemplate, ParentBlock, SealJob, SealResult, Sealer, SealerOptions } from './engine.js'
import { asertTarget, bigIntToTarget, checkAsertParams, targetToBigInt, type AsertParams } from './asert.js'
import { hashMeetsTarget, workForTarget } from './pow.js'
import { PowSearcher } from './work-search.js'

export interface WorkRetarget {
  targetBlockTimeMs: number
  halfLifeMs: number
  /** The easiest target a block may carry (32 bytes, big-endian). */
  powLimit: Buffer
  /** When block 1 is due (ms since the epoch): the schedule's anchor. */
  anchorTimeMs: number
}

export interface WorkEngineOptions {
  /**
   * The network's target (32 bytes, big-endian): every block's without
   * `retarget`, else block 1's and that of any block whose parent is on
   * schedule.
   */
  target: Buffer
  retarget?: WorkRetarget
}

/** A `work` proof is the header's nonce: a u64, the header's last 8 bytes. */
export const WORK_PROOF_BYTES = 8
const NO_SEED = Buffer.alloc(0)

/** The nonce of a `work` header. */
export function workNonce(header: BlockHeader): number {
  const nonce = header.proof.length === WORK_PROOF_BYTES ? readU64(header.proof, 0) : null
  if (nonce === null) throw new ValidationError('BAD_PROOF', 'a work proof is a nonce of 8 bytes below 2^53')
  return nonce
}

/** A `work` proof of `nonce`. */
export function workProof(nonce: number): Buffer {
  const proof = Buffer.alloc(WORK_PROOF_BYTES)
  writeU64(proof, nonce, 0)
  return proof
}

export class WorkEngine implements ConsensusEngine {
  readonly name = 'work'
  readonly maxHeaderBytes = headerSize(WORK_PROOF_BYTES)
  private readonly target: Buffer
  /** The easiest target a block may carry. */
  private readonly limit: Buffer
  private readonly asert: AsertParams | undefined
  private readonly anchorTimeMs: number

  constructor(opts: WorkEngineOptions) {
    this.target = opts.target
    this.limit = opts.retarget?.powLimit ?? opts.target
    this.anchorTimeMs = opts.retarget?.anchorTimeMs ?? 0
    this.asert =
      opts.retarget === undefined
        ? undefined
        : {
            anchorTarget: targetToBigInt(opts.target),
            powLimit: targetToBigInt(opts.retarget.powLimit),
            targetBlockTimeMs: opts.retarget.targetBlockTimeMs,
            halfLifeMs: opts.retarget.halfLifeMs,
          }
    if (this.asert) checkAsertParams(this.asert)
    if (!Number.isSafeInteger(this.anchorTimeMs) || this.anchorTimeMs < 0)
      throw new RangeError('anchorTimeMs must be a non-negative safe integer')
  }

  /**
   * The bound on the target is what stops a peer from choosing a target that
   * any header meets; checking it before the hash spends no hash on such a
   * header.
   */
  checkProof(header: BlockHeader): Buffer {
    if (header.proofType !== 'pow') throw new ValidationError('BAD_PROOF_TYPE', `proof type ${header.proofType} is not accepted`)
    workNonce(header)
    if (Buffer.compare(header.target, this.limit) > 0) {
      throw new ValidationError('BAD_TARGET', 'block target is easier than the network allows')
    }
    const hash = sha256(encodeHeader(header))
    if (!hashMeetsTarget(hash, header.target)) throw new ValidationError('BAD_POW', `block ${toHex(hash)} does not meet its target`)
    return hash
  }

  weight(header: BlockHeader): bigint {
    return workForTarget(header.target)
  }

  /** The report's rule for competing blocks of equal work and time: the larger nonce. */
  tieBreak(header: BlockHeader): bigint {
    return BigInt(workNonce(header))
  }

  /** The target rule needs only the parent's height and time. */
  seed(): Buffer {
    return NO_SEED
  }

  /** The target is the caller's check; the time rules are every engine's. */
  checkContext(): void {}

  isLate(): boolean {
    return false
  }

  /**
   * ASERT's anchor is a block 1 at the network file's `anchorTimeMs`, a
   * constant: no block's timestamp sets the schedule, so a miner cannot move
   * it by backdating block 1, and the rule needs nothing from the chain but
   * the parent. Block 1 itself carries the network's target.
   */
  nextTarget(parent: ParentBlock): Buffer {
    if (this.asert === undefined || parent.height === 0) return this.target
    return bigIntToTarget(asertTarget(this.asert, parent.height - 1, parent.timestamp - this.anchorTimeMs))
  }

  template(parent: ParentBlock, now: number, earliest: number): HeaderTemplate {
    return { timestamp: Math.max(now, earliest), target: this.nextTarget(parent), proofType: 'pow', proof: workProof(0) }
  }

  describeProof(header: BlockHeader): Record<string, number> {
    return { nonce: workNonce(header) }
  }

  createSealer(opts: SealerOptions): Sealer {
    return new WorkSealer(opts.threads)
  }
}

/** A nonce search over the header prefix on worker threads. */
class WorkSealer implements Sealer {
  private readonly searcher: PowSearcher

  constructor(threads: number) {
    this.searcher = new PowSearcher({ threads })
  }

  async search(job: SealJob): Promise<SealResult> {
    const bytes = encodeHeader(job.header)
    const res = await this.searcher.search({
      prefix: bytes.subarray(0, bytes.length - WORK_PROOF_BYTES),
      target: job.header.target,
      // A random start: two searches of one header never repeat work.
      startNonce: randomInt(0, 2 ** 47),
      maxMs: job.maxMs,
    })
    if (!res.found) return { found: false, reason: res.reason, hashes: res.hashes }
    return { found: true, header: { ...job.header, proof: workProof(res.nonce) }, hashes: res.hashes }
  }

  abort(): void {
    this.searcher.abort()
  }

  get hashRate(): number {
    return this.searcher.hashRate
  }

  close(): Promise<void> {
    return this.searcher.close()
  }
}
