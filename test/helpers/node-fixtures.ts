// Helpers for the chainstate, reorg, node and end-to-end tests: temp dirs
// removed at the end of a test, a chainstate over a temp LevelDB, whole-state
// snapshots to compare two chainstates, a ledger model that turns random
// transfer wishes into valid blocks, a BkcNode in-process, JSON-RPC over real
// HTTP, and the real `bkc` binary as a child process.
import type { Test } from 'tap'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import winston from 'winston'
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, encodeBlock, encodeHeader, type Block } from '../../protocol/chain/block-codec.js'
import { isRewardForm, txId } from '../../protocol/chain/tx-codec.js'
import type { KeyPair } from '../../protocol/chain/keys.js'
import type { NetworkParams } from '../../node/chain/params.js'
import type { Account } from '../../node/chain/state.js'
import { Chainstate, type ChainstateOptions, type SubmitResult } from '../../node/chain/chainstate.js'
import { silentLogger, type Logger } from '../../lib/log.js'
import { ChainBatch, ChainDb } from '../../node/storage/chain-db.js'
import type { TxLocation } from '../../node/storage/records.js'
import { BkcNode, type NodeConfig } from '../../node/node.js'
import { mine, parentOf, tempDir, transfer, type ParentRef } from '../../bench/lib/fixtures.js'

// ---------------------------------------------------------------- temp dirs

/** A fresh temp directory (named `prefix` + random), removed when `t` ends. */
export function testDir(t: Test, prefix: string): string {
  const d = tempDir(prefix)
  t.teardown(d.cleanup)
  return d.path
}

/** A data dir for one in-process node, removed when `t` ends. */
export function nodeDataDir(t: Test): string {
  return testDir(t, 'bkc-node-')
}

// ---------------------------------------------------------------- chainstate

export interface OpenedChain {
  db: ChainDb
  chain: Chainstate
  close: () => Promise<void>
}

/** Opens a chainstate over LevelDB in `dir`; on failure the database is closed again. */
export async function openChain(net: NetworkParams, dir: string, opts: Partial<ChainstateOptions> = {}): Promise<OpenedChain> {
  const db = await ChainDb.open(dir)
  try {
    const chain = await Chainstate.open(db, net, { logger: silentLogger(), ...opts })
    return { db, chain, close: () => db.close() }
  } catch (err) {
    await db.close()
    throw err
  }
}

/** Submits blocks in order; returns every result. */
export async function submitAll(chain: Chainstate, blocks: readonly Block[]): Promise<SubmitResult[]> {
  const out: SubmitResult[] = []
  for (const b of blocks) out.push(await chain.submitBlock(b))
  return out
}

export function hashOf(block: Block): string {
  return toHex(blockHash(block.header))
}

/** A ParentRef for the chainstate's current tip. */
export function tipRef(chain: Chainstate): ParentRef {
  const tip = chain.tip
  return { hash: Buffer.from(tip.hash, 'hex'), height: tip.height, timestamp: tip.timestamp }
}

/** Every address the genesis and the blocks credit or debit (the zero address excluded). */
export function addressesOf(net: NetworkParams, ...chains: ReadonlyArray<readonly Block[]>): string[] {
  const set = new Set<string>()
  for (const tx of net.genesis.txs) set.add(toHex(tx.to))
  for (const blocks of chains) {
    for (const b of blocks) {
      set.add(toHex(b.header.miner))
      for (const tx of b.txs) {
        set.add(toHex(tx.to))
        if (!isRewardForm(tx)) set.add(toHex(tx.from))
      }
    }
  }
  return [...set].sort()
}

/** Every transaction id of the blocks. */
export function txIdsOf(...chains: ReadonlyArray<readonly Block[]>): string[] {
  return chains.flatMap((blocks) => blocks.flatMap((b) => b.txs.map((tx) => toHex(txId(tx)))))
}

export interface ChainSnapshot {
  tip: { hash: string; height: number }
  accounts: Record<string, Account | null>
  /** Block hash at every height 0..maxHeight (null above the tip). */
  heights: Array<string | null>
  txs: Record<string, TxLocation | null>
  byAccount: Record<string, string[]>
}

