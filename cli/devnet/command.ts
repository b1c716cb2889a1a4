// `bkc devnet`: a local network of `bkc start` processes laid out like the
// report's lab (127.0.53.5, 127.0.54.5, …), the first --miners of them mining
// to accounts kept in <dir>/devnet.json, with a live status display, until
// SIGINT/SIGTERM stops every node.
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Argv } from 'yargs'
import { loadNetworkFile } from '../../node/chain/params.js'
import type { LogLevel } from '../../lib/log.js'
import { DEFAULT_NETWORK_FILE, PACKAGE_ROOT } from '../../node/paths.js'
import { APP } from '../../node/rpc/errors.js'
import {
  DEFAULT_NET_PREFIX,
  DEFAULT_NODES,
  displayPath,
  formatNodeTable,
  parseBasePort,
  parseNetPrefix,
  parseNodeCount,
  parseSizeFlag,
  planNodes,
  resolveMiners,
  RPC_PORT,
  scriptsHint,
  type NodePlan,
} from './plan.js'
import { DEFAULT_P2P_PORT } from '../../protocol/chain/defaults.js'
import { describeExit, NodeProcess } from './process.js'
import {
  checkDevnetDir,
  clearDevnetDir,
  DevnetError,
  ensureLocalNetworkFile,
  emptyDevnetFile,
  readDevnetFile,
  removePidsFile,
  runningDevnetPid,
  withMiners,
  writeDevnetFile,
  writePidsFile,
  type DevnetFile,
  type MinerRecord,
} from './state.js'
import {
  formatStatusBlock,
  formatStatusLine,
  shortHash,
  StatusBoard,
  toNodeStatus,
  toSlotShares,
  type NodeView,
  type SlotShares,
} from './status.js'
import { networkFileFlag, parseLogLevel, single } from '../options.js'
import { rpcCall, RpcReplyError } from '../rpc-client.js'

const READY_TIMEOUT_MS = 30_000
const STOP_GRACE_MS = 5_000
const TTY_REFRESH_MS = 2_000
const PLAIN_REFRESH_MS = 10_000
const LOG_TAIL_LINES = 15
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export function devnetOptions<T>(y: Argv<T>) {
  return (
    y
      .option('nodes', {
        type: 'string',
        requiresArg: true,
        default: DEFAULT_NODES,
        describe: 'how many nodes (1-20), on 127.0.53.5, 127.0.54.5, …',
        coerce: single('nodes', parseNodeCount),
      })
      .option('miners', {
        type: 'string',
        requiresArg: true,
        describe: 'how many of the first nodes mine [default: 3, at most --nodes]',
        coerce: single('miners', (v) => v),
      })
      .option('dir', {
        type: 'string',
        default: './devnet',
        describe: 'data directories, logs and devnet.json (the miner accounts)',
        coerce: single('dir', (v) => String(v)),
      })
      .option('fresh', { type: 'boolean', default: false, describe: 'delete the devnet in --dir first and start a new chain' })
      .option('network', {
        type: 'string',
        describe: 'network for every node: a shipped name (devnet) or a network file [default: devnet]',
        coerce: single('network', (v) => String(v)),
      })
      .option('log-level', {
        type: 'string',
        default: 'info',
        describe: "the nodes' log level (logs go to <dir>/node<i>/node.log)",
        coerce: single('log-level', parseLogLevel),
      })
      .option('base-port', {
        type: 'string',
        requiresArg: true,
        default: DEFAULT_P2P_PORT,
        describe: `P2P port of every node (RPC stays on ${RPC_PORT})`,
        coerce: single('base-port', parseBasePort),
      })
      .option('pom-memory', {
        type: 'string',
        requiresArg: true,
        default: '64M',
        describe: "slots networks (dsc): the proof-of-memory node's table",
        coerce: single('pom-memory', parseSizeFlag('pom-memory')),
      })
      .option('pos-disk', {
        type: 'string',
        requiresArg: true,
        default: '128M',
        describe: "slots networks (dsc): the proof-of-space node's vault",
        coerce: single('pos-disk', parseSizeFlag('pos-disk')),
      })
      // For tests: nodes on 127.N.53.5 … so they never meet a developer's devnet.
      .option('net-prefix', { type: 'string', default: DEFAULT_NET_PREFIX, hidden: true, coerce: single('net-prefix', parseNetPrefix) })
  )
}

export interface DevnetArgs {
  nodes: number
  miners?: unknown
  dir: string
  fresh: boolean
  network?: string
  logLevel: LogLevel
  basePort: number
  netPrefix: string
  pomMemory: string
  posDisk: string
}

