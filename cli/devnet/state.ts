// `bkc devnet`'s files: devnet.json (the miner accounts' names, passwords and
// addresses, so a second run mines to the same accounts), pids.json (which
// processes make up a running devnet) and the checks that keep --fresh from
// deleting anything that is not a devnet.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../../lib/files.js'
import { isHexOfLength } from '../../protocol/wire/bytes.js'
import { ADDRESS_BYTES } from '../../protocol/chain/keys.js'
import { minerName } from './plan.js'

export const DEVNET_FILE = 'devnet.json'
export const PIDS_FILE = 'pids.json'
const FILE_VERSION = 1

/** A devnet directory or file that cannot be used as it is (exit 1 with the reason). */
export class DevnetError extends Error {
  override name = 'DevnetError'
}

export interface MinerRecord {
  name: string
  /** The node whose keystore holds the account. */
  node: number
  password: string
  /** Null until the account has been created. */
  address: string | null
}

export interface DevnetFile {
  version: typeof FILE_VERSION
  /** The network id the nodes' chains belong to; null until known. */
  network: string | null
  miners: MinerRecord[]
}

export function newPassword(): string {
  return randomBytes(18).toString('base64url')
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Parses and checks devnet.json; `where` names the file in errors. */
export function parseDevnetFile(text: string, where: string): DevnetFile {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new DevnetError(`${where} is not valid JSON: ${(err as Error).message}`)
  }
  const bad = (what: string): never => {
    throw new DevnetError(`${where}: ${what} (fix it, or start over with --fresh)`)
  }
  if (!isRecord(json)) return bad('not a JSON object')
  if (json.version !== FILE_VERSION) bad(`unknown version ${JSON.stringify(json.version)}, expected ${FILE_VERSION}`)
  const network = json.network
  if (network !== null && (typeof network !== 'string' || network.length === 0)) bad('"network" must be a network id or null')
  const miners = json.miners
  if (!Array.isArray(miners)) return bad('"miners" must be a list')
  const out: MinerRecord[] = miners.map((m: unknown, i) => {
    if (!isRecord(m)) return bad(`miners[${i}] is not an object`)
    if (m.name !== minerName(i)) bad(`miners[${i}].name must be "${minerName(i)}"`)
    if (m.node !== i) bad(`miners[${i}].node must be ${i}`)
    const password = m.password
    if (typeof password !== 'string' || password.length === 0 || password.length > 1024)
      bad(`miners[${i}].password must be a non-empty string`)
    const address = m.address
    if (address !== null && !isHexOfLength(address, ADDRESS_BYTES))
      bad(`miners[${i}].address must be ${ADDRESS_BYTES * 2} hex digits or null`)
    return { name: minerName(i), node: i, password: password as string, address: address as string | null }
  })
  return { version: FILE_VERSION, network: network as string | null, miners: out }
}

/** Adds records (with fresh passwords) for miners the file does not list yet; never drops any. */
export function withMiners(file: DevnetFile, count: number, password: () => string = newPassword): DevnetFile {
  const miners = [...file.miners]
  for (let i = miners.length; i < count; i++) miners.push({ name: minerName(i), node: i, password: password(), address: null })
  return { ...file, miners }
}

export function emptyDevnetFile(): DevnetFile {
  return { version: FILE_VERSION, network: null, miners: [] }
}

/** Reads `<dir>/devnet.json`, or undefined when there is none. */
export function readDevnetFile(dir: string): DevnetFile | undefined {
  const path = join(dir, DEVNET_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new DevnetError(`cannot read ${path}: ${(err as Error).message}`)
  }
  return parseDevnetFile(text, path)
}

/** Writes `<dir>/devnet.json` whole (temp file + rename), readable by its owner only: it holds passwords. */
export function writeDevnetFile(dir: string, file: DevnetFile): void {
  writeFileAtomicSync(join(dir, DEVNET_FILE), JSON.stringify(file, null, 2) + '\n', 0o600)
}

/**
 * Checks that `dir` can hold a devnet: missing, empty, or holding a
 * devnet.json. Anything else is someone's other files, which neither a run
 * nor --fresh may touch.
 */
