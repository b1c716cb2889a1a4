// `bkc vpn`: the VPN client alone (TUN + tunnel to the internet simulator),
// and the VPN flags `bkc start --im-addr` shares with it.
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../../lib/log.js'
import { KeyFileError } from '../../lib/key-file.js'
import { DEFAULT_SIMULATOR_PORT } from '../../protocol/tunnel/defaults.js'
import { DEFAULT_SUBNET } from '../../protocol/tunnel/subnet.js'
import { VpnFatalError } from '../../vpn-client/client.js'
import { DEFAULT_MTU, DEFAULT_TUN_NAME, TunError } from '../../vpn-client/tun-device.js'
import { checkVpnAddress, startVpn, VpnConfigError, type RunningVpn, type VpnOptions } from '../../vpn-client/vpn.js'
import { MIN_TUNNEL_MTU } from '../../protocol/tunnel/messages.js'
import { KEY_BYTES } from '../../protocol/tunnel/crypto.js'
import { isHexOfLength } from '../../protocol/wire/bytes.js'
import { decimal, logOptions, parseIp, parsePort, single, UsageError } from '../options.js'
import { readSecretFile, secretOptions } from '../secret.js'
import { StopOnSignals } from '../signals.js'

/** The flags vpnClientOptions defines, for help groups. */
export const VPN_CLIENT_FLAGS = [
  'im-addr',
  'im-port',
  'im-key',
  'im-secret',
  'im-secret-file',
  'subnet',
  'mtu',
  'dev',
  'encrypt',
  'offload',
] as const

/** The flags of the tunnel itself; `bkc start` has them too (only used with --im-addr). */
export function vpnClientOptions<T>(y: Argv<T>) {
  const simulator = y
    .option('im-addr', {
      type: 'string',
      alias: 'imAddr',
      describe: 'internet simulator host (VPN mode)',
      coerce: single('im-addr', parseHost),
    })
    .option('im-port', {
      type: 'string',
      requiresArg: true,
      default: DEFAULT_SIMULATOR_PORT,
      alias: 'imPort',
      describe: 'internet simulator port',
      coerce: single('im-port', parsePort('im-port')),
    })
    .option('im-key', {
      type: 'string',
      describe: "the simulator's public key (64 hex digits, from its log): refuse any other",
      coerce: single('im-key', parseKey),
    })
  return secretOptions(simulator, 'im-secret', 'network secret the simulator requires')
    .option('subnet', {
      type: 'string',
      default: DEFAULT_SUBNET,
      describe: "the simulator's --subnet: routed through the tunnel",
      coerce: single('subnet', String),
    })
    .option('mtu', {
      type: 'string',
      requiresArg: true,
      default: DEFAULT_MTU,
      describe: 'MTU of the TUN interface',
      coerce: single('mtu', parseMtu),
    })
    .option('dev', { type: 'string', default: DEFAULT_TUN_NAME, describe: 'name of the TUN interface', coerce: single('dev', parseDev) })
    .option('encrypt', { type: 'boolean', default: true, describe: 'ask for sealed frames; --no-encrypt for lab packet captures' })
    .option('offload', {
      type: 'boolean',
      default: true,
      describe: 'TUN offloads (TCP super-packets, far fewer packets to relay); --no-offload sends MTU-sized packets only',
    })
}

export function vpnOptions<T>(y: Argv<T>) {
  const withIp = vpnClientOptions(y)
    .option('ip', {
      type: 'string',
      demandOption: true,
      describe: 'private address to claim, e.g. 192.168.53.5',
      coerce: single('ip', parseIp('ip')),
    })
    .option('data-dir', {
      type: 'string',
      describe: 'where the client key lives [default: ./data/<ip>, shared with bkc start]',
      coerce: single('data-dir', (v) => String(v)),
    })
  return logOptions(withIp).demandOption('im-addr', 'bkc vpn needs --im-addr: the internet simulator host')
}

export interface VpnClientArgs {
  imAddr?: string
  imPort: number
  imKey?: Buffer
  imSecret?: string
  imSecretFile?: string
  subnet: string
  mtu: number
  dev: string
  encrypt: boolean
  offload: boolean
}

