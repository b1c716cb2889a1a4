// The `work` engine: proof of work over the header. A block is valid when
// sha256(header) <= its target, its weight is the expected number of hashes
// for that target, and every block carries the network's fixed target.
import { randomInt } from 'node:crypto'
import { encodeHeader, encodeHeaderPrefix, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { ValidationError } from '../chain/errors.js'
import type { ConsensusEngine, ParentBlock, ProofFields, SealJob, SealResult, Sealer } from './engine.js'
import { hashMeetsTarget, workForTarget } from './pow.js'
import { PowSearcher } from './work-search.js'

export interface WorkEngineOptions {
  /** The network's target (32 bytes, big-endian): the easiest a block may carry. */
  target: Buffer
}

export class WorkEngine implements ConsensusEngine {
  readonly name = 'work'
  private readonly target: Buffer

  constructor(opts: WorkEngineOptions) {
    this.target = opts.target
  }

  /**
   * The target bound is checked before the proof, so a peer cannot choose
   * a target that makes any header pass.
   */
  checkProof(header: BlockHeader): Buffer {
    if (header.proofType !== 'pow') throw new ValidationError('BAD_PROOF_TYPE', `proof type ${header.proofType} is not accepted`)
    if (Buffer.compare(header.target, this.target) > 0) {
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
    return BigInt(header.nonce)
  }

  nextTarget(_parent: ParentBlock): Buffer {
    return this.target
  }

  emptyProof(): ProofFields {
    return { proofType: 'pow', nonce: 0 }
  }

  createSealer(opts: { threads: number }): Sealer {
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
    const res = await this.searcher.search({
      prefix: encodeHeaderPrefix(job.header),
      target: job.header.target,
      // A random start: two searches of one header never repeat work.
      startNonce: randomInt(0, 2 ** 47),
      maxMs: job.maxMs,
    })
    if (!res.found) return { found: false, reason: res.reason, hashes: res.hashes }
    return { found: true, header: { ...job.header, nonce: res.nonce }, hashes: res.hashes }
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
