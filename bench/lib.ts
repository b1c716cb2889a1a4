// Shared helpers for the benchmark scripts: timing and statistics, table
// printing, flags, temporary directories, and building a valid chain of
// signed transfers on an easy test network. The machine is small and noisy,
// so every figure is a median of repeated runs and, where it means
// something, a ratio to a baseline measured in the same run.
import { createPrivateKey, sign as osslSign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { blockHash, encodeHeader, type Block, type BlockHeader } from '../protocol/block-codec.js'
import { toHex } from '../protocol/bytes.js'
import { sha256 } from '../protocol/hash.js'
import { merkleRoot } from '../protocol/merkle.js'
import { txId, txSigningMessage, ZERO_ADDRESS, ZERO_SIGNATURE, type Transaction } from '../protocol/tx-codec.js'
import { generateKeyPair, verify, type KeyPair } from '../node/chain/keys.js'
import { networkFromJson, type NetworkParams } from '../node/chain/params.js'
import type { Account } from '../node/chain/state.js'
import { hashMeetsTarget, targetFromLeadingZeroBits } from '../node/miner/pow.js'

// ---- statistics -----------------------------------------------------------

export function median(xs: readonly number[]): number {
  return percentile(xs, 50)
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(xs: readonly number[] | Float64Array, p: number): number {
  if (xs.length === 0) return NaN
  const sorted = Float64Array.from(xs).sort()
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

/** Milliseconds taken by `fn`. */
export function timeSync(fn: () => void): number {
  const start = performance.now()
  fn()
  return performance.now() - start
}

export interface Timing {
  ms: number
  /** CPU time of the whole process (all threads) meanwhile: far less disturbed than wall time by other load on the machine. */
  cpuMs: number
}

export async function measure(fn: () => unknown): Promise<Timing> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await fn()
  const ms = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { ms, cpuMs: (used.user + used.system) / 1000 }
}

/** Runs `fn` `runs` times; returns each run's operations per second for `ops` operations. */
export function ratesSync(runs: number, ops: number, fn: () => void): number[] {
  const out: number[] = []
  for (let r = 0; r < runs; r++) out.push((ops / timeSync(fn)) * 1000)
  return out
}

// ---- printing ---------------------------------------------------------------

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n)
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 100) return `${Math.round(ms)} ms`
  if (ms >= 1) return `${ms.toFixed(2)} ms`
  return `${(ms * 1000).toFixed(1)} µs`
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : String(x)
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  console.log(line(headers))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}

/** The first lines of every bench's output: what ran, where. */
export function printHeader(title: string, details: string): void {
  const cpu = cpus()
  console.log(`# ${title}`)
  console.log(`node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${new Date().toISOString()}`)
  console.log(details)
  console.log('')
}

// ---- flags and files --------------------------------------------------------

/** `--name N` from the command line; exits with a usage message on a bad value. */
export function intFlag(name: string, fallback: number, min = 1): number {
  const args = process.argv.slice(2)
  const at = args.indexOf(`--${name}`)
  if (at === -1) return fallback
  const raw = args[at + 1]
  const value = raw === undefined ? NaN : Number(raw)
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`--${name} expects an integer >= ${min}, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`)
    process.exit(2)
  }
  return value
}

export function tempDir(prefix = 'bkc-bench-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) }
}

// ---- an easy test network (as test/helpers/fixtures.ts, which tsc does not build) --

export const GENESIS_TIME = 1_700_000_000_000

/** A network whose blocks need ~16 hashes, with the given genesis balances. */
export function benchNetwork(balances: Record<string, number>, networkId = 'bkc-bench'): NetworkParams {
  return networkFromJson(
    {
      name: 'bench',
      networkId,
      magic: '0x626b6362',
      genesis: { timestamp: GENESIS_TIME, balances },
      consensus: {
        blockReward: 20,
        target: targetFromLeadingZeroBits(4).toString('hex'),
        targetBlockTimeMs: 5000,
        medianTimeSpan: 11,
        maxFutureBlockTimeMs: 120_000,
        maxBlockBytes: 1024 * 1024,
      },
    },
    'bench network',
  )
}

export function keyPairs(n: number): KeyPair[] {
  return Array.from({ length: n }, () => generateKeyPair())
}

/** Finds a nonce so the header meets its (easy) target. */
export function solve(header: BlockHeader): BlockHeader {
  const h = { ...header }
  for (let nonce = 0; ; nonce++) {
    h.nonce = nonce
    if (hashMeetsTarget(sha256(encodeHeader(h)), h.target)) return h
  }
}

/** A solved child of `parent` holding the reward and `transfers`. */
export function mineBlock(net: NetworkParams, parent: BlockHeader, miner: Buffer, transfers: Transaction[]): Block {
  const height = parent.height + 1
  const timestamp = parent.timestamp + 1000
  const reward: Transaction = {
    from: ZERO_ADDRESS, to: miner, amount: net.consensus.blockReward, nonce: height, timestamp, signature: ZERO_SIGNATURE,
  }
  const txs = [reward, ...transfers]
  const header: BlockHeader = {
    height, prevHash: blockHash(parent), timestamp, txRoot: merkleRoot(txs.map(txId)), miner, target: net.consensus.target, proofType: 'pow', nonce: 0,
  }
  return { header: solve(header), txs }
}

