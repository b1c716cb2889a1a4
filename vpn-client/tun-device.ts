// The VPN's network interface: a TUN device with the client's private IP, a
// route for the simulator's subnet, no IPv6, and an MTU. Created by the addon,
// configured with iproute2 (the tool every lab VM has), and removed by
// closing its fd: a non-persistent TUN disappears with its last fd, so even a
// killed client leaves no interface behind.
import { execFile } from 'node:child_process'
import { closeSync, existsSync, readFileSync, promises as fsp } from 'node:fs'
import type net from 'node:net'
import { promisify } from 'node:util'
import { loadTunAddon } from './native-tun.js'
import { tunStream } from './tun-stream.js'

const run = promisify(execFile)

/** Largest super-packet the kernel may hand over: its header plus data must fit libuv's 64 KiB read buffer. */
export const GSO_MAX_SIZE = 60_000
export const DEFAULT_TUN_NAME = 'bkc0'
export const DEFAULT_MTU = 1400

export interface TunOptions {
  /** Interface name, ≤ 15 characters. */
  name: string
  /** The client's private address, e.g. 192.168.53.5. */
  ip: string
  /** Prefix length of the routed subnet (16 for 192.168.0.0/16): the address is added as ip/len, which installs the route. */
  prefixLength: number
  mtu: number
  /** IFF_VNET_HDR + TSO: reads and writes carry a virtio_net_hdr and may be TCP super-packets. */
  offload: boolean
}

/** A failure to set up the TUN, with the message a user needs (CAP_NET_ADMIN, /dev/net/tun, name in use, iproute2). */
export class TunError extends Error {
  override name = 'TunError'
}

export class TunDevice {
  private closed = false

  private constructor(
    readonly name: string,
    readonly options: TunOptions,
    /** One 'data' chunk per packet (with its virtio header when offload); write one packet per call. */
    readonly stream: net.Socket,
    /** Packets the kernel refused, by errno code (EINVAL, EIO, …); they are dropped. */
    readonly writeErrors: ReadonlyMap<string, number>,
  ) {}

  /** Creates and configures the interface. Throws TunError. */
  static async open(opts: TunOptions): Promise<TunDevice> {
    checkPrivileges()
    let opened: { fd: number; name: string }
    try {
      opened = loadTunAddon().open(opts.name, opts.offload)
    } catch (err) {
      throw new TunError(explainOpenError(err as Error & { errno?: number }, opts.name))
    }
    let stream: net.Socket
    const writeErrors = new Map<string, number>()
    try {
      stream = tunStream(opened.fd, (err) => writeErrors.set(err.code ?? 'EUNKNOWN', (writeErrors.get(err.code ?? 'EUNKNOWN') ?? 0) + 1))
    } catch (err) {
      closeSync(opened.fd)
      throw new TunError((err as Error).message)
    }
    const device = new TunDevice(opened.name, opts, stream, writeErrors)
    stream.on('error', () => {}) // reported by the client's 'close' handling; a TUN read error ends the stream
    try {
      await device.configure()
    } catch (err) {
      await device.close()
      throw err
    }
    return device
  }

  private async configure(): Promise<void> {
    const { name, ip: address, prefixLength, mtu, offload } = this.options
    // Before the link goes up, so the kernel never sends router solicitations or MLD on it.
    await fsp.writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => {})
    await ip(['addr', 'add', `${address}/${prefixLength}`, 'dev', name])
    const link = ['link', 'set', 'dev', name, 'mtu', String(mtu), 'txqueuelen', '1000']
    if (offload) link.push('gso_max_size', String(GSO_MAX_SIZE))
    await ip([...link, 'up'])
  }

  /** Closes the fd, which removes the interface with its address and route. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const gone = new Promise<void>((resolve) => {
      if (this.stream.destroyed) resolve()
      else this.stream.once('close', () => resolve())
    })
    this.stream.destroy()
    await gone
  }
}

/** Throws TunError when this process cannot create a TUN (no /dev/net/tun, no CAP_NET_ADMIN). Cheap: call it before anything else. */
export function checkPrivileges(): void {
  if (!existsSync('/dev/net/tun')) {
    throw new TunError('/dev/net/tun is missing: load the tun module (sudo modprobe tun), or in a container pass --device /dev/net/tun')
  }
  let status: string
  try {
    status = readFileSync('/proc/self/status', 'utf8')
  } catch {
    return // no procfs to ask: opening the device will tell
  }
  const problem = netAdminProblem(status)
  if (problem !== null) throw new TunError(problem)
}