export interface VpnArgs extends VpnClientArgs {
  ip: string
  imAddr: string
  dataDir?: string
  logLevel: LogLevel
  logFormat: LogFormat
}

function parseHost(v: unknown): string {
  const text = String(v)
  if (text === '' || /\s/.test(text)) throw new UsageError(`--im-addr must be a host name or IP address, got "${text}"`)
  return text
}

function parseKey(v: unknown): Buffer {
  const text = String(v).trim().toLowerCase()
  if (!isHexOfLength(text, KEY_BYTES))
    throw new UsageError(`--im-key must be 64 hex digits (the simulator logs its serverKey), got "${String(v)}"`)
  return Buffer.from(text, 'hex')
}

function parseMtu(v: unknown): number {
  const n = decimal(v)
  if (!Number.isInteger(n) || n < MIN_TUNNEL_MTU || n > 65_535)
    throw new UsageError(`--mtu must be an integer from ${MIN_TUNNEL_MTU} to 65535, got "${String(v)}"`)
  return n
}

function parseDev(v: unknown): string {
  const text = String(v)
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text))
    throw new UsageError(`--dev must be an interface name of 1-15 letters, digits, '_', '.' or '-', got "${text}"`)
  return text
}

/** VpnOptions from the shared flags; throws UsageError for a claim that cannot work. */
export function vpnConfig(args: VpnClientArgs & { imAddr: string }, ip: string, dataDir: string, logger: Logger): VpnOptions {
  try {
    checkVpnAddress(ip, args.subnet)
  } catch (err) {
    if (err instanceof VpnConfigError || (err as Error).name === 'SubnetError') throw new UsageError((err as Error).message)
    throw err
  }
  const secret = args.imSecretFile !== undefined ? readSecretFile(args.imSecretFile, 'im-secret-file') : args.imSecret
  return {
    ip,
    imAddr: args.imAddr,
    imPort: args.imPort,
    dataDir,
    mtu: args.mtu,
    subnet: args.subnet,
    dev: args.dev,
    encrypt: args.encrypt,
    offload: args.offload,
    logger,
    ...(args.imKey === undefined ? {} : { serverKey: args.imKey }),
    ...(secret === undefined ? {} : { secret }),
  }
}

/** startVpn with its expected failures turned into one-line errors for the CLI. */
export async function bringUpVpn(opts: VpnOptions): Promise<RunningVpn> {
  try {
    return await startVpn(opts)
  } catch (err) {
    if (err instanceof TunError) throw new Error(`cannot create the TUN interface: ${err.message}`)
    if (err instanceof VpnFatalError) throw new Error(`the simulator refused ${opts.ip}: ${err.message} (${err.code})`)
    if (err instanceof KeyFileError) throw new Error(`VPN client key: ${err.message}`)
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EROFS')
      throw new Error(`cannot write the VPN client key in ${opts.dataDir}: ${(err as Error).message}`)
    throw err
  }
}

export async function runVpn(args: VpnArgs): Promise<void> {
  const logger = createLogger({ level: args.logLevel, format: args.logFormat })
  const dataDir = resolve(args.dataDir ?? `data/${args.ip}`)
  const shutdown = new StopOnSignals(logger)
  let vpn: RunningVpn
  try {
    vpn = await bringUpVpn({ ...vpnConfig(args, args.ip, dataDir, logger), signal: shutdown.signal })
  } catch (err) {
    // A signal while the first connection was still being tried: start-up has undone itself.
    if (shutdown.stoppedBy(err)) return shutdown.stopWith(async () => {})
    throw err
  }
  exitOnFatal(vpn, logger, () => vpn.stop())
  shutdown.stopWith(() => vpn.stop())
}

/**
 * A fatal VPN failure after start-up (a simulator restarted with another
 * allow-list, the TUN deleted) runs `shutdown` (idempotent: it may race a
 * signal's) and exits 1.
 */
export function exitOnFatal(vpn: RunningVpn, logger: Logger, shutdown: () => Promise<void>): void {
  vpn.client.once('fatal', (err: VpnFatalError) => {
    logger.error('VPN stopped for good', { code: err.code, error: err.message })
    void shutdown()
      .catch((e: Error) => logger.error('shutdown failed', { error: e.message }))
      .finally(() => process.exit(1))
  })
}
