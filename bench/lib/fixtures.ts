// Test fixtures: a network with an easy target, signed transfers and blocks
// mined in-process (a few dozen hashes each), so chain tests run in
// milliseconds with the real rules. Also compiled into dist/ (tsconfig.json)
// because the benchmarks build their chains with it.
import { createPrivateKey, sign as osslSign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blockHash, encodeHeader, type Block, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { ZERO_ADDRESS, ZERO_SIGNATURE, txId, txSigningMessage, type Transaction } from '../../protocol/chain/tx-codec.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { CURVE_N, generateKeyPair, sign, type KeyPair } from '../../protocol/chain/keys.js'
import { networkFromJson, type NetworkParams } from '../../node/chain/params.js'
import { hashMeetsTarget, targetFromLeadingZeroBits } from '../../node/consensus/pow.js'
import { workNonce, workProof } from '../../node/consensus/work.js'

export const GENESIS_TIME = 1_700_000_000_000
/** The fixtures' block interval (`mine`'s default: parent time + 1 s). */
const FIXTURE_INTERVAL_MS = 1000

export interface TestNetworkOptions {
  /** Leading zero bits of the target (default 4: ~16 hashes a block). */
  bits?: number
  balances?: Record<string, number>
  reward?: number
  maxBlockBytes?: number
  networkId?: string
  /**
   * `consensus.retarget` (rule "asert"); absent, every block carries the
   * fixed target. `anchorTimeMs` defaults to the time `mine` gives block 1.
   */
  retarget?: { halfLifeMs: number; powLimit: string; anchorTimeMs?: number }
}

export function testNetworkJson(opts: TestNetworkOptions = {}): Record<string, unknown> {
  return {
    name: 'test',
    networkId: opts.networkId ?? 'bkc-test',
    magic: '0x626b6374',
    genesis: { timestamp: GENESIS_TIME, balances: opts.balances ?? {} },
    consensus: {
      blockReward: opts.reward ?? 20,
      target: targetFromLeadingZeroBits(opts.bits ?? 4).toString('hex'),
      targetBlockTimeMs: 5000,
      medianTimeSpan: 11,
      // A retargeting network's half-life must be at least 4 × this.
      maxFutureBlockTimeMs: opts.retarget ? Math.min(15_000, Math.floor(opts.retarget.halfLifeMs / 4)) : 120_000,
      maxBlockBytes: opts.maxBlockBytes ?? 1024 * 1024,
      ...(opts.retarget && { retarget: { rule: 'asert', anchorTimeMs: GENESIS_TIME + FIXTURE_INTERVAL_MS, ...opts.retarget } }),
    },
  }
}

export function testNetwork(opts: TestNetworkOptions = {}): NetworkParams {
  return networkFromJson(testNetworkJson(opts), 'test network')
}

export function hexAddress(k: KeyPair): string {
  return toHex(k.address)
}

/** A signed transfer. */
export function transfer(
  net: NetworkParams,
  from: KeyPair,
  to: Buffer,
  amount: number,
  nonce: number,
  timestamp = GENESIS_TIME + 1,
): Transaction {
  const unsigned: Transaction = { from: from.address, to, amount, nonce, timestamp, signature: Buffer.alloc(64) }
  return { ...unsigned, signature: sign(from.privateKey, txSigningMessage(net.networkId, unsigned)) }
}

export function reward(net: NetworkParams, miner: Buffer, height: number, timestamp: number): Transaction {
  return { from: ZERO_ADDRESS, to: miner, amount: net.consensus.blockReward, nonce: height, timestamp, signature: ZERO_SIGNATURE }
}

export interface ParentRef {
  hash: Buffer
  height: number
  timestamp: number
}

export function parentOf(block: Block): ParentRef {
  const { height, timestamp } = block.header
  return { hash: blockHash(block.header), height, timestamp }
}

/** Finds a nonce so the header meets its target (the test target is easy). */
export function solve(header: BlockHeader): BlockHeader {
  const h = { ...header }
  for (let nonce = workNonce(header); ; nonce++) {
    h.proof = workProof(nonce)
    if (hashMeetsTarget(sha256(encodeHeader(h)), h.target)) return h
  }
}

export interface MineOptions {
  miner?: Buffer
  txs?: Transaction[]
  /** Default: parent time + 1 s. */
  timestamp?: number
  /** Override fields after the valid block is built (nonce is re-solved unless `unsolved`). */
  tamper?: (h: BlockHeader, txs: Transaction[]) => void
  unsolved?: boolean
  startNonce?: number
}

/** Mines a valid child of `parent` (reward first, then `txs`). */
export function mine(net: NetworkParams, parent: ParentRef, opts: MineOptions = {}): Block {
  const miner = opts.miner ?? MINER.address
  const height = parent.height + 1
  const timestamp = opts.timestamp ?? parent.timestamp + FIXTURE_INTERVAL_MS
  const txs = [reward(net, miner, height, timestamp), ...(opts.txs ?? [])]
  const header: BlockHeader = {
    height,
    prevHash: parent.hash,
    timestamp,
    txRoot: merkleRoot(txs.map(txId)),
    miner,
    target: nextTarget(net, parent),
    proofType: 'pow',
    proof: workProof(opts.startNonce ?? 0),
  }
  opts.tamper?.(header, txs)
  return { header: opts.unsolved ? header : solve(header), txs }
}

/** The target the network's engine requires of a child of `parent`. */
export function nextTarget(net: NetworkParams, parent: ParentRef): Buffer {
  // The work engine's rule reads only the parent's height and time.
  const p = { hash: toHex(parent.hash), height: parent.height, timestamp: parent.timestamp }
  return net.engine.nextTarget({ ...p, target: net.consensus.target, proofType: 'pow', seed: Buffer.alloc(0) })
}

/** Mines `n` empty blocks on top of `parent`; returns them oldest first. */
export function mineChain(net: NetworkParams, parent: ParentRef, n: number, opts: Omit<MineOptions, 'txs' | 'tamper'> = {}): Block[] {
  const out: Block[] = []
  let p = parent
  for (let i = 0; i < n; i++) {
    const b = mine(net, p, { ...opts, timestamp: p.timestamp + FIXTURE_INTERVAL_MS })
    out.push(b)
    p = parentOf(b)
  }
  return out
}

export function genesisRef(net: NetworkParams): ParentRef {
  return { hash: net.genesisHash, height: 0, timestamp: net.genesis.header.timestamp }
}

/** A fixed miner key so test blocks are reproducible apart from their nonces. */
export const MINER: KeyPair = generateKeyPair()

export function tempDir(prefix = 'bkc-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) }
}

// SEC1 ECPrivateKey DER around a raw secp256k1 scalar: enough for OpenSSL to sign.
const SEC1_HEAD = Buffer.from('302e0201010420', 'hex')
const SEC1_TAIL = Buffer.from('a00706052b8104000a', 'hex')

/** An OpenSSL private key object for a raw 32-byte secp256k1 key (bypassing the code under test). */
export function opensslPrivateKey(privateKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([SEC1_HEAD, privateKey, SEC1_TAIL]), format: 'der', type: 'sec1' })
}

/**
 * Signs with OpenSSL (~1.8x elliptic's RFC 6979 sign here) and folds s to
 * low-S, as the chain requires. For building large test and bench chains
 * quickly; the node itself signs with keys.ts `sign`.
 */
export class FastSigner {
  private readonly key: KeyObject
  constructor(privateKey: Uint8Array) {
    this.key = opensslPrivateKey(privateKey)
  }
  sign(message: Uint8Array): Buffer {
    const sig = osslSign('sha256', message, { key: this.key, dsaEncoding: 'ieee-p1363' })
    const s = BigInt('0x' + sig.toString('hex', 32))
    if (s > CURVE_N >> 1n) Buffer.from((CURVE_N - s).toString(16).padStart(64, '0'), 'hex').copy(sig, 32)
    return sig
  }
}