/**
 * Everything a client can read about the given addresses and transactions,
 * in plain data so two chainstates compare with t.same. `account: null`
 * means no record is stored (different from a stored zero balance).
 */
export async function snapshot(
  chain: Chainstate,
  addresses: readonly string[],
  txids: readonly string[],
  maxHeight = chain.tip.height,
): Promise<ChainSnapshot> {
  const accounts: Record<string, Account | null> = {}
  const byAccount: Record<string, string[]> = {}
  for (const a of addresses) {
    accounts[a] = (await chain.db.getAccount(a)) ?? null
    byAccount[a] = await chain.db.accountTxIds(a, 10_000)
  }
  const heights: Array<string | null> = []
  for (let h = 0; h <= maxHeight; h++) heights.push((await chain.getBlockByHeight(h))?.hash ?? null)
  const txs: Record<string, TxLocation | null> = {}
  for (const id of txids) txs[id] = (await chain.getTxLocation(id)) ?? null
  return { tip: { hash: chain.tip.hash, height: chain.tip.height }, accounts, heights, txs, byAccount }
}

// ---------------------------------------------------------------- ledger model

/**
 * A minimal model of the account rules, used only to build valid blocks from
 * random wishes (and as an independent expectation of the balances).
 */
export class Ledger {
  readonly accounts: Map<string, Account>

  constructor(accounts: Map<string, Account> = new Map()) {
    this.accounts = accounts
  }

  static fromGenesis(net: NetworkParams): Ledger {
    const l = new Ledger()
    for (const tx of net.genesis.txs) {
      const a = toHex(tx.to)
      l.accounts.set(a, { balance: (l.accounts.get(a)?.balance ?? 0) + tx.amount, nonce: 0 })
    }
    return l
  }

  clone(): Ledger {
    return new Ledger(new Map([...this.accounts].map(([k, v]) => [k, { ...v }])))
  }

  get(address: string): Account {
    return this.accounts.get(address) ?? { balance: 0, nonce: 0 }
  }

  /** Applies a block the chain accepted: transfers in order, then the reward. */
  apply(block: Block): void {
    const [reward, ...transfers] = block.txs
    for (const tx of transfers) {
      const from = toHex(tx.from)
      const s = this.get(from)
      this.accounts.set(from, { balance: s.balance - tx.amount, nonce: s.nonce + 1 })
      const to = toHex(tx.to)
      const r = this.get(to)
      this.accounts.set(to, { balance: r.balance + tx.amount, nonce: r.nonce })
    }
    if (reward) {
      const to = toHex(reward.to)
      const r = this.get(to)
      this.accounts.set(to, { balance: r.balance + reward.amount, nonce: r.nonce })
    }
  }
}

/** A wish for one transfer: key indexes and an amount, clamped to what the sender has. */
export interface TransferWish {
  from: number
  to: number
  amount: number
}

export interface BranchOptions {
  miner: KeyPair
  /** Added to the parent's timestamp for each block (default 1000 ms). */
  spacingMs?: number
}

/**
 * Mines a branch on `parent`, one block per entry of `wishes`, turning each
 * wish into a valid signed transfer against `ledger` (which is updated);
 * wishes the sender cannot afford at all are skipped. `extra(i)` may
 * put transfers first in block i (used to force a double spend).
 */
