// `bkc start`: run one node until SIGINT/SIGTERM.
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { loadNetworkFile } from '../../node/chain/params.js'
import { DEFAULT_P2P_PORT, DEFAULT_RPC_PORT } from '../../protocol/chain/defaults.js'
import { createLogger, type LogFormat, type LogLevel } from '../../lib/log.js'
import { BkcNode } from '../../node/node.js'
import { AddrError, parseHostPort, type PeerAddress } from '../../node/p2p/addrman.js'
import { logOptions, networkFileFlag, parseIp, parsePort, parsePositiveInt, single, UsageError } from '../options.js'
import { StopOnSignals } from '../signals.js'
import { bringUpVpn, exitOnFatal, VPN_CLIENT_FLAGS, vpnClientOptions, vpnConfig, type VpnClientArgs } from '../vpn/command.js'
import type { RunningVpn } from '../../vpn-client/vpn.js'
import { VALIDATOR_FLAGS, validatorFromArgs, validatorOptions, type ValidatorArgs } from './validator-flags.js'
import { validatorFactory } from '../../node/validator/factory.js'

export function startOptions<T>(y: Argv<T>) {
  const node = y
    .option('listen', {
      type: 'string',
      default: '127.0.0.1',
      describe: 'IP address for P2P and JSON-RPC (and the TUN address in VPN mode)',
      coerce: single('listen', parseIp('listen')),
    })
    .option('port', {
      type: 'string',
      requiresArg: true,
      default: DEFAULT_P2P_PORT,
      describe: 'P2P port',
      coerce: single('port', parsePort('port')),
    })
    .option('rpc-port', {
      type: 'string',
      requiresArg: true,
      default: DEFAULT_RPC_PORT,
      alias: 'rpcport',
      describe: 'JSON-RPC port',
      coerce: single('rpc-port', parsePort('rpc-port', true)),
    })
    .option('data-dir', {
      type: 'string',
      describe: 'where the chain, pool and keystore live [default: ./data/<listen>]',
      coerce: single('data-dir', (v) => String(v)),
    })
    .option('network', {
      type: 'string',
      describe: 'a shipped network by name (devnet) or a network file: genesis and consensus parameters [default: devnet]',
      coerce: single('network', (v) => String(v)),
    })
    .option('bootstrap', {
      type: 'string',
      array: true,
      describe: `peer to dial at startup, HOST[:PORT] (port ${DEFAULT_P2P_PORT}); repeatable [default with --im-addr: ${VPN_BOOTSTRAP}]`,
      coerce: (v: unknown) => parseBootstrap(v),
    })
    .option('max-outbound', {
      type: 'string',
      requiresArg: true,
      default: 8,
      describe: 'outbound P2P connections to keep',
      coerce: single('max-outbound', parsePositiveInt('max-outbound', 64)),
    })
    .option('max-peers', {
      type: 'string',
      requiresArg: true,
      default: 117,
      describe: 'P2P connections in all (inbound + outbound)',
      coerce: single('max-peers', parsePositiveInt('max-peers', 1000)),
    })
    .option('miner-threads', {
      type: 'string',
      requiresArg: true,
      default: 1,
      describe: 'worker threads searching proof-of-work nonces',
      coerce: single('miner-threads', parsePositiveInt('miner-threads', 64)),
    })
    .option('max-pool', {
      type: 'string',
      requiresArg: true,
      default: 50_000,
      describe: 'pending pool capacity (transactions)',
      coerce: single('max-pool', parsePositiveInt('max-pool', 1_000_000)),
    })
    .option('reindex', {
      type: 'boolean',
      default: false,
      describe: 'rebuild balances and indexes from the stored blocks, re-validating each',
    })
  // The node's own flags first; the tunnel's only matter with --im-addr.
  return vpnClientOptions(validatorOptions(logOptions(node)))
    .group(NODE_FLAGS, 'Node:')
    .group([...VALIDATOR_FLAGS], 'Validator (slots networks such as dsc):')
    .group([...VPN_CLIENT_FLAGS], 'VPN mode (with --im-addr):')
}

