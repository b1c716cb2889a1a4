// Shared helpers for the benchmark scripts: timing and statistics, table
// printing, flags, and building a valid chain of signed transfers on an easy
// test network (with bench/lib/fixtures.ts, shared with the tests). The
// machine is small and noisy, so every figure is a median of repeated runs
// and, where it means something, a ratio to a baseline measured in the same run.
import { cpus, loadavg } from 'node:os'
import type { Block } from '../../protocol/chain/block-codec.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { txSigningMessage, ZERO_SIGNATURE, type Transaction } from '../../protocol/chain/tx-codec.js'
import { generateKeyPair, verify, type KeyPair } from '../../protocol/chain/keys.js'
import type { NetworkParams } from '../../node/chain/params.js'
import type { Account } from '../../node/chain/state.js'
import { FastSigner, mine, parentOf, testNetwork, type ParentRef } from './fixtures.js'

export { FastSigner, GENESIS_TIME, tempDir } from './fixtures.js'

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
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
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

/** A network whose blocks need ~16 hashes, with the given genesis balances. */
export function benchNetwork(balances: Record<string, number>, networkId = 'bkc-bench'): NetworkParams {
  return testNetwork({ balances, networkId })
}

export function keyPairs(n: number): KeyPair[] {
  return Array.from({ length: n }, () => generateKeyPair())
}

export function signedTransfer(
  net: NetworkParams,
  signer: FastSigner,
  from: Buffer,
  to: Buffer,
  amount: number,
  nonce: number,
  timestamp: number,
): Transaction {
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
  let parent: ParentRef = parentOf(net.genesis)
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
    const block = mine(net, parent, { miner: miner.address, txs, timestamp })
    blocks.push(block)
    parent = parentOf(block)
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

/** The 1, 5 and 15 minute load averages, for the line that says how busy the machine was. */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
}
