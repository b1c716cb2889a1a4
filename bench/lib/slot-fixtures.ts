// Fixtures for `slots` networks: a network with an easy target (about one
// record in four wins) and blocks sealed in-process with the real rules, so
// tests of the slot rules run in milliseconds.
import { randomBytes } from 'node:crypto'
import type { Block, BlockHeader, ProofType } from '../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { sign, type KeyPair } from '../../protocol/chain/keys.js'
import { proofRecord, recordDistance } from '../../protocol/chain/proof-record.js'
import { encodeSlotProof, slotSigningMessage } from '../../protocol/chain/slot-proof.js'
import { txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import { networkFromJson, type NetworkParams } from '../../node/chain/params.js'
import type { ParentBlock } from '../../node/consensus/engine.js'
import type { SlotsEngine } from '../../node/consensus/slots.js'
import { targetToBigInt } from '../../node/consensus/asert.js'
import { GENESIS_TIME, reward } from './fixtures.js'

export const SLOT_MS = 6000
export const GRACE_MS = 1500
export const DRIFT_MS = 1000
/** Block 1's target, 2^188: a record wins with probability 1/8. */
const EASY = `0000000000000000${'10'}${'00'.repeat(23)}`
/** The easiest target, 2^190. */
const LIMIT = `0000000000000000${'40'}${'00'.repeat(23)}`

export interface SlotsNetworkOptions {
  balances?: Record<string, number>
  target?: string
  targetLimit?: string
  networkId?: string
}

export function slotsNetworkJson(opts: SlotsNetworkOptions = {}): Record<string, unknown> {
  return {
    name: 'slots-test',
    networkId: opts.networkId ?? 'bkc-slots-test',
    magic: '0x626b6373',
    genesis: { timestamp: GENESIS_TIME, balances: opts.balances ?? {} },
    consensus: {
      engine: 'slots',
      blockReward: 20,
      target: opts.target ?? EASY,
      targetBlockTimeMs: SLOT_MS,
      medianTimeSpan: 11,
      maxFutureBlockTimeMs: 120_000,
      maxBlockBytes: 1024 * 1024,
      slots: { slotMs: SLOT_MS, graceMs: GRACE_MS, maxDriftMs: DRIFT_MS, targetLimit: opts.targetLimit ?? LIMIT },
    },
  }
}

export function slotsNetwork(opts: SlotsNetworkOptions = {}): NetworkParams {
  return networkFromJson(slotsNetworkJson(opts), 'slots test network')
}

export function slotsEngine(net: NetworkParams): SlotsEngine {
  if (!net.engine.clock) throw new Error('not a slots network')
  return net.engine as SlotsEngine
}

/** A validator for the fixtures: key pair and fingerprint. */
export interface TestValidator {
  key: KeyPair
  fingerprint: Buffer
}

export function testValidator(key: KeyPair): TestValidator {
  return { key, fingerprint: randomBytes(16) }
}

export interface SealOptions {
  txs?: Transaction[]
  proofType?: ProofType
  /** The first nonce tried; the search takes the first that wins. */
  startNonce?: number
  /** Seal against this challenge instead of the slot's (a wrong one, for tests). */
  challenge?: Buffer
  /** A timestamp other than the slot's start (reward and header both; for tests). */
  timestamp?: number
  /** Change fields after sealing (the signature is not renewed unless `resign`). */
  tamper?: (h: BlockHeader) => void
  resign?: boolean
}

/** The nonce, record distance and proof of the first winning nonce from `start`. */
export function findNonce(v: TestValidator, challenge: Buffer, target: bigint, start = 0): { nonce: number; distance: bigint } {
  for (let nonce = start; nonce < start + 100_000; nonce++) {
    const distance = recordDistance(proofRecord(v.fingerprint, v.key.address, nonce), challenge)
    if (distance < target) return { nonce, distance }
  }
  throw new Error('no winning nonce in 100,000: the target is too hard for a fixture')
}

/** Signs `header` as `v`, keeping its challenge, fingerprint and nonce. */
export function signSlotHeader(v: TestValidator, header: BlockHeader): BlockHeader {
  const proof = Buffer.from(header.proof)
  proof.fill(0, proof.length - 64)
  const draft = { ...header, proof }
  const signature = sign(v.key.privateKey, slotSigningMessage(draft))
  signature.copy(proof, proof.length - 64)
  return { ...draft, proof }
}

/** A valid proof block of `v` for `slot` on `parent`, reward first. */
export function sealSlot(net: NetworkParams, parent: ParentBlock, v: TestValidator, slot: number, opts: SealOptions = {}): Block {
  const engine = slotsEngine(net)
  const t = engine.template(parent, engine.slotStart(slot))
  if (t === null) throw new Error(`slot ${slot} does not follow the parent's slot`)
  const height = parent.height + 1
  const timestamp = opts.timestamp ?? t.timestamp
  const txs = [reward(net, v.key.address, height, timestamp), ...(opts.txs ?? [])]
  const challenge = opts.challenge ?? t.proof.subarray(0, 32)
  const { nonce } = findNonce(v, challenge, targetToBigInt(t.target), opts.startNonce)
  let header: BlockHeader = {
    height,
    prevHash: Buffer.from(parent.hash, 'hex'),
    timestamp,
    txRoot: merkleRoot(txs.map(txId)),
    miner: v.key.address,
    target: t.target,
    proofType: opts.proofType ?? 'pow',
    proof: encodeSlotProof({ challenge: Buffer.from(challenge), fingerprint: v.fingerprint, nonce, signature: Buffer.alloc(64) }),
  }
  header = signSlotHeader(v, header)
  if (opts.tamper) {
    opts.tamper(header)
    if (opts.resign) header = signSlotHeader(v, header)
  }
  return { header, txs }
}