export function buildBranch(
  net: NetworkParams,
  keys: readonly KeyPair[],
  parent: ParentRef,
  ledger: Ledger,
  wishes: readonly (readonly TransferWish[])[],
  opts: BranchOptions,
  extra?: (i: number) => Array<{ from: KeyPair; to: KeyPair; amount: number }>,
): Block[] {
  const blocks: Block[] = []
  let p = parent
  const spacing = opts.spacingMs ?? 1000
  wishes.forEach((blockWishes, i) => {
    const timestamp = p.timestamp + spacing
    // Spends are checked against a scratch copy so a block never overdraws.
    const scratch = ledger.clone()
    const txs = []
    const all = [...(extra?.(i) ?? []), ...blockWishes.map((w) => ({ from: keys[w.from]!, to: keys[w.to]!, amount: w.amount }))]
    for (const w of all) {
      const from = toHex(w.from.address)
      const s = scratch.get(from)
      const amount = Math.min(w.amount, s.balance)
      if (amount < 1) continue
      txs.push(transfer(net, w.from, w.to.address, amount, s.nonce, timestamp))
      scratch.accounts.set(from, { balance: s.balance - amount, nonce: s.nonce + 1 })
      const to = toHex(w.to.address)
      const r = scratch.get(to)
      scratch.accounts.set(to, { balance: r.balance + amount, nonce: r.nonce })
    }
    const block = mine(net, p, { miner: opts.miner.address, txs, timestamp })
    ledger.apply(block)
    blocks.push(block)
    p = parentOf(block)
  })
  return blocks
}

// ---------------------------------------------------------------- waiting

/**
 * Polls `probe` until it returns something other than undefined/false, for
 * at most `timeoutMs`; throws with `what` when time runs out.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000)
  const interval = opts.intervalMs ?? 50
  let lastError: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out waiting for ${what}` + (lastError ? ` (last error: ${(lastError as Error).message})` : ''))
    }
    await sleep(interval)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

// ---------------------------------------------------------------- in-process node

export interface TestNode {
  node: BkcNode
  /** Its JSON-RPC URL. */
  url: string
  /** Stops the node once: later calls, and the teardown, wait for that same stop. */
  stop: () => Promise<void>
}

/**
 * Starts a BkcNode in this process: on 127.0.0.1 with ports the OS picks, no
 * log output, cheap scrypt for the keystore (N=1024) and one miner thread;
 * `config` may override any of these. The node is stopped when `t` ends,
 * unless the test stopped it with `stop()` already.
 */
export async function startTestNode(t: Test, config: Pick<NodeConfig, 'dataDir' | 'network'> & Partial<NodeConfig>): Promise<TestNode> {
  const node = await BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
    minerThreads: 1,
    ...config,
  })
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => (stopping ??= node.stop())
  t.teardown(stop)
  return { node, url: urlOf(node.rpcAddress), stop }
}

/** Credits `address` (hex) with `n` block rewards by submitting blocks mined in-process on the node's tip. */
export async function fund(node: BkcNode, address: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await node.chain.submitBlock(mine(node.chain.params, tipRef(node.chain), { miner: Buffer.from(address, 'hex') }))
    if (r.status !== 'connected') throw new Error(`funding block not connected: ${r.status}`)
  }
}

// ---------------------------------------------------------------- JSON-RPC

export interface RpcReply {
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

let rpcId = 0

/** One JSON-RPC 2.0 call over HTTP; returns the parsed response (result or error). */
export async function rpcCall(url: string, method: string, params: unknown[] | Record<string, unknown> = []): Promise<RpcReply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++rpcId }),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  try {
    return JSON.parse(text) as RpcReply
  } catch {
    throw new Error(`HTTP ${res.status} from ${method}: not JSON: ${text.slice(0, 200)}`)
  }
}

/** A call that must succeed; returns its result. */
export async function rpcResult<T = unknown>(url: string, method: string, params: unknown[] | Record<string, unknown> = []): Promise<T> {
  const reply = await rpcCall(url, method, params)
  if (reply.error) throw new Error(`${method} failed: ${reply.error.code} ${reply.error.message}`)
  return reply.result as T
}

export function urlOf(address: { host: string; port: number } | null): string {
  if (!address) throw new Error('the node has no RPC address')
  return `http://${address.host}:${address.port}/`
}

// ---------------------------------------------------------------- processes

export const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url))
export const BKC_BIN = join(PACKAGE_DIR, 'dist', 'bin', 'bkc.js')
export const SCRIPTS_DIR = join(PACKAGE_DIR, 'test', 'scripts')

/** A random second octet in 100..250 so a test node never meets a developer's devnet on 127.0.x.y. */
export function randomLoopbackOctet(): number {
  return 100 + Math.floor(Math.random() * 151)
}