// ---- fast signing for building test chains ---------------------------------

const CURVE_N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')
const HALF_N = CURVE_N >> 1n
// SEC1 ECPrivateKey DER around a raw secp256k1 scalar: OpenSSL derives the public key.
const SEC1_HEAD = Buffer.from('302e0201010420', 'hex')
const SEC1_TAIL = Buffer.from('a00706052b8104000a', 'hex')

/**
 * Signs with OpenSSL (~3x elliptic's sign here) and folds s to low-S, which
 * the chain requires. Only for building bench chains quickly: the node's
 * own `sign` (elliptic, RFC 6979) is what bench/crypto.ts measures.
 */
export class FastSigner {
  private readonly key: KeyObject
  constructor(privateKey: Uint8Array) {
    this.key = createPrivateKey({ key: Buffer.concat([SEC1_HEAD, privateKey, SEC1_TAIL]), format: 'der', type: 'sec1' })
  }
  sign(message: Uint8Array): Buffer {
    const sig = osslSign('sha256', message, { key: this.key, dsaEncoding: 'ieee-p1363' })
    const s = BigInt('0x' + sig.toString('hex', 32))
    if (s > HALF_N) Buffer.from((CURVE_N - s).toString(16).padStart(64, '0'), 'hex').copy(sig, 32)
    return sig
  }
}

export function signedTransfer(net: NetworkParams, signer: FastSigner, from: Buffer, to: Buffer, amount: number, nonce: number, timestamp: number): Transaction {
  const unsigned: Transaction = { from, to, amount, nonce, timestamp, signature: ZERO_SIGNATURE }
  return { ...unsigned, signature: signer.sign(txSigningMessage(net.networkId, unsigned)) }
}

// ---- a chain of transfers -----------------------------------------------------

export interface TransferChain {
  net: NetworkParams
  accounts: KeyPair[]
  miner: KeyPair
  /** Oldest first, genesis excluded. */
  blocks: Block[]
  /** Every account's state at the tip, address hex → account, for checking a node's result. */
  expected: Map<string, Account>
  transfers: number
}

export interface TransferChainOptions {
  blocks: number
  accounts: number
  transfersPerBlock: number
  /** Genesis balance of every account. */
  balance?: number
}

/**
 * A valid chain: each block carries `transfersPerBlock` signed transfers;
 * senders take turns (so nonces stay consecutive) and pay small amounts to
 * pseudo-random other accounts.
 */
export function buildTransferChain(opts: TransferChainOptions): TransferChain {
  const accounts = keyPairs(opts.accounts)
  const miner = generateKeyPair()
  const balance = opts.balance ?? 1_000_000_000
  const net = benchNetwork(Object.fromEntries(accounts.map((k) => [toHex(k.address), balance])))
  const signers = accounts.map((k) => new FastSigner(k.privateKey))
  const state = accounts.map(() => ({ balance, nonce: 0 }))
  // A wrong signer would only show up as an invalid block much later: check one signature per key now.
  accounts.forEach((k, i) => {
    const msg = Buffer.from(`bench ${i}`)
    if (!verify(k.address, msg, signers[i]!.sign(msg))) throw new Error('FastSigner produced a signature the node rejects')
  })

  const blocks: Block[] = []
  let parent = net.genesis.header
  let seed = 12345
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0 // LCG: reproducible recipients
    return seed % n
  }
  let sender = 0
  for (let b = 0; b < opts.blocks; b++) {
    const timestamp = parent.timestamp + 1000
    const txs: Transaction[] = []
    for (let j = 0; j < opts.transfersPerBlock; j++) {
      const from = sender
      sender = (sender + 1) % accounts.length
      const to = (from + 1 + next(accounts.length - 1)) % accounts.length
      const amount = 1 + next(50)
      const s = state[from]!
      txs.push(signedTransfer(net, signers[from]!, accounts[from]!.address, accounts[to]!.address, amount, s.nonce, timestamp))
      s.nonce++
      s.balance -= amount
      state[to]!.balance += amount
    }
    const block = mineBlock(net, parent, miner.address, txs)
    blocks.push(block)
    parent = block.header
  }
  const expected = new Map<string, Account>(accounts.map((k, i) => [toHex(k.address), state[i]!]))
  expected.set(toHex(miner.address), { balance: opts.blocks * net.consensus.blockReward, nonce: 0 })
  return { net, accounts, miner, blocks, expected, transfers: opts.blocks * opts.transfersPerBlock }
}

/** Throws unless every expected account has exactly the expected balance and nonce. */
export function checkAccounts(expected: ReadonlyMap<string, Account>, actual: ReadonlyMap<string, Account>, where: string): void {
  for (const [addr, want] of expected) {
    const got = actual.get(addr)
    if (!got || got.balance !== want.balance || got.nonce !== want.nonce) {
      throw new Error(`${where}: account ${addr.slice(0, 16)}… is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
    }
  }
}
