// A `bkc devnet` run as a child process of a bench: in a temp directory, on
// a random 127.R prefix (never a developer's devnet on 127.0), ready once it
// prints its node table; stopped the way a user stops it (SIGINT, which it
// turns into an orderly stop of its nodes), with SIGKILL of the devnet and
// its recorded node pids as the bounded last resort. The temp directory is
// removed whatever way the run ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeHost, RPC_PORT } from '../../cli/devnet/plan.js'
import { PIDS_FILE, readDevnetFile } from '../../cli/devnet/state.js'
import { BKC_BIN, loopbackPrefix } from './net.js'

const READY_MARK = 'scripts: BKC_NET_PREFIX='
const TAIL_LINES = 40
/** The devnet gives each node 5 s after SIGTERM; this leaves room for all of them and its own exit. */
const STOP_GRACE_MS = 30_000

export interface DevnetChildOptions {
  /** `--network`: a shipped name (devnet, dsc) or a network file; without it the devnet's own retargeting network. */
  network?: string
  nodes: number
  /** `--miners`: how many of the first nodes mine (the devnet's default when absent). */
  miners?: number
}

export interface DevnetNode {
  name: string
  rpcUrl: string
  /** The miner/validator account's address, when this node mines (set by whoever starts it mining later). */
  address: string | null
}

export type StopOutcome = { how: 'stopped'; code: number | null } | { how: 'killed' } | { how: 'had exited'; code: number | null }

export class DevnetChild {
  private readonly lines: string[] = []
  private partial = ''
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null
  private readonly exited: Promise<void>
  private removed = false
  nodes: DevnetNode[] = []

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly netPrefix: string,
    private readonly tmp: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve()
      })
    })
    const onData = (chunk: Buffer): void => {
      const parts = (this.partial + chunk.toString('utf8')).split('\n')
      this.partial = parts.pop()!.slice(-4096)
      this.lines.push(...parts)
      if (this.lines.length > TAIL_LINES * 4) this.lines.splice(0, this.lines.length - TAIL_LINES)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
  }

  /** Spawns the devnet; the caller must `stop()` it (also when `waitReady` throws). */
  static spawn(opts: DevnetChildOptions): DevnetChild {
    const tmp = mkdtempSync(join(tmpdir(), 'bkc-bench-devnet-'))
    const dir = join(tmp, 'devnet')
    const netPrefix = loopbackPrefix()
    const args = [
      'devnet',
      ...(opts.network === undefined ? [] : ['--network', opts.network]),
      ...(opts.miners === undefined ? [] : ['--miners', String(opts.miners)]),
      ...['--nodes', String(opts.nodes), '--fresh', '--dir', dir, '--net-prefix', netPrefix],
    ]
    // Its own process group: a Ctrl-C at the terminal reaches only the bench,
    // which then stops the devnet once (a second SIGINT means "kill now" to it).
    const child = spawn(process.execPath, [BKC_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    if (child.pid === undefined) {
      child.once('error', () => {})
      rmSync(tmp, { recursive: true, force: true })
      throw new Error(`cannot start ${BKC_BIN} devnet`)
    }
    const devnet = new DevnetChild(child, dir, netPrefix, tmp)
    devnet.nodes = Array.from({ length: opts.nodes }, (_, i) => ({
      name: `node${i}`,
      rpcUrl: `http://${nodeHost(netPrefix, i)}:${RPC_PORT}`,
      address: null,
    }))
    return devnet
  }

  get pid(): number {
    return this.child.pid!
  }

  get running(): boolean {
    return this.exit === null
  }

  /** The devnet's last lines of output, for error messages. */
  tail(): string {
    return [...this.lines.slice(-TAIL_LINES), this.partial].filter((l) => l !== '').join('\n')
  }

  /** Waits for the node table; then the miner addresses are known. Throws on exit, timeout or `signal`. */
  async waitReady(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.lines.some((l) => l.includes(READY_MARK))) {
      signal.throwIfAborted()
      if (!this.running) throw new Error(`bkc devnet exited during startup (${this.describeExit()}):\n${this.tail()}`)
      if (Date.now() > deadline) throw new Error(`bkc devnet printed no node table within ${timeoutMs / 1000} s:\n${this.tail()}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const file = readDevnetFile(this.dir)
    for (const m of file?.miners ?? []) {
      const node = this.nodes[m.node]
      if (node) node.address = m.address
    }
  }

  private describeExit(): string {
    if (!this.exit) return 'running'
    return this.exit.signal !== null ? `killed by ${this.exit.signal}` : `exit code ${String(this.exit.code)}`
  }

  /** The node pids the devnet recorded (pids.json), for the last-resort kill. */
  private nodePids(): number[] {
    try {
      const json = JSON.parse(readFileSync(join(this.dir, PIDS_FILE), 'utf8')) as { nodes?: Array<{ pid?: unknown }> }
      return (json.nodes ?? []).map((n) => n.pid).filter((p): p is number => Number.isSafeInteger(p) && (p as number) > 0)
    } catch {
      return []
    }
  }

  /** SIGKILL to the devnet and its recorded nodes, then the temp directory goes; synchronous, for an 'exit' hook. */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL')
    this.killNodes()
    this.removeDir()
  }

  private killNodes(): void {
    for (const pid of this.nodePids()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }

  private removeDir(): void {
    if (this.removed) return
    this.removed = true
    rmSync(this.tmp, { recursive: true, force: true })
  }

  /** SIGINT and a bounded wait; SIGKILL after it. Removes the temp directory. */
  async stop(): Promise<StopOutcome> {
    try {
      if (!this.running) {
        this.killNodes()
        return { how: 'had exited', code: this.exit!.code }
      }
      this.child.kill('SIGINT')
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_GRACE_MS))),
      ])
      clearTimeout(timer)
      if (!timedOut) {
        // A clean stop removes pids.json; if it is still there, some node may have outlived the devnet.
        if (existsSync(join(this.dir, PIDS_FILE))) this.killNodes()
        return { how: 'stopped', code: this.exit!.code }
      }
      this.child.kill('SIGKILL')
      await this.exited
      this.killNodes()
      return { how: 'killed' }
    } finally {
      this.removeDir()
    }
  }
}