/** An environment for child processes without proxies (all traffic stays on loopback). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete env[k]
  return env
}

export interface BkcProcess {
  child: ChildProcess
  pid: number
  stdout: () => string
  stderr: () => string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited: () => boolean
}

/** Starts `node dist/bin/bkc.js ARGS` (stdout and stderr collected). */
export function spawnBkc(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): BkcProcess {
  const child = spawn(process.execPath, [BKC_BIN, ...args], {
    cwd: opts.cwd ?? PACKAGE_DIR,
    env: opts.env ?? childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  let done = false
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      done = true
      resolve({ code, signal })
    })
    child.on('error', () => {
      done = true
      resolve({ code: null, signal: null })
    })
  })
  if (child.pid === undefined) throw new Error(`cannot start ${BKC_BIN}`)
  return { child, pid: child.pid, stdout: () => out, stderr: () => err, exited, hasExited: () => done }
}

/** Runs the binary to completion (bounded by `timeoutMs`, then SIGKILL). */
export async function runBkc(
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnBkc(args, opts)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 20_000)
  const { code } = await p.exited
  clearTimeout(timer)
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

/** Stops a process we started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(p: BkcProcess, graceMs = 5000): Promise<void> {
  if (p.hasExited()) return
  p.child.kill('SIGTERM')
  const timer = setTimeout(() => {
    if (!p.hasExited()) p.child.kill('SIGKILL')
  }, graceMs)
  await p.exited
  clearTimeout(timer)
}

/** The RPC URL a node logs in its "node ready" line (text or JSON log format). */
export function readyUrl(stderr: string): string | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.includes('node ready')) continue
    const m = /"?rpc"?[=:]"?(http:\/\/[0-9.]+:[0-9]+)/.exec(line)
    if (m) return `${m[1]}/`
  }
  return undefined
}

/**
 * Waits (up to `timeoutMs`) for a node started with spawnBkc to log its
 * "node ready" line; returns its RPC URL. The error on timeout carries the
 * process's stderr (and says so when the process had exited).
 */
export function waitForReady(proc: BkcProcess, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    '"node ready" in the log',
    () => {
      if (proc.hasExited()) throw new Error(`bkc exited early:\n${proc.stderr()}`)
      return readyUrl(proc.stderr())
    },
    { timeoutMs, intervalMs: 50 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nstderr:\n${proc.stderr()}`)
  })
}

export interface ScriptRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs one of the report's curl scripts (test/scripts/NAME) with extra env. */
export function runScript(name: string, args: readonly string[], env: Record<string, string>): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(join(SCRIPTS_DIR, name), [...args], { env: childEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

// ---------------------------------------------------------------- logs

/** A winston logger that keeps its lines (JSON) in memory. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'))
      done()
    },
  })
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  })
  return { logger, lines }
}

// ---------------------------------------------------------------- timing and raw posts

/** Resolves true when `p` settles (either way) within `ms`. */
export function settlesWithin(p: Promise<unknown>, ms = 5000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    late,
  ]).finally(() => clearTimeout(timer))
}

/** Posts a body; resolves with the parsed reply, or with the transport error (the server may close mid-reply). */
export async function postRaw(url: string, body: string): Promise<unknown> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(15_000),
    })
    return JSON.parse(await res.text()) as unknown
  } catch (err) {
    return err as Error
  }
}

// ---------------------------------------------------------------- stored state

/** Stores blocks the way submitBlock does before connecting them, as if the node had stopped right after. */
export async function storeUnconnected(db: ChainDb, blocks: readonly Block[]): Promise<void> {
  const batch = new ChainBatch()
  for (const b of blocks) batch.putBlock(hashOf(b), encodeBlock(b)).putEntry(hashOf(b), encodeHeader(b.header), 'unverified')
  await db.write(batch)
}

/** Ids of the transactions stored in the pool's on-disk table. */
export async function storedPoolIds(db: ChainDb): Promise<string[]> {
  const ids: string[] = []
  for await (const { id } of db.poolTxs()) ids.push(id)
  return ids
}
