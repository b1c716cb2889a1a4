// Peer addresses as text: parsing "host[:port]", one normal spelling per
// address (so every spelling has one key), and what can be dialled at all.
import { isIPv4, isIPv6 } from 'node:net'

export interface PeerAddress {
  host: string
  port: number
}

export class AddrError extends Error {
  override name = 'AddrError'
}

const MAX_HOST_CHARS = 253
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const PORT_RE = /^[0-9]{1,5}$/

export function isValidPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535
}

/**
 * The canonical spelling of an IPv4/IPv6 literal or DNS name, or undefined
 * when `host` is none of these. Canonical keys let "::FFFF:127.0.0.1",
 * "127.0.0.1" and "Example.COM" meet their twins in the table.
 */
export function normalizeHost(host: unknown): string | undefined {
  if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST_CHARS) return undefined
  if (host.includes(':')) return normalizeIPv6(host)
  if (isIPv4(host)) return host // Node's isIPv4 already refuses leading zeros and other variants
  const name = host.toLowerCase()
  const labels = name.split('.')
  if (!labels.every((label) => LABEL_RE.test(label))) return undefined
  // An all-digit last label is a mistyped IPv4 literal ("1.2.3", "01.2.3.4"), never a DNS name.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return undefined
  return name
}

function normalizeIPv6(host: string): string | undefined {
  // A zone id (fe80::1%eth0) names an interface on one machine: meaningless to anyone else.
  if (host.includes('%') || !isIPv6(host)) return undefined
  let canonical: string
  try {
    canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1) // WHATWG URL prints RFC 5952 form
  } catch {
    return undefined
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
  if (mapped === null) return canonical
  const hi = parseInt(mapped[1]!, 16)
  const lo = parseInt(mapped[2]!, 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

/** Multicast, broadcast and "this host" addresses can be listened on or gossiped, never dialled. */
export function isUndialable(host: string): boolean {
  if (isIPv4(host)) {
    const first = Number(host.slice(0, host.indexOf('.')))
    return first === 0 || first >= 224
  }
  if (!host.includes(':')) return false
  const group = host.slice(0, host.indexOf(':'))
  return host === '::' || (group.length === 4 && group.startsWith('ff'))
}

/** "host:port", or "[v6]:port" for IPv6; the host is normalised so every spelling of an address has one key. */
export function addrKey(a: PeerAddress): string {
  const host = normalizeHost(a.host) ?? String(a.host)
  return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`
}

/**
 * Parses "1.2.3.4", "1.2.3.4:5555", "[::1]:5555", "::1", "name" or
 * "name:99" (the port defaults to `defaultPort`). The host comes back
 * normalised. Throws AddrError on anything else.
 */
export function parseHostPort(text: string, defaultPort: number): PeerAddress {
  if (!isValidPort(defaultPort)) throw new AddrError(`default port ${String(defaultPort)} is not in 1-65535`)
  if (typeof text !== 'string' || text.length === 0) throw new AddrError('empty peer address')
  if (text.length > MAX_HOST_CHARS + 8) throw new AddrError(`peer address is too long (${text.length} characters)`)
  const quoted = JSON.stringify(text)
  if (/\s/.test(text)) throw new AddrError(`peer address ${quoted} contains whitespace`)
  let hostText = text
  let portText: string | undefined
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) throw new AddrError(`peer address ${quoted} has "[" without "]"`)
    hostText = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new AddrError(`peer address ${quoted} has text after "]" that is not ":port"`)
      portText = rest.slice(1)
    }
    if (!hostText.includes(':')) throw new AddrError(`peer address ${quoted}: brackets are only for IPv6 literals`)
  } else {
    const first = text.indexOf(':')
    // Two or more colons without brackets: a bare IPv6 literal, which cannot carry a port.
    if (first >= 0 && first === text.lastIndexOf(':')) {
      hostText = text.slice(0, first)
      portText = text.slice(first + 1)
    }
  }
  if (hostText === '') throw new AddrError(`peer address ${quoted} has no host`)
  const host = normalizeHost(hostText)
  if (host === undefined) throw new AddrError(`peer address ${quoted}: ${JSON.stringify(hostText)} is not an IP address or host name`)
  if (portText === undefined) return { host, port: defaultPort }
  const port = PORT_RE.test(portText) ? Number(portText) : NaN
  if (!isValidPort(port)) throw new AddrError(`peer address ${quoted}: port must be a number in 1-65535`)
  return { host, port }
}
