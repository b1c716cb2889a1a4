// JSON shapes of transactions and blocks on the RPC surface. Byte fields
// are lower-case hex; integers are JSON numbers (all below 2^53).
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, encodedBlockSize, type Block, type ProofType } from '../../protocol/chain/block-codec.js'
import { isRewardForm, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import type { ConsensusEngine } from '../consensus/engine.js'

export interface TxView {
  hash: string
  type: 'transfer' | 'reward'
  from: string
  to: string
  amount: number
  nonce: number
  timestamp: number
  signature: string
}

export function txView(tx: Transaction, id?: string): TxView {
  return {
    hash: id ?? toHex(txId(tx)),
    type: isRewardForm(tx) ? 'reward' : 'transfer',
    from: toHex(tx.from),
    to: toHex(tx.to),
    amount: tx.amount,
    nonce: tx.nonce,
    timestamp: tx.timestamp,
    signature: toHex(tx.signature),
  }
}

export interface BlockView {
  height: number
  hash: string
  previousHash: string
  timestamp: number
  txRoot: string
  miner: string
  target: string
  proofType: ProofType
  /** The proof's fields, as the network's consensus engine reads them (`work`: the nonce). */
  proof: Record<string, string | number>
  /** `work` networks: the proof's nonce, as before there were other engines. */
  nonce?: number
  size: number
  transactions: TxView[]
}

export function blockView(block: Block, engine: Pick<ConsensusEngine, 'describeProof'>, hash?: string): BlockView {
  const h = block.header
  const proof = engine.describeProof(h)
  return {
    height: h.height,
    hash: hash ?? toHex(blockHash(h)),
    previousHash: toHex(h.prevHash),
    timestamp: h.timestamp,
    txRoot: toHex(h.txRoot),
    miner: toHex(h.miner),
    target: toHex(h.target),
    proofType: h.proofType,
    proof,
    ...(h.proofType === 'pow' && typeof proof.nonce === 'number' && proof.challenge === undefined && { nonce: proof.nonce }),
    size: encodedBlockSize(block.txs.length, h.proof.length),
    transactions: block.txs.map((tx) => txView(tx)),
  }
}