/** CAP_NET_ADMIN's bit in the capability sets (linux/capability.h): creating and configuring interfaces. */
const CAP_NET_ADMIN = 12n

/** A capability set (CapEff, CapAmb, ...) from /proc/<pid>/status text, or null when the line is missing. */
export function capabilitySet(status: string, set: 'CapEff' | 'CapAmb'): bigint | null {
  const m = new RegExp(`^${set}:\\s*([0-9a-fA-F]{1,16})\\s*$`, 'm').exec(status)
  return m === null ? null : BigInt(`0x${m[1]}`)
}

/** The effective capability set from /proc/<pid>/status text (its CapEff line), or null when there is none. */
export function effectiveCapabilities(status: string): bigint | null {
  return capabilitySet(status, 'CapEff')
}

/** True when the Uid line gives root as the real or effective uid: then execve hands the `ip` commands their capabilities. */
function runsAsRoot(status: string): boolean | null {
  const m = /^Uid:\s*(\d+)\s+(\d+)/m.exec(status)
  return m === null ? null : m[1] === '0' || m[2] === '0'
}

const hasNetAdmin = (caps: bigint): boolean => ((caps >> CAP_NET_ADMIN) & 1n) === 1n

/**
 * Why a process with this /proc/self/status cannot create and configure a
 * TUN, or null when it can (or the text does not say). The TUN is configured
 * by `ip` child processes, and a non-root process passes a capability across
 * execve only from its ambient set: CAP_NET_ADMIN that is merely effective
 * (file capabilities, `setcap cap_net_admin+ep node`) creates the device and
 * then fails to configure it.
 */
export function netAdminProblem(status: string): string | null {
  const caps = effectiveCapabilities(status)
  if (caps === null) return null
  if (!hasNetAdmin(caps)) {
    return (
      'creating a TUN interface needs the CAP_NET_ADMIN capability, which this process lacks: run it with sudo ' +
      '(e.g. sudo npx bkc start --listen 192.168.53.5 --im-addr HOST), or give it CAP_NET_ADMIN as an ambient capability'
    )
  }
  if (runsAsRoot(status) !== false) return null
  const ambient = capabilitySet(status, 'CapAmb')
  if (ambient === null || hasNetAdmin(ambient)) return null
  return (
    'this process has CAP_NET_ADMIN, but not as an ambient capability, so the `ip` commands that configure the TUN ' +
    'would run without it: grant it as an ambient capability (e.g. sudo setpriv --reuid=USER --regid=GROUP --init-groups ' +
    '--inh-caps=+net_admin --ambient-caps=+net_admin -- npx bkc vpn ..., or capsh --addamb=cap_net_admin), ' +
    'or run it as root (sudo)'
  )
}

function explainOpenError(err: Error & { errno?: number }, name: string): string {
  const code = err.errno
  if (code === 1) return `${err.message}: needs CAP_NET_ADMIN (run it with sudo)`
  if (code === 13) return `${err.message}: this user may not open /dev/net/tun (run it with sudo)`
  if (code === 16) return `${err.message}: an interface named ${name} already exists (another bkc vpn?); choose another with --dev`
  return err.message
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') throw new TunError('the ip command (iproute2) is not installed: sudo apt install iproute2')
    throw new TunError(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`)
  }
}
