// `bkc simulator`: run the internet simulator until SIGINT/SIGTERM, which
// send RESTARTING to every client (so they come back quickly) and exit 0.
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { createLogger, type LogFormat, type LogLevel } from '../../lib/log.js'
import { AllowListError, loadOrCreateServerKey, readAllowList } from '../../simulator/key-files.js'
import { SimulatorServer } from '../../simulator/server.js'
import { DEFAULT_SIMULATOR_PORT } from '../../protocol/tunnel/defaults.js'
import { DEFAULT_SUBNET, parseSubnet, SubnetError, type Subnet } from '../../protocol/tunnel/subnet.js'
import { errno } from '../../lib/files.js'
import { readSecretFile, secretOptions } from '../secret.js'
import { logOptions, parseIp, parsePort, parsePositiveInt, single, UsageError } from '../options.js'
import { stopOnSignals } from '../signals.js'

export function simulatorOptions<T>(y: Argv<T>) {
  const listen = y
    .option('host', {
      type: 'string',
      default: '0.0.0.0',
      describe: 'address to accept VPN clients on (and serve --stats-port)',
      coerce: single('host', parseIp('host')),
    })
    .option('port', {
      type: 'string',
      requiresArg: true,
      default: DEFAULT_SIMULATOR_PORT,
      describe: 'TCP port for VPN clients (0 = any free port, logged)',
      coerce: single('port', parsePort('port', true)),
    })
    .option('subnet', {
      type: 'string',
      default: DEFAULT_SUBNET,
      describe: 'private range clients may claim addresses in',
      coerce: single('subnet', parseSubnetFlag),
    })
  const withSecret = secretOptions(listen, 'secret', 'network secret clients must prove')
    .option('allow', {
      type: 'string',
      describe: 'allow-list file: one client public key (64 hex digits) per line',
      coerce: single('allow', (v) => String(v)),
    })
    .option('max-clients', {
      type: 'string',
      requiresArg: true,
      default: 1024,
      describe: 'registered clients at most',
      coerce: single('max-clients', parsePositiveInt('max-clients', 65_536)),
    })
    .option('rate-limit', {
      type: 'string',
      requiresArg: true,
      describe: 'packets per second each client may send [default: unlimited]',
      coerce: single('rate-limit', parsePositiveInt('rate-limit', 10_000_000)),
    })
    .option('encrypt', { type: 'boolean', default: true, describe: 'seal tunnel frames; --no-encrypt for lab packet captures' })
    .option('stats-port', {
      type: 'string',
      requiresArg: true,
      describe: 'serve the stats JSON on HOST:PORT (0 = any free port)',
      coerce: single('stats-port', parsePort('stats-port', true)),
    })
    .option('data-dir', {
      type: 'string',
      default: './data/simulator',
      describe: "where the simulator's key lives",
      coerce: single('data-dir', (v) => String(v)),
    })
  return logOptions(withSecret)
}

export interface SimulatorArgs {
  host: string
  port: number
  subnet: Subnet
  secret?: string
  secretFile?: string
  allow?: string
  maxClients: number
  rateLimit?: number
  encrypt: boolean
  statsPort?: number
  dataDir: string
  logLevel: LogLevel
  logFormat: LogFormat
}

function parseSubnetFlag(v: unknown): Subnet {
  try {
    return parseSubnet(String(v))
  } catch (err) {
    if (err instanceof SubnetError) throw new UsageError(`--subnet: ${err.message}`)
    throw err
  }
}

export async function runSimulator(args: SimulatorArgs): Promise<void> {
  const secret = args.secretFile !== undefined ? readSecretFile(args.secretFile, 'secret-file') : args.secret
  let allowKeys: Set<string> | undefined
  if (args.allow !== undefined) {
    try {
      allowKeys = await readAllowList(args.allow)
    } catch (err) {
      if (err instanceof AllowListError) throw new UsageError(`--allow: ${err.message}`)
      throw new UsageError(`--allow ${args.allow}: cannot read it (${errno(err) ?? (err as Error).message})`)
    }
  }
  const logger = createLogger({ level: args.logLevel, format: args.logFormat })
  const dataDir = resolve(args.dataDir)
  const { key, created, path } = await loadOrCreateServerKey(dataDir)
  if (created) logger.info('created the simulator key', { path })
  const sim = await SimulatorServer.start({
    staticKey: key,
    host: args.host,
    port: args.port,
    subnet: args.subnet,
    encrypt: args.encrypt,
    secret,
    allowKeys,
    maxClients: args.maxClients,
    rateLimitPps: args.rateLimit,
    statsPort: args.statsPort,
    logger,
  })
  const { host, port } = sim.address
  const stats = sim.statsAddress
  logger.info('simulator listening', {
    address: `${host}:${port}`,
    serverKey: key.publicKey.toString('hex'),
    subnet: args.subnet.toString(),
    encrypt: args.encrypt,
    secret: secret !== undefined,
    allowList: allowKeys === undefined ? 'off' : `${allowKeys.size} keys`,
    maxClients: args.maxClients,
    rateLimit: args.rateLimit ?? 'off',
    stats: stats === null ? 'off' : `http://${stats.host}:${stats.port}/stats`,
  })

  stopOnSignals(() => sim.stop(), logger, 'shutting down: telling clients the simulator restarts')
}
