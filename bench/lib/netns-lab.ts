// A throwaway network lab built from Linux network namespaces: one namespace
// per logical host plus a 'switch' namespace holding a bridge, every host
// plugged into it through a veth pair, all hosts on one private /24. Nothing
// is ever created in the root namespace, not even transiently: each veth pair
// is born inside its host namespace with the peer end created directly in
// the switch namespace, so the machine's own interfaces and routes are never
// touched and no lab traffic can leave the lab.
//
// Usage from a tap test (teardown always runs, even when an assertion throws):
//
//   const reason = canRunNetns()
//   if (reason) { t.plan(0, reason); return }
//   const lab = await NetnsLab.create({ hosts: ['a', 'b'] })
//   t.teardown(() => lab.destroy())
//
// `ip netns exec NS CMD` setns()es and then execvp()s CMD, so a spawned
// child's pid is CMD's own pid and signalling it reaches the real program.
// If the test process dies anyway, an 'exit' hook (and a re-raising hook for
// the usual termination signals, SIGALRM being tap's timeout) kills what is
// left and deletes the namespaces synchronously.
import { execFile, execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'

export interface ExecResult {
  stdout: string
  stderr: string
  /** Exit code, or null when the command was killed by a signal (see `signal`, `timedOut`). */
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
}

export interface ExecOptions {
  /** Default 30 s; on expiry the command gets SIGTERM, then SIGKILL. */
  timeoutMs?: number
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer
}

export interface SpawnOptions {
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Default 'pipe' for all three, as in child_process.spawn: consume stdout/stderr or they fill up. */
  stdio?: StdioOptions
}

export interface LabOptions {
  /** Logical host names, e.g. ['sim', 'h1', 'h2']: letters, digits, '_'; at most 240. */
  hosts: string[]
  /** 'A.B.C.0/24' (only /24). Default 10.<200..250>.<0..255>.0/24. */
  subnet?: string
}

const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']
const IP = IP_CANDIDATES.find((p) => existsSync(p)) ?? 'ip'
const HOST_IF = 'lab0'
const BRIDGE = 'br0'
const SWITCH = 'switch'
const IP_TIMEOUT_MS = 10_000
const KILL_GRACE_MS = 3000
const EXEC_OUTPUT_LIMIT = 64 * 1024 * 1024

let cachedReason: string | null | undefined

/** Null when this process may build a lab, else why not (for tap's skip message). */
export function canRunNetns(): string | null {
  if (cachedReason !== undefined) return cachedReason
  cachedReason = probeNetns()
  return cachedReason
}

function probeNetns(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (platform ${process.platform})`
  const uid = process.getuid?.()
  if (uid !== 0) return `needs root for network namespaces (uid ${uid})`
  try {
    execFileSync(IP, ['-V'], { stdio: 'ignore', timeout: IP_TIMEOUT_MS })
  } catch {
    return `the 'ip' binary (iproute2) is not usable`
  }
  const probe = `${labPrefix()}-probe`
  try {
    execFileSync(IP, ['netns', 'add', probe], { stdio: 'pipe', timeout: IP_TIMEOUT_MS })
  } catch (err) {
    return `'ip netns add' is not permitted here: ${firstLine(err)}`
  }
  try {
    execFileSync(IP, ['netns', 'del', probe], { stdio: 'pipe', timeout: IP_TIMEOUT_MS })
  } catch (err) {
    return `'ip netns del' failed for probe namespace ${probe}: ${firstLine(err)}`
  }
  return null
}

/** `bkc<pid base36><4 random base36>`: unique per run, so parallel test files never collide. */
function labPrefix(): string {
  const rand = (randomBytes(4).readUInt32BE(0) % 36 ** 4).toString(36).padStart(4, '0')
  return `bkc${process.pid.toString(36)}${rand}`
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: Buffer | string; message?: string }
  const text = (e.stderr?.toString() || e.message || String(err)).trim()
  return text.split('\n')[0] ?? text
}

function parseSubnet24(subnet: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet)
  if (!m || m.slice(1, 4).some((o) => Number(o) > 255)) throw new Error(`subnet must look like A.B.C.0/24, got '${subnet}'`)
  return `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}`
}

function randomSubnet(): string {
  return `10.${200 + Math.floor(Math.random() * 51)}.${Math.floor(Math.random() * 256)}.0/24`
}

function runIp(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(IP, args, { timeout: IP_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve()
    })
  })
}

function isAlive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null
}

/** ESRCH just means it exited between our check and the signal. */
function killQuietly(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// One set of process hooks for all live labs, so many labs never pile up listeners.
const liveLabs = new Set<NetnsLab>()
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM']

function onProcessExit(): void {
  for (const lab of [...liveLabs]) lab.destroySync()
}

function onSignal(sig: NodeJS.Signals): void {
  onProcessExit()
  unhookProcess()
  // With our listeners gone the default action (or tap's signal-exit handler,
  // which stands back while other listeners exist) ends the process as it would have.
  process.kill(process.pid, sig)
}

function hookProcess(): void {
  if (liveLabs.size !== 1) return
  process.on('exit', onProcessExit)
  for (const sig of SIGNALS) process.on(sig, onSignal)
}

function unhookProcess(): void {
  process.off('exit', onProcessExit)
  for (const sig of SIGNALS) process.off(sig, onSignal)
}

export class NetnsLab {
  readonly prefix: string
  readonly subnet: string
  readonly hosts: readonly string[]
  readonly switchNs: string
  private readonly created: string[] = []
  private readonly children = new Set<ChildProcess>()
  private destroyed = false

  private constructor(prefix: string, subnet: string, hosts: readonly string[]) {
    this.prefix = prefix
    this.subnet = subnet
    this.hosts = hosts
    this.switchNs = `${prefix}-${SWITCH}`
  }

  /** Builds the lab; on any failure it removes whatever it made and rethrows. */
  static async create(opts: LabOptions): Promise<NetnsLab> {
    const hosts = [...opts.hosts]
    if (hosts.length === 0 || hosts.length > 240) throw new Error(`a lab needs 1..240 hosts, got ${hosts.length}`)
    for (const h of hosts) {
      if (!/^[A-Za-z0-9_]{1,32}$/.test(h)) throw new Error(`bad host name '${h}'`)
      if (h === SWITCH) throw new Error(`'${SWITCH}' is reserved for the bridge namespace`)
    }
    if (new Set(hosts).size !== hosts.length) throw new Error(`duplicate host names in ${hosts.join(',')}`)
    const subnet = opts.subnet ?? randomSubnet()
    parseSubnet24(subnet)
    const lab = new NetnsLab(labPrefix(), subnet, hosts)
    liveLabs.add(lab)
    hookProcess()
    try {
      await lab.build()
    } catch (err) {
      const errors = await lab.destroy()
      const extra = errors.length ? ` (cleanup: ${errors.join('; ')})` : ''
      throw new Error(`cannot build netns lab: ${(err as Error).message}${extra}`)
    }
    return lab
  }

  private async build(): Promise<void> {
    const sw = this.switchNs
    await this.addNamespace(sw)
    await runIp(['-n', sw, 'link', 'set', 'lo', 'up'])
    await runIp(['-n', sw, 'link', 'add', BRIDGE, 'type', 'bridge'])
    await runIp(['-n', sw, 'link', 'set', BRIDGE, 'up'])
    for (const [i, host] of this.hosts.entries()) {
      const ns = this.nsName(host)
      const port = `v${i}`
      await this.addNamespace(ns)
      await runIp(['-n', ns, 'link', 'set', 'lo', 'up'])
      await runIp(['-n', ns, 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', port, 'netns', sw])
      await runIp(['-n', sw, 'link', 'set', port, 'master', BRIDGE])
      await runIp(['-n', sw, 'link', 'set', port, 'up'])
      await runIp(['-n', ns, 'addr', 'add', `${this.addressOf(host)}/24`, 'dev', HOST_IF])
      await runIp(['-n', ns, 'link', 'set', HOST_IF, 'up'])
    }
    for (const host of this.hosts) await this.waitCarrier(host)
  }

  private async addNamespace(ns: string): Promise<void> {
    await runIp(['netns', 'add', ns])
    this.created.push(ns)
  }

  private async waitCarrier(host: string): Promise<void> {
    const ns = this.nsName(host)
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      const r = await this.rawExec([IP, '-n', ns, '-o', 'link', 'show', 'dev', HOST_IF], 5000)
      if (r.code === 0 && /LOWER_UP/.test(r.stdout)) return
      await sleep(50)
    }
    throw new Error(`${HOST_IF} in ${ns} never got carrier`)
  }

  /** All namespaces of this lab (hosts and switch) that exist or existed. */
  get namespaces(): readonly string[] {
    return [...this.created]
  }

  nsName(host: string): string {
    if (!this.hosts.includes(host)) throw new Error(`no host '${host}' in this lab (${this.hosts.join(', ')})`)
    return `${this.prefix}-${host}`
  }

  /** The host's lab address, A.B.C.(10+index). */
  addressOf(host: string): string {
    const i = this.hosts.indexOf(host)
    if (i < 0) throw new Error(`no host '${host}' in this lab (${this.hosts.join(', ')})`)
    return `${parseSubnet24(this.subnet)}.${10 + i}`
  }

  /** Starts CMD inside the host's namespace; the child is tracked and killed by destroy(). */
  spawn(host: string, cmd: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error('lab already destroyed')
    if (cmd.length === 0) throw new Error('empty command')
    const child = spawn(IP, ['netns', 'exec', this.nsName(host), ...cmd], {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: opts.stdio ?? 'pipe',
    })
    this.track(child)
    return child
  }

  /** Runs CMD inside the host's namespace to completion (bounded by `timeoutMs`). */
  exec(host: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (cmd.length === 0) return Promise.reject(new Error('empty command'))
    return this.rawExec([IP, 'netns', 'exec', this.nsName(host), ...cmd], opts.timeoutMs ?? 30_000, opts)
  }

  private rawExec(argv: string[], timeoutMs: number, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.destroyed) return Promise.reject(new Error('lab already destroyed'))
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: 'pipe' })
    this.track(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    let size = 0
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length
      if (size <= EXEC_OUTPUT_LIMIT) into.push(b)
    }
    child.stdout!.on('data', collect(out))
    child.stderr!.on('data', collect(err))
    child.stdin!.on('error', () => {}) // the command may exit without reading its input
    child.stdin!.end(opts.input ?? '')
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      void this.kill(child)
    }, timeoutMs)
    return new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null, extra = '') => {
        clearTimeout(timer)
        const stderr = Buffer.concat(err).toString('utf8') + extra
        resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr, code, signal, timedOut })
      }
      child.once('error', (e) => finish(null, null, `\nspawn failed: ${e.message}`))
      child.once('close', (code, signal) => finish(code, signal))
    })
  }

  private track(child: ChildProcess): void {
    this.children.add(child)
    const forget = () => this.children.delete(child)
    child.once('exit', forget)
    child.once('error', forget)
  }

  /**
   * Signals a child by pid (nothing if it already exited, so a recycled pid is
   * never hit), then SIGKILL after `graceMs`; resolves once it exited or, if
   * even SIGKILL went unanswered for 2 s, gives up.
   */
  async kill(
    child: ChildProcess,
    signal: NodeJS.Signals = 'SIGTERM',
    graceMs = KILL_GRACE_MS,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exited = new Promise<void>((resolve) => {
      if (!isAlive(child)) resolve()
      else child.once('exit', () => resolve())
    })
    const waitExit = async (ms: number) => {
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))
      const done = await Promise.race([exited.then(() => false), timedOut])
      clearTimeout(timer)
      return !done
    }
    const send = (sig: NodeJS.Signals) => {
      if (isAlive(child)) killQuietly(child.pid!, sig)
    }
    send(signal)
    if (!(await waitExit(graceMs))) {
      send('SIGKILL')
      await waitExit(2000)
    }
    return { code: child.exitCode, signal: child.signalCode }
  }

  /**
   * Kills tracked children (SIGTERM, SIGKILL after 3 s), then anything else
   * still living in the lab's namespaces (only our own descendants can be
   * there), then deletes the namespaces, which takes the veths and bridge
   * with them. Idempotent; never throws; returns what went wrong.
   */
  async destroy(): Promise<string[]> {
    if (this.destroyed) return []
    this.destroyed = true
    const errors: string[] = []
    await Promise.all(
      [...this.children].filter(isAlive).map(async (child) => {
        await this.kill(child)
        if (isAlive(child)) errors.push(`pid ${child.pid} survived SIGKILL`)
      }),
    )
    for (const ns of this.created) for (const pid of this.pidsIn(ns)) killQuietly(pid)
    for (const ns of [...this.created].reverse()) {
      try {
        await runIp(['netns', 'del', ns])
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
    this.created.length = 0
    this.forget()
    return errors
  }

  /** The synchronous last resort used by the process hooks; same order as destroy(). */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const child of this.children) if (isAlive(child)) killQuietly(child.pid!)
    for (const ns of [...this.created].reverse()) {
      for (const pid of this.pidsIn(ns)) killQuietly(pid)
      try {
        execFileSync(IP, ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 })
      } catch {
        // best effort: the process is going away
      }
    }
    this.created.length = 0
    this.forget()
  }

  private pidsIn(ns: string): number[] {
    try {
      const out = execFileSync(IP, ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
      return out
        .split(/\s+/)
        .filter(Boolean)
        .map(Number)
        .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid)
    } catch {
      return []
    }
  }

  private forget(): void {
    liveLabs.delete(this)
    if (liveLabs.size === 0) unhookProcess()
  }
}
