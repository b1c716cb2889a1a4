// One devnet node as a child process: `bkc start` with its output appended
// to <data dir>/node.log, stopped with SIGTERM and, if it hangs, SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readSync, fstatSync, writeSync } from 'node:fs'
import type { NodePlan } from './plan.js'

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export function describeExit(e: ExitInfo): string {
  return e.signal !== null ? `killed by ${e.signal}` : `exit code ${String(e.code)}`
}

/**
 * The last `lines` lines of a file from byte `from` on (reading at most its
 * last 64 KiB); '' when it cannot be read.
 */
export function tailFile(path: string, lines: number, from = 0): string {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return ''
  }
  try {
    const size = fstatSync(fd).size
    const start = Math.max(from, size - 64 * 1024)
    if (start >= size) return ''
    const buf = Buffer.alloc(size - start)
    readSync(fd, buf, 0, buf.length, start)
    const text = buf.toString('utf8').replace(/\n+$/, '')
    return text.split('\n').slice(-lines).join('\n')
  } finally {
    closeSync(fd)
  }
}

export class NodeProcess {
  private exitInfo: ExitInfo | null = null
  private scanned: number
  private readonly logStart: number
  private partialLine = ''
  /** Resolves once the process has exited (or could not be started). */
  readonly exited: Promise<ExitInfo>

  private constructor(
    readonly plan: NodePlan,
    private readonly child: ChildProcess,
    readonly pid: number,
    logStart: number,
  ) {
    this.logStart = logStart
    this.scanned = logStart
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        resolve(this.exitInfo)
      })
    })
  }

  /** Starts `node <bkcScript> <plan.args>`; throws when the process cannot be created. */
  static spawn(plan: NodePlan, bkcScript: string): NodeProcess {
    mkdirSync(plan.dataDir, { recursive: true })
    const log = openSync(plan.logFile, 'a')
    try {
      const logStart = fstatSync(log).size
      writeSync(log, `\n=== bkc devnet: starting ${plan.name} at ${new Date().toISOString()} ===\n`)
      const child = spawn(process.execPath, [bkcScript, ...plan.args], {
        stdio: ['ignore', log, log],
        // Its own process group: a Ctrl-C at the terminal reaches only the
        // devnet, which then stops the nodes in order (a node that got
        // SIGINT from the terminal and SIGTERM from us would take the second
        // signal as "exit now").
        detached: true,
      })
      if (child.pid === undefined) {
        // The 'error' event follows; without a pid there is nothing to manage.
        child.once('error', () => {})
        throw new Error(`cannot start ${plan.name}: ${process.execPath} ${bkcScript} did not start`)
      }
      return new NodeProcess(plan, child, child.pid, logStart)
    } finally {
      closeSync(log) // the child holds its own copy
    }
  }

  get exit(): ExitInfo | null {
    return this.exitInfo
  }

  get running(): boolean {
    return this.exitInfo === null
  }

  /** The end of what this run of the node wrote to its log. */
  logTail(lines = 15): string {
    return tailFile(this.plan.logFile, lines, this.logStart)
  }

  /**
   * Whether this run of the node has written a log line that `match`
   * accepts. Reads only what was appended since the last call, so polling
   * it stays cheap however long the log grows.
   */
  logged(match: (line: string) => boolean): boolean {
    let fd: number
    try {
      fd = openSync(this.plan.logFile, 'r')
    } catch {
      return false
    }
    try {
      const buf = Buffer.alloc(64 * 1024)
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.scanned)
        if (n === 0) return false
        this.scanned += n
        const lines = (this.partialLine + buf.toString('utf8', 0, n)).split('\n')
        // A line cut at the chunk's end is completed by the next read; a
        // multi-byte character cut there only garbles that one line.
        this.partialLine = lines.pop()!.slice(-4096)
        if (lines.some(match)) return true
      }
    } finally {
      closeSync(fd)
    }
  }

  /** Sends SIGKILL now (last resort; also used from the 'exit' safety net, so synchronous). */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL')
  }

  /**
   * SIGTERM, then SIGKILL after `graceMs`. Resolves with how it ended:
   * 'stopped' on its own after SIGTERM, 'killed', or 'exited' when it had
   * already exited before.
   */
  async stop(graceMs: number): Promise<'stopped' | 'killed' | 'exited'> {
    if (!this.running) return 'exited'
    this.child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))
    const result = await Promise.race([this.exited.then(() => false as const), timedOut])
    clearTimeout(timer)
    if (!result) return 'stopped'
    this.kill()
    await this.exited
    return 'killed'
  }
}
