// `bkc devnet`, the pure part: option checking, where each node listens, the
// `bkc start` arguments it gets, and the table printed once the nodes run.
// The layout mirrors the report's lab: node i on 127.0.(53+i).5 as on
// 192.168.(53+i).5, every node on the same P2P and RPC ports.
import { join, relative, isAbsolute } from 'node:path'
import type { LogLevel } from '../../lib/log.js'
import { decimal, UsageError } from '../options.js'
import { DEFAULT_P2P_PORT, DEFAULT_RPC_PORT } from '../../protocol/chain/defaults.js'
import { parseSize, ValidatorConfigError } from '../../node/validator/config.js'

export const DEFAULT_NODES = 5
export const DEFAULT_MINERS = 3
/** Third octets 53..72: the report's first subnet, and room for 20 nodes below 73. */
export const FIRST_SUBNET = 53
export const MAX_NODES = 20
export const DEFAULT_NET_PREFIX = '127.0'
/** The report's scripts assume the default RPC port (BKC_RPC_PORT otherwise), so the devnet keeps it. */
export const RPC_PORT = DEFAULT_RPC_PORT

export function parseNodeCount(v: unknown): number {
  const n = decimal(v)
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES)
    throw new UsageError(`--nodes must be an integer from 1 to ${MAX_NODES}, got "${String(v)}"`)
  return n
}

/** `--miners` defaults to 3 but never to more than there are nodes; an explicit value must fit. */
export function resolveMiners(v: unknown, nodes: number): number {
  if (v === undefined) return Math.min(DEFAULT_MINERS, nodes)
  const n = decimal(v)
  if (!Number.isInteger(n) || n < 0 || n > nodes)
    throw new UsageError(`--miners must be an integer from 0 to --nodes (${nodes}), got "${String(v)}"`)
  return n
}

/**
 * The first two octets of every node address. Only 127.x: the devnet binds
 * loopback addresses nobody else can reach, and Linux routes all of 127/8 to lo.
 */
export function parseNetPrefix(v: unknown): string {
  const m = typeof v === 'string' ? /^127\.(0|[1-9][0-9]{0,2})$/.exec(v) : null
  if (!m || Number(m[1]) > 255) throw new UsageError(`--net-prefix must be 127.N with N from 0 to 255 (loopback only), got "${String(v)}"`)
  return v as string
}

export function parseBasePort(v: unknown): number {
  const n = decimal(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535 || n === RPC_PORT) {
    throw new UsageError(`--base-port must be a port number from 1 to 65535 other than the RPC port ${RPC_PORT}, got "${String(v)}"`)
  }
  return n
}

/**
 * --pom-memory / --pos-disk: checked here, so a bad size fails before any
 * node starts; passed on to `bkc start` as written.
 */
export function parseSizeFlag(flag: string) {
  return (v: unknown): string => {
    try {
      parseSize(v, `--${flag}`)
    } catch (err) {
      if (err instanceof ValidatorConfigError) throw new UsageError(err.message)
      throw err
    }
    return String(v).trim()
  }
}

export interface DevnetOptions {
  nodes: number
  miners: number
  /** Absolute path of the devnet directory. */
  dir: string
  /** Absolute path of the network file, or undefined for the shipped devnet. */
  network?: string
  logLevel: LogLevel
  netPrefix: string
  p2pPort: number
  /**
   * A slots network (dsc): the miners validate, node 0 with proof of work,
   * node 1 of memory, node 2 of space, then again; sizes from these.
   */
  validators?: { pomMemory: string; posDisk: string }
}

export type ValidatorKind = 'pow' | 'pom' | 'pos'
const KINDS: readonly ValidatorKind[] = ['pow', 'pom', 'pos']

export interface NodePlan {
  index: number
  name: string
  host: string
  /** The last two octets, as the report's scripts take them ("53.5"). */
  subnet: string
  p2pPort: number
  rpcPort: number
  rpcUrl: string
  dataDir: string
  logFile: string
  /** Index of the miner account this node mines with, or null. */
  miner: number | null
  /** On a slots network, how this node's validator searches (miners only). */
  validator: ValidatorKind | null
  /** `bkc start` arguments (after the script path). */
  args: string[]
}

export function nodeHost(netPrefix: string, index: number): string {
  return `${netPrefix}.${FIRST_SUBNET + index}.5`
}

export function minerName(index: number): string {
  return `miner${index}`
}

/** Node 0 is the hub everyone bootstraps to; ADDR gossip wires the rest together. */
export function planNodes(opts: DevnetOptions): NodePlan[] {
  const hub = nodeHost(opts.netPrefix, 0)
  const bootstrap = opts.p2pPort === DEFAULT_P2P_PORT ? hub : `${hub}:${opts.p2pPort}`
  const plans: NodePlan[] = []
  for (let i = 0; i < opts.nodes; i++) {
    const host = nodeHost(opts.netPrefix, i)
    const dataDir = join(opts.dir, `node${i}`)
    const args = ['start', '--listen', host, '--port', String(opts.p2pPort), '--rpc-port', String(RPC_PORT), '--data-dir', dataDir]
    if (opts.network !== undefined) args.push('--network', opts.network)
    args.push('--log-level', opts.logLevel)
    if (i > 0) args.push('--bootstrap', bootstrap)
    const validator = opts.validators && i < opts.miners ? KINDS[i % KINDS.length]! : null
    if (validator !== null) {
      args.push('--validator', validator)
      if (validator === 'pom') args.push('--memory', opts.validators!.pomMemory)
      if (validator === 'pos') args.push('--disk', opts.validators!.posDisk)
    }
    plans.push({
      index: i,
      name: `node${i}`,
      host,
      subnet: `${FIRST_SUBNET + i}.5`,
      p2pPort: opts.p2pPort,
      rpcPort: RPC_PORT,
      rpcUrl: `http://${host}:${RPC_PORT}`,
      dataDir,
      logFile: join(dataDir, 'node.log'),
      miner: i < opts.miners ? i : null,
      validator,
      args,
    })
  }
  return plans
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function formatColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)))
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length)))
      .join('  ')
      .trimEnd(),
  )
}

/** The node table: `addresses[i]` is miner i's account address (absent: not known). */
export function formatNodeTable(plans: readonly NodePlan[], addresses: ReadonlyArray<string | undefined>): string[] {
  const slots = plans.some((p) => p.validator !== null)
  const rows = [['node', 'address', 'RPC', 'P2P', ...(slots ? ['proof'] : []), 'account']]
  for (const p of plans) {
    const account = p.miner === null ? '—' : `${minerName(p.miner)} ${addresses[p.miner] ?? '(unknown)'}`
    rows.push([p.name, p.host, p.rpcUrl, `${p.host}:${p.p2pPort}`, ...(slots ? [p.validator ?? '—'] : []), account])
  }
  return formatColumns(rows)
}

/**
 * How to reach the devnet with the report's scripts: a balance query for the
 * first miner's account on another node than its own (when there is one), so
 * the line shows the account's coins travelled over P2P.
 */
export function scriptsHint(plans: readonly NodePlan[], netPrefix: string, firstAddress: string | undefined, scriptPath: string): string {
  const target = plans[Math.min(1, plans.length - 1)]!
  return `scripts: BKC_NET_PREFIX=${netPrefix} ${scriptPath} ${firstAddress ?? '<ADDRESS>'} ${target.subnet}`
}

/** A path to show the user: relative to `cwd` when it lies below it, else absolute. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
}