export async function runDevnet(args: DevnetArgs): Promise<void> {
  const miners = resolveMiners(args.miners, args.nodes)
  const dir = resolve(args.dir)
  const explicit = args.network === undefined ? undefined : networkFileFlag(args.network)
  // A bad --network file is refused before anything in --dir is touched.
  const given = explicit === undefined ? null : loadNetworkFile(explicit)
  const bkcScript = join(PACKAGE_ROOT, 'dist', 'bin', 'bkc.js')
  if (!existsSync(bkcScript)) throw new DevnetError(`${bkcScript} is missing: build bkc first (npx tsc -p tsconfig.json)`)
  const layout = { nodes: args.nodes, miners, dir, logLevel: args.logLevel, netPrefix: args.netPrefix, p2pPort: args.basePort }
  const other = runningDevnetPid(dir)
  if (other !== undefined) throw new DevnetError(`a devnet (pid ${other}) is already running on ${dir}; stop it first`)
  if (!args.fresh) checkDevnetDir(dir)
  await checkAddressesFree(planNodes(layout))
  if (args.fresh) clearDevnetDir(dir)
  mkdirSync(dir, { recursive: true })
  // Without --network the devnet gets a retargeting network of its own (state.ts localDevnetNetwork).
  const networkFile = explicit ?? ensureLocalNetworkFile(dir, DEFAULT_NETWORK_FILE, Date.now())
  const network = given ?? loadNetworkFile(networkFile)
  const networkId = network.networkId
  const plans = planNodes({
    ...layout,
    network: networkFile,
    ...(network.engine.clock && { validators: { pomMemory: args.pomMemory, posDisk: args.posDisk } }),
  })
  const stored = readDevnetFile(dir) ?? emptyDevnetFile()
  if (stored.network !== null && stored.network !== networkId) {
    throw new DevnetError(
      `${dir} holds a devnet of network ${stored.network}, not ${networkId}: give its --network again, or start over with --fresh`,
    )
  }
  const file = withMiners({ ...stored, network: networkId }, miners)
  writeDevnetFile(dir, file)
  await new Devnet(plans, file, dir, bkcScript, args.netPrefix).run()
}

/** A node already answering on a planned address is another devnet's (or a lone `bkc start`). */
async function checkAddressesFree(plans: readonly NodePlan[]): Promise<void> {
  const answered = await Promise.all(
    plans.map((p) =>
      rpcCall(p.rpcUrl, 'getStatus', [], 1000).then(
        () => true,
        (err: unknown) => err instanceof RpcReplyError,
      ),
    ),
  )
  const busy = plans.filter((_, i) => answered[i]).map((p) => p.rpcUrl)
  if (busy.length > 0) throw new DevnetError(`something already answers on ${busy.join(', ')} (another devnet or bkc node?): stop it first`)
}

class Devnet {
  private readonly procs: NodeProcess[] = []
  private readonly tty = process.stdout.isTTY === true
  private readonly board = new StatusBoard(process.stdout)
  private stopping: string | null = null
  /** Every node answered: from now on a node that exits is reported, and the rest keep running. */
  private started = false
  /** Pending pauses, cut short when a stop is requested. */
  private readonly wakers = new Set<() => void>()
  private readonly onSignal = (signal: NodeJS.Signals): void => this.requestStop(signal)
  private readonly safetyNet = (): void => this.procs.forEach((p) => p.kill())

  constructor(
    private readonly plans: NodePlan[],
    private file: DevnetFile,
    private readonly dir: string,
    private readonly bkcScript: string,
    private readonly netPrefix: string,
  ) {}

  async run(): Promise<void> {
    // SIGHUP too: a closed terminal must not leave the nodes running on their own.
    for (const sig of STOP_SIGNALS) process.on(sig, this.onSignal)
    // If the devnet itself dies, its nodes must not live on unseen.
    process.on('exit', this.safetyNet)
    try {
      this.say(`bkc devnet: ${this.plans.length} node(s), network ${this.file.network}, in ${this.dir}`)
      const started = await this.startNodes()
      if (started && (await this.setUpMiners())) {
        this.printTable()
        await this.watch()
      }
      await this.shutdown()
    } catch (err) {
      this.stopping ??= 'error'
      await this.shutdown()
      throw err
    } finally {
      for (const sig of STOP_SIGNALS) process.off(sig, this.onSignal)
      process.off('exit', this.safetyNet)
    }
  }

  private say(text: string): void {
    if (this.tty) this.board.note(text)
    else process.stdout.write(text + '\n')
  }

  private requestStop(signal: string): void {
    if (this.stopping !== null) {
      this.say(`${signal} again: killing the nodes now`)
      this.procs.forEach((p) => p.kill())
      return
    }
    this.stopping = signal
    for (const wake of [...this.wakers]) wake()
  }

