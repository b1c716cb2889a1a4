// The VPN as one unit for the CLI: check the claim, create the TUN, start the
// client, and take both down again. Used by `bkc vpn` and by
// `bkc start --im-addr`, which runs the node on the TUN's address.
import { join } from 'node:path'
import { loadOrCreateKeyFile } from '../lib/key-file.js'
import { KEY_BYTES, TunnelKeyPair } from '../protocol/tunnel/crypto.js'
import { DEFAULT_SUBNET, parseSubnet, type Subnet } from '../protocol/tunnel/subnet.js'
import { ipFromString } from '../protocol/tunnel/ipv4.js'
import type { Logger } from '../lib/log.js'
import { VpnClient, VpnFatalError } from './client.js'
import { checkPrivileges, TunDevice } from './tun-device.js'

/** The client's identity inside the data dir: X25519 private key, 64 hex digits, mode 0600. */
export const CLIENT_KEY_FILE = 'vpn-key'

export interface VpnOptions {
  ip: string
  imAddr: string
  imPort: number
  /** Where the client key lives (created on first use). */
  dataDir: string
  mtu: number
  /** Must match the simulator's --subnet; the route on the TUN covers it. */
  subnet?: string
  dev: string
  encrypt: boolean
  offload: boolean
  serverKey?: Buffer
  secret?: string
  logger: Logger
  /** Aborting it while starting takes everything down again (TUN removed) and rejects with its reason. */
  signal?: AbortSignal
}

export interface RunningVpn {
  readonly tun: TunDevice
  readonly client: VpnClient
  readonly keyPath: string
  stop(): Promise<void>
}

/** A setting that cannot work (IP outside the subnet, bad subnet). */
export class VpnConfigError extends Error {
  override name = 'VpnConfigError'
}

/** Checks the claim against the subnet before anything is created. Returns the parsed subnet. */
export function checkVpnAddress(ip: string, subnetText = DEFAULT_SUBNET): Subnet {
  const subnet = parseSubnet(subnetText)
  const n = ipFromString(ip)
  if (n === null) throw new VpnConfigError(`${ip} is not an IPv4 address`)
  if (!subnet.contains(n))
    throw new VpnConfigError(`${ip} is outside the simulator's subnet ${subnetText}: pick an address in it, e.g. 192.168.53.5`)
  if (!subnet.isHostAddress(n)) throw new VpnConfigError(`${ip} is the network or broadcast address of ${subnetText}: pick a host address`)
  return subnet
}

/** How long start-up waits for the first registration before going on with the client retrying. */
const FIRST_CONNECT_MS = 10_000

/**
 * Brings the VPN up. Resolves once registered, or — when the simulator does
 * not answer within FIRST_CONNECT_MS — with the client still retrying in the
 * background (the TUN and its address exist either way, so a node can bind).
 * Rejects (after removing the TUN) on a fatal refusal, a TUN failure, or
 * when opts.signal aborts.
 */
export async function startVpn(opts: VpnOptions): Promise<RunningVpn> {
  const subnet = checkVpnAddress(opts.ip, opts.subnet)
  checkPrivileges() // before the key file: a refused start should leave nothing behind
  const keyPath = join(opts.dataDir, CLIENT_KEY_FILE)
  const { secret, created } = await loadOrCreateKeyFile(keyPath, KEY_BYTES, () => TunnelKeyPair.generate().privateKeyBytes())
  const key = TunnelKeyPair.fromPrivateKey(secret)
  opts.logger.info(created ? 'created VPN client key' : 'loaded VPN client key', {
    path: keyPath,
    publicKey: key.publicKey.toString('hex'),
  })
  const tun = await TunDevice.open({ name: opts.dev, ip: opts.ip, prefixLength: subnet.prefix, mtu: opts.mtu, offload: opts.offload })
  if (opts.signal?.aborted) {
    await tun.close()
    throw opts.signal.reason
  }
  opts.logger.info('TUN up', { dev: tun.name, ip: `${opts.ip}/${subnet.prefix}`, mtu: opts.mtu, offload: opts.offload })
  const client = new VpnClient(
    {
      host: opts.imAddr,
      port: opts.imPort,
      ip: opts.ip,
      mtu: opts.mtu,
      key,
      encrypt: opts.encrypt,
      offload: opts.offload,
      logger: opts.logger,
      ...(opts.serverKey === undefined ? {} : { serverKey: opts.serverKey }),
      ...(opts.secret === undefined ? {} : { secret: opts.secret }),
    },
    tun.stream,
  )
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> =>
    (stopping ??= client.stop().then(
      () => tun.close(),
      async (err) => {
        await tun.close()
        throw err
      },
    ))
  // Deleted under us (ip link del) or a read error: without its TUN the client is pointless, and its lease would hide that.
  tun.stream.once('close', () => {
    if (stopping !== null) return
    opts.logger.error('the TUN interface went away', { dev: tun.name })
    client.abort(new VpnFatalError('TUN_GONE', `the TUN interface ${tun.name} went away`))
  })
  try {
    await client.waitOpen(FIRST_CONNECT_MS, opts.signal)
  } catch (err) {
    if (err instanceof VpnFatalError || opts.signal?.aborted) {
      await stop()
      throw err
    }
    opts.logger.warn('simulator not reachable yet; the TUN is up and the client keeps trying', { error: (err as Error).message })
  }
  return { tun, client, keyPath, stop }
}
