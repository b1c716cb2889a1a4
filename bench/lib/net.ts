// Shared by the P2P benches (propagation, catchup): loopback addresses that
// cannot collide with a running devnet, the network file every node must
// share, and `bkc start` child processes whose JSON log lines are read as
// they are written, so a bench can wait for (and time) what a node reports.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { networkFromJson, type NetworkParams } from '../../node/chain/params.js'
import { testNetworkJson, type TestNetworkOptions } from './fixtures.js'
import { rpcCall as cliRpcCall } from '../../cli/rpc-client.js'

/** dist/bin/bkc.js, next to this file's dist/bench/. */
export const BKC_BIN = fileURLToPath(new URL('../../bin/bkc.js', import.meta.url))

/**
 * "127.R" with R drawn from 100..250: the devnet uses 127.0 and other
 * benches pick their own R, so two runs at once rarely share an address.
 */
export function loopbackPrefix(): string {
  return `127.${randomInt(100, 251)}`
}

/**
 * Writes the network file (test target, the given genesis balances) that
 * child nodes load with --network, after checking that it reproduces the
 * genesis the bench built its blocks on; returns `path`.
 */
export function writeNetworkFile(path: string, opts: TestNetworkOptions, expected: NetworkParams): string {
  const json = testNetworkJson(opts)
  const parsed = networkFromJson(json, 'bench network')
  if (!parsed.genesisHash.equals(expected.genesisHash)) throw new Error('the network file does not reproduce the bench network genesis')
  writeFileSync(path, JSON.stringify(json, null, 2))
  return path
}

/** One line of `--log-format json` output. */
export interface LogLine {
  /** The line's own timestamp (epoch ms, 1 ms resolution: the node's clock, which is ours too). */
  at: number
  level: string
  message: string
  fields: Record<string, unknown>
}

type LineWaiter = { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

const running = new Set<ChildProcess>()
let exitHookInstalled = false

/** Children must not outlive the bench, whatever way it ends. */
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL')
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const c of running) c.kill('SIGKILL')
      process.exit(130)
    })
  }
}

/** A `bkc start` child process with JSON logs on stderr. */
export class ChildNode {
  private readonly child: ChildProcess
  private readonly waiters = new Set<LineWaiter>()
  private readonly listeners = new Set<(l: LogLine) => void>()
  private readonly exited: Promise<number | null>
  private exitCode: number | null | undefined = undefined
  private readonly tail: string[] = []

  /** `args`: `bkc start` options (host, ports, data dir, network …); JSON logs are added. */
  constructor(
    readonly name: string,
    readonly host: string,
    readonly rpcPort: number,
    args: string[],
    logLevel = 'info',
  ) {
    installExitHook()
    this.child = spawn(process.execPath, [BKC_BIN, 'start', ...args, '--log-format', 'json', '--log-level', logLevel], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    running.add(this.child)
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        running.delete(this.child)
        this.exitCode = code
        for (const w of this.waiters) {
          clearTimeout(w.timer)
          w.reject(new Error(`${this.name} exited (code ${code}) while waiting; last lines:\n${this.tail.join('\n')}`))
        }
        this.waiters.clear()
        resolve(code)
      })
    })
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.onLine(text))
  }

  get rpcUrl(): string {
    return `http://${this.host}:${this.rpcPort}`
  }

  private onLine(text: string): void {
    this.tail.push(text)
    if (this.tail.length > 20) this.tail.shift()
    let raw: Record<string, unknown>
    try {
      raw = JSON.parse(text) as Record<string, unknown>
    } catch {
      process.stderr.write(`[${this.name}] ${text}\n`)
      return
    }
    const { timestamp, level, message, ...fields } = raw
    const line: LogLine = { at: Date.parse(String(timestamp)), level: String(level), message: String(message), fields }
    if (line.level === 'warn' || line.level === 'error')
      process.stderr.write(`[${this.name}] ${line.level}: ${line.message} ${JSON.stringify(fields)}\n`)
    for (const l of this.listeners) l(line)
    for (const w of this.waiters) {
      if (!w.match(line)) continue
      clearTimeout(w.timer)
      this.waiters.delete(w)
      w.resolve(line)
    }
  }

  /** Calls `fn` with every log line from now on; returns the unsubscribe function. */
  onLog(fn: (l: LogLine) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** The next log line matching `match` (lines already read do not count). */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited (code ${this.exitCode})`))
    return new Promise((resolve, reject) => {
      const w: LineWaiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w)
          reject(new Error(`${this.name}: no "${what}" within ${timeoutMs} ms; last lines:\n${this.tail.join('\n')}`))
        }, timeoutMs),
      }
      this.waiters.add(w)
    })
  }

  rpc<T>(method: string, params: unknown[] = []): Promise<T> {
    return rpcCall<T>(this.rpcUrl, method, params)
  }

  /** SIGTERM (a clean shutdown), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitCode !== undefined) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/** The node's own JSON-RPC client (cli/rpc-client.ts), typed for the bench's callers. */
export async function rpcCall<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  return (await cliRpcCall(url, method, params, 30_000)) as T
}

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