  /** Waits `ms`, or less when a stop is requested meanwhile; leaves no timer behind. */
  private pause(ms: number): Promise<void> {
    if (this.stopping !== null) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.wakers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.wakers.add(wake)
    })
  }

  /** Node 0 first (everyone bootstraps to it), then the rest together. False when stopped meanwhile. */
  private async startNodes(): Promise<boolean> {
    const [hub, ...rest] = this.plans
    for (const group of [[hub!], rest]) {
      if (this.stopping !== null) return false
      const procs = group.map((plan) => this.spawn(plan))
      const ready = await Promise.all(procs.map((p) => this.waitReady(p)))
      if (ready.includes(false)) return false
    }
    this.started = true
    return true
  }

  private spawn(plan: NodePlan): NodeProcess {
    const proc = NodeProcess.spawn(plan, this.bkcScript)
    this.procs.push(proc)
    writePidsFile(this.dir, { devnet: process.pid, nodes: this.procs.map((p) => ({ node: p.plan.index, pid: p.pid })) })
    void proc.exited.then((exit) => {
      // While starting, waitReady reports it (and the start fails).
      if (this.stopping !== null || !this.started) return
      this.say(
        `${plan.name} (pid ${proc.pid}) exited on its own (${describeExit(exit)}); the others keep running. Last lines of ${plan.logFile}:\n${indent(proc.logTail(LOG_TAIL_LINES))}`,
      )
    })
    return proc
  }

  /** Polls getStatus until the node answers; throws when it exits or stays silent. */
  private async waitReady(proc: NodeProcess): Promise<boolean> {
    const { plan } = proc
    const deadline = Date.now() + READY_TIMEOUT_MS
    let lastError = ''
    for (;;) {
      if (this.stopping !== null) return false
      if (!proc.running) {
        throw new DevnetError(
          `${plan.name} exited during startup (${describeExit(proc.exit!)}). Last lines of ${plan.logFile}:\n${indent(proc.logTail(LOG_TAIL_LINES))}`,
        )
      }
      try {
        // The log line first: until our node says it is ready, an answer on
        // its address could come from some other process.
        const status = proc.logged((line) => line.includes('node ready') && line.includes(plan.rpcUrl))
          ? toNodeStatus(await rpcCall(plan.rpcUrl, 'getStatus', [], 2000))
          : undefined
        if (status) {
          this.say(`${plan.name} ready at ${plan.rpcUrl} (pid ${proc.pid}, height ${status.height})`)
          return true
        }
        lastError = 'no "node ready" in its log yet'
      } catch (err) {
        lastError = (err as Error).message
      }
      if (Date.now() >= deadline) {
        throw new DevnetError(
          `${plan.name} did not answer on ${plan.rpcUrl} within ${READY_TIMEOUT_MS / 1000} s (${lastError}). Last lines of ${plan.logFile}:\n${indent(proc.logTail(LOG_TAIL_LINES))}`,
        )
      }
      await this.pause(250)
    }
  }

  /** Creates (or reopens) each miner's account on its node, then starts mining. False when stopped meanwhile. */
  private async setUpMiners(): Promise<boolean> {
    const miners = this.plans.filter((p) => p.miner !== null)
    for (const plan of miners) {
      if (this.stopping !== null) return false
      const record = this.file.miners[plan.miner!]!
      const address = await this.ensureAccount(plan, record)
      if (record.address !== address) {
        this.file = { ...this.file, miners: this.file.miners.map((m) => (m === record ? { ...m, address } : m)) }
        writeDevnetFile(this.dir, this.file)
      }
    }
    for (const plan of miners) {
      if (this.stopping !== null) return false
      const record = this.file.miners[plan.miner!]!
      await rpcCall(plan.rpcUrl, 'mining', [record.name, record.password], 30_000).catch((err: Error) => {
        throw new DevnetError(`cannot start mining on ${plan.name}: ${err.message}`)
      })
    }
    return this.stopping === null
  }

  private async ensureAccount(plan: NodePlan, record: MinerRecord): Promise<string> {
    const where = `${record.name} on ${plan.name}`
    let address: unknown
    try {
      address = await rpcCall(plan.rpcUrl, 'createAccount', [record.name, record.password], 30_000)
    } catch (err) {
      if (!(err instanceof RpcReplyError && err.code === APP.ACCOUNT_EXISTS))
        throw new DevnetError(`cannot create ${where}: ${(err as Error).message}`)
      // A later run: the account is in the node's keystore already.
      try {
        address = await rpcCall(plan.rpcUrl, 'loadAccount', [record.name, record.password], 30_000)
      } catch (err2) {
        const hint =
          err2 instanceof RpcReplyError && err2.code === APP.WRONG_PASSWORD
            ? ` (the password in ${join(this.dir, 'devnet.json')} does not open it; --fresh starts over)`
            : ''
        throw new DevnetError(`cannot open ${where}: ${(err2 as Error).message}${hint}`)
      }
    }
    if (typeof address !== 'string') throw new DevnetError(`${where}: the node answered ${JSON.stringify(address)} instead of an address`)
    if (record.address !== null && record.address !== address) {
      throw new DevnetError(`${where} has address ${address}, but devnet.json records ${record.address}; start over with --fresh`)
    }
    return address
  }

  private printTable(): void {
    const addresses = this.file.miners.map((m) => m.address ?? undefined)
    const script = displayPath(join(PACKAGE_ROOT, 'test', 'scripts', 'getBalance.sh'), process.cwd())
    const lines = [
      '',
      ...formatNodeTable(this.plans, addresses),
      '',
      scriptsHint(this.plans, this.netPrefix, addresses[0], script),
      'Ctrl-C stops every node; running again resumes the chain (--fresh starts over).',
      '',
    ]
    this.say(lines.join('\n'))
  }

  /** Shows the status until a signal arrives, or until every node has exited (an error). */
  private async watch(): Promise<void> {
    const interval = this.tty ? TTY_REFRESH_MS : PLAIN_REFRESH_MS
    while (this.stopping === null) {
      const views = await this.poll()
      const shares = await this.shares()
      if (this.stopping !== null) break
      if (this.tty) this.board.draw(formatStatusBlock(views, new Date(), shares))
      else process.stdout.write(formatStatusLine(views, new Date(), shares) + '\n')
      if (this.procs.every((p) => !p.running)) throw new DevnetError('every node has exited; see the logs in ' + this.dir)
      await this.pause(interval)
    }
  }

  /** On a slots network, who won the recent blocks (asked of the first node that answers). */
  private async shares(): Promise<SlotShares | undefined> {
    const keys = new Map<string, { name: string; proofType: string }>()
    for (const p of this.plans) {
      const address = p.miner === null ? null : this.file.miners[p.miner]?.address
      if (p.validator !== null && address) keys.set(address, { name: p.name, proofType: p.validator })
    }
    if (keys.size === 0) return undefined
    for (const proc of this.procs) {
      if (!proc.running) continue
      try {
        return toSlotShares(await rpcCall(proc.plan.rpcUrl, 'getValidators', [100], 1500), keys)
      } catch {}
    }
    return undefined
  }

  private poll(): Promise<NodeView[]> {
    return Promise.all(
      this.procs.map(async (proc): Promise<NodeView> => {
        const name = proc.plan.name
        if (!proc.running) return { name, state: 'down', exit: describeExit(proc.exit!) }
        try {
          const status = toNodeStatus(await rpcCall(proc.plan.rpcUrl, 'getStatus', [], 1500))
          return status ? { name, state: 'up', status } : { name, state: 'unreachable', error: 'unexpected getStatus result' }
        } catch (err) {
          return { name, state: 'unreachable', error: (err as Error).message }
        }
      }),
    )
  }

  /** Stops every node (SIGTERM, SIGKILL after 5 s) and prints how each ended. */
  private async shutdown(): Promise<void> {
    this.stopping ??= 'shutdown'
    if (this.procs.length === 0) return
    const final = await this.poll()
    const running = this.procs.filter((p) => p.running).length
    if (running > 0) this.say(`\nstopping ${running} node(s) (${this.stopping})…`)
    const outcomes = await Promise.all(this.procs.map((p) => p.stop(STOP_GRACE_MS)))
    if (this.procs.every((p) => !p.running)) removePidsFile(this.dir, process.pid)
    const lines = this.procs.map((p, i) => {
      const view = final[i]!
      const at = view.state === 'up' ? ` at height ${view.status.height} (${shortHash(view.status.hash)})` : ''
      const how =
        outcomes[i] === 'stopped'
          ? `stopped (${describeExit(p.exit!)})`
          : outcomes[i] === 'killed'
            ? `did not stop within ${STOP_GRACE_MS / 1000} s: killed`
            : `had exited earlier (${describeExit(p.exit!)})`
      return `  ${p.plan.name} pid ${p.pid}: ${how}${at}`
    })
    if (this.stopping !== 'error') lines.push(`data kept in ${this.dir}: run bkc devnet again to resume, --fresh to start over`)
    this.say(lines.join('\n'))
  }
}

function indent(text: string): string {
  return text === ''
    ? '  (empty log)'
    : text
        .split('\n')
        .map((l) => `  | ${l}`)
        .join('\n')
}
