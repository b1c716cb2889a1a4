// Block and transaction rules that need no chain state: structure, the
// proof (asked of the network's consensus engine), reward form, transaction
// root, signatures. Pure functions.
import { encodedBlockSize, type Block, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { isRewardForm, txSigningMessage, txId, ZERO_SIGNATURE, type Transaction } from '../../protocol/chain/tx-codec.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { isValidAddress, verify } from '../../protocol/chain/keys.js'
import { ValidationError } from './errors.js'
import type { ConsensusParams, NetworkParams } from './params.js'

/** A block with its derived values computed once. */
export interface CheckedBlock {
  block: Block
  hash: Buffer
  txIds: Buffer[]
  size: number
}

/** Rules for one transfer that hold regardless of chain state. */
export function checkTransferSanity(tx: Transaction, networkId: string): void {
  if (isRewardForm(tx)) throw new ValidationError('EXTRA_REWARD', 'only the first transaction of a block may be a reward')
  if (!Number.isSafeInteger(tx.amount) || tx.amount < 1) throw new ValidationError('BAD_AMOUNT', 'amount must be a positive integer')
  if (!isValidAddress(tx.to)) throw new ValidationError('BAD_ADDRESS', `recipient ${toHex(tx.to)} is not a valid public key`)
  if (!verify(tx.from, txSigningMessage(networkId, tx), tx.signature)) {
    throw new ValidationError('BAD_SIGNATURE', `bad signature on transaction ${toHex(txId(tx))}`)
  }
}

/** The first transaction: exactly the reward to the header's miner. */
export function checkReward(tx: Transaction | undefined, header: BlockHeader, consensus: ConsensusParams): void {
  if (tx === undefined || !isRewardForm(tx)) throw new ValidationError('NO_REWARD', 'the first transaction must be the block reward')
  if (!tx.signature.equals(ZERO_SIGNATURE)) throw new ValidationError('BAD_REWARD', 'a reward carries no signature')
  if (!tx.to.equals(header.miner)) throw new ValidationError('BAD_REWARD', 'the reward must go to the block miner')
  if (tx.amount !== consensus.blockReward) {
    throw new ValidationError('BAD_REWARD', `reward is ${tx.amount}, must be exactly ${consensus.blockReward}`)
  }
  if (tx.nonce !== header.height) throw new ValidationError('BAD_REWARD', 'reward nonce must equal the block height')
  if (tx.timestamp !== header.timestamp) throw new ValidationError('BAD_REWARD', 'reward timestamp must equal the block timestamp')
}

/**
 * Everything checkable from the block alone. Signatures are checked here
 * too (the expensive part), so a block that passes is only missing its
 * contextual checks: parent, time, target and balances.
 *
 * The block hash covers the header only, so a failure of the body before
 * the transaction root is known to match (size, root) may be a valid header
 * with a mutated body: those are not permanent, or one bad copy would get
 * the real block refused for good. Rules checked after the root matches are
 * committed to by the header.
 */
export function checkBlockSanity(block: Block, params: NetworkParams): CheckedBlock {
  const hash = checkHeaderSanity(block.header, params)
  return checkBodySanity(block, hash, params)
}

/**
 * The cheap checks, enough to hold a block whose parent is unknown: the
 * engine's proof (proof type, a target the network allows, the proof
 * itself), then the miner key. Returns the block hash.
 */
export function checkHeaderSanity(header: BlockHeader, params: NetworkParams): Buffer {
  const hash = params.engine.checkProof(header)
  // An empty block (the `slots` engine's, checked by it) has no miner.
  if (header.proofType !== 'empty' && !isValidAddress(header.miner))
    throw new ValidationError('BAD_MINER', 'miner is not a valid public key')
  return hash
}

/** The body: size, transaction root, reward, duplicates and every transfer's signature (the expensive part). */
export function checkBodySanity(block: Block, hash: Buffer, params: NetworkParams): CheckedBlock {
  const { header, txs } = block
  const size = encodedBlockSize(txs.length, header.proof.length)
  if (size > params.consensus.maxBlockBytes) {
    throw new ValidationError('TOO_LARGE', `block of ${size} bytes exceeds ${params.consensus.maxBlockBytes}`, false)
  }
  const txIds = txs.map(txId)
  if (!merkleRoot(txIds).equals(header.txRoot)) throw new ValidationError('BAD_TX_ROOT', 'transaction root does not match', false)
  if (header.proofType === 'empty') {
    if (txs.length > 0) throw new ValidationError('BAD_EMPTY_BLOCK', 'an empty block has no transactions, not even a reward')
  } else checkReward(txs[0], header, params.consensus)
  const seen = new Set<string>()
  for (let i = 0; i < txs.length; i++) {
    const id = toHex(txIds[i]!)
    if (seen.has(id)) throw new ValidationError('DUPLICATE_TX', `transaction ${id} appears twice`)
    seen.add(id)
    if (i > 0) checkTransferSanity(txs[i]!, params.networkId)
  }
  return { block, hash, txIds, size }
}

/** What a block's context must satisfy: its parent and the time rules. */
export interface BlockContext {
  parentHeight: number
  medianTimePast: number
  expectedTarget: Buffer
  now: number
}

export function checkBlockContext(header: BlockHeader, ctx: BlockContext, consensus: ConsensusParams): void {
  if (header.height !== ctx.parentHeight + 1) {
    throw new ValidationError('BAD_HEIGHT', `height ${header.height} does not follow parent height ${ctx.parentHeight}`)
  }
  if (header.timestamp <= ctx.medianTimePast) {
    throw new ValidationError(
      'TIME_TOO_OLD',
      `timestamp ${header.timestamp} is not after the median of recent blocks (${ctx.medianTimePast})`,
    )
  }
  if (header.timestamp > ctx.now + consensus.maxFutureBlockTimeMs) {
    throw new ValidationError('TIME_TOO_NEW', `timestamp ${header.timestamp} is too far in the future`, false)
  }
  if (!header.target.equals(ctx.expectedTarget)) throw new ValidationError('BAD_TARGET', 'block target is not the required target')
}

/** Median of the given timestamps (the last `medianTimeSpan` blocks). */
export function medianTime(timestamps: readonly number[]): number {
  if (timestamps.length === 0) throw new RangeError('medianTime of no timestamps')
  const sorted = [...timestamps].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