const NODE_FLAGS = [
  'listen',
  'port',
  'rpc-port',
  'data-dir',
  'network',
  'bootstrap',
  'max-outbound',
  'max-peers',
  'miner-threads',
  'max-pool',
  'reindex',
  'log-level',
  'log-format',
]

export interface StartArgs extends VpnClientArgs, ValidatorArgs {
  listen: string
  port: number
  rpcPort: number
  dataDir?: string
  network?: string
  bootstrap?: PeerAddress[]
  maxOutbound: number
  maxPeers: number
  minerThreads: number
  maxPool: number
  reindex: boolean
  logLevel: LogLevel
  logFormat: LogFormat
}

/** The report's first VM: where a node in VPN mode looks for the network when given no --bootstrap. */
export const VPN_BOOTSTRAP = '192.168.53.5'

export async function runStart(args: StartArgs): Promise<void> {
  const logger = createLogger({ level: args.logLevel, format: args.logFormat })
  const network = loadNetworkFile(networkFileFlag(args.network))
  const dataDir = resolve(args.dataDir ?? `data/${args.listen}`)
  const validatorConfig = validatorFromArgs(args)
  if (validatorConfig !== null && !network.engine.clock) {
    throw new UsageError(
      `--validator and --validator-config are for slots networks; ${network.name} uses the ${network.engine.name} engine`,
    )
  }
  // A slots node mines with proof of work on its miner threads unless told otherwise.
  const validator = network.engine.clock
    ? validatorFactory(
        validatorConfig ?? { search: { kind: 'pow', threads: args.minerThreads } },
        dataDir,
        logger.child({ component: 'validator' }),
      )
    : undefined
  const imAddr = args.imAddr
  const shutdown = new StopOnSignals(logger)
  // VPN first: the node binds to the TUN's address.
  let vpn: RunningVpn | null = null
  if (imAddr !== undefined) {
    try {
      vpn = await bringUpVpn({ ...vpnConfig({ ...args, imAddr }, args.listen, dataDir, logger), signal: shutdown.signal })
    } catch (err) {
      // A signal while the first connection was still being tried: start-up has undone itself.
      if (shutdown.stoppedBy(err)) return shutdown.stopWith(async () => {})
      throw err
    }
  }
  const bootstrap =
    args.bootstrap ?? (vpn !== null && args.listen !== VPN_BOOTSTRAP ? [parseHostPort(VPN_BOOTSTRAP, DEFAULT_P2P_PORT)] : [])
  logger.info('starting bkc node', {
    listen: args.listen,
    port: args.port,
    rpcPort: args.rpcPort,
    dataDir,
    network: network.networkId,
    vpn: imAddr !== undefined,
  })
  let node: BkcNode | null = null
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await node?.stop()
      } finally {
        await vpn?.stop()
      }
    })())
  // From here, not after the node is up: a refusal while the node starts must not go unheard.
  if (vpn !== null) exitOnFatal(vpn, logger, stop)
  try {
    node = await startNode()
  } catch (err) {
    await vpn?.stop()
    // A signal while the node was starting: it has undone what it did.
    if (shutdown.stoppedBy(err)) return shutdown.stopWith(async () => {})
    throw err
  }
  // A signal that came while the node was starting stops it now.
  shutdown.stopWith(stop)

  function startNode(): Promise<BkcNode> {
    return BkcNode.start({
      listen: args.listen,
      port: args.port,
      rpcPort: args.rpcPort,
      dataDir,
      network,
      logger,
      minerThreads: args.minerThreads,
      ...(validator && { validator }),
      maxPoolTxs: args.maxPool,
      bootstrap,
      maxOutbound: args.maxOutbound,
      maxPeers: args.maxPeers,
      reindex: args.reindex,
      signal: shutdown.signal,
    })
  }
}

/** --bootstrap HOST[:PORT], repeatable; the port defaults to DEFAULT_P2P_PORT, not to this node's --port. */
function parseBootstrap(v: unknown): PeerAddress[] {
  const list = (Array.isArray(v) ? v : [v]).map(String)
  return list.map((text) => {
    try {
      return parseHostPort(text, DEFAULT_P2P_PORT)
    } catch (err) {
      if (err instanceof AddrError) throw new UsageError(`--bootstrap ${text}: ${err.message}`)
      throw err
    }
  })
}