export function checkDevnetDir(dir: string): 'absent' | 'empty' | 'devnet' {
  let entries: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new DevnetError(`${dir} exists and is not a directory`)
    entries = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent'
    if (err instanceof DevnetError) throw err
    throw new DevnetError(`cannot read ${dir}: ${(err as Error).message}`)
  }
  if (entries.length === 0) return 'empty'
  if (entries.includes(DEVNET_FILE)) return 'devnet'
  throw new DevnetError(`${dir} is not empty and holds no ${DEVNET_FILE}: it does not look like a devnet directory; pick another --dir`)
}

/**
 * --fresh: removes what a devnet keeps in `dir` (devnet.json, pids.json and
 * the node<i> directories) and then `dir` itself when nothing else is left.
 */
/** The devnet's own network file, made at its first start (`localDevnetNetwork`). */
export const NETWORK_FILE = 'network.json'

/**
 * The network of a devnet started without --network: the shipped devnet's
 * rules with ASERT retargeting anchored at the devnet's first start, so the
 * target follows however many miners this machine runs. A network of its
 * own (the anchor is in its id and genesis): `bkc start` alone keeps the
 * shipped devnet's fixed target.
 */
export function localDevnetNetwork(shipped: Record<string, unknown>, now: number): Record<string, unknown> {
  const consensus = { ...(shipped.consensus as Record<string, unknown>) }
  consensus.maxFutureBlockTimeMs = 15_000
  consensus.retarget = { rule: 'asert', halfLifeMs: 180_000, powLimit: `0000${'f'.repeat(60)}`, anchorTimeMs: now }
  return { ...shipped, name: 'devnet (local)', networkId: `${String(shipped.networkId)}-${now.toString(36)}`, consensus }
}

/** `dir`'s network file, written from `localDevnetNetwork` when it has none yet. */
export function ensureLocalNetworkFile(dir: string, shippedPath: string, now: number): string {
  const path = join(dir, NETWORK_FILE)
  if (!existsSync(path)) {
    const shipped = JSON.parse(readFileSync(shippedPath, 'utf8')) as Record<string, unknown>
    writeFileAtomicSync(path, `${JSON.stringify(localDevnetNetwork(shipped, now), null, 2)}\n`, 0o644)
  }
  return path
}

export function clearDevnetDir(dir: string): void {
  if (checkDevnetDir(dir) !== 'devnet') return
  for (const entry of readdirSync(dir)) {
    if (
      entry === DEVNET_FILE ||
      entry === `${DEVNET_FILE}.tmp` ||
      entry === PIDS_FILE ||
      entry === NETWORK_FILE ||
      /^node[0-9]+$/.test(entry)
    ) {
      rmSync(join(dir, entry), { recursive: true, force: true })
    }
  }
  if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true })
}

export interface PidsFile {
  devnet: number
  nodes: Array<{ node: number; pid: number }>
}

export function writePidsFile(dir: string, pids: PidsFile): void {
  writeFileAtomicSync(join(dir, PIDS_FILE), JSON.stringify(pids) + '\n', 0o644)
}

/**
 * After a clean stop: every node is gone, so pids.json has nothing left to
 * say. Removed only while it still names `devnet` as its writer; a crashed
 * devnet never gets here and leaves it for the next run.
 */
export function removePidsFile(dir: string, devnet: number): void {
  if (readPidsFile(dir)?.devnet === devnet) rmSync(join(dir, PIDS_FILE), { force: true })
}

export function readPidsFile(dir: string): PidsFile | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(join(dir, PIDS_FILE), 'utf8'))
    if (!isRecord(json) || !Number.isInteger(json.devnet) || !Array.isArray(json.nodes)) return undefined
    const nodes = (json.nodes as unknown[]).filter(
      (n): n is { node: number; pid: number } => isRecord(n) && Number.isInteger(n.node) && Number.isInteger(n.pid),
    )
    return { devnet: json.devnet as number, nodes }
  } catch {
    return undefined
  }
}

/** True when `pid` is a live process (a process of another user counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The pid of another `bkc devnet` that is running on `dir`, if any. A pid
 * from pids.json may have been reused since, so on Linux the process's
 * command line must also say "devnet".
 */
export function runningDevnetPid(dir: string): number | undefined {
  const pids = readPidsFile(dir)
  if (!pids || pids.devnet === process.pid || !isAlive(pids.devnet)) return undefined
  const cmdline = `/proc/${pids.devnet}/cmdline`
  if (existsSync('/proc/self/cmdline')) {
    try {
      if (!readFileSync(cmdline, 'utf8').split('\0').includes('devnet')) return undefined
    } catch {
      return undefined
    }
  }
  return pids.devnet
}
