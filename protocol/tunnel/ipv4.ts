// IPv4 as the tunnel carries it: header checks on packets and dotted-quad text.
//
// Addresses are plain numbers holding the unsigned 32-bit value (192.168.53.5
// is 0xc0a83505 = 3232249093), so they compare with === and print with
// ipToString. The per-packet functions (ipv4Problem, ipv4Source,
// ipv4Destination) read bytes in place and allocate nothing: they sit on the
// relay path of every packet.

/** Smallest IPv4 header: 5 words, no options. */
export const IPV4_MIN_HEADER_BYTES = 20

/** What keeps a buffer from being an IPv4 packet a router can forward. */
export type IPv4Problem = 'NOT_IPV4' | 'MALFORMED'

/**
 * Checks what a router must before it trusts the addresses: version 4, a
 * whole header (IHL ≥ 5 and inside the buffer), and a Total Length that
 * covers the header and does not run past the buffer. Returns null when the
 * packet is fine.
 *
 * A non-empty buffer whose version is not 4 is NOT_IPV4 (IPv6 traffic is
 * expected and counted apart); anything else unusable, including an empty
 * buffer, is MALFORMED. Bytes after Total Length are tolerated, as RFC 1122
 * asks of receivers (link padding); the receiving kernel trims them.
 *
 * Not checked, on purpose: the header checksum (the tunnel is TCP and, when
 * encrypted, authenticated, and the receiving kernel verifies it anyway),
 * TTL (the simulator behaves like one LAN segment and does not decrement it),
 * options and fragmentation (irrelevant to routing by destination).
 */
export function ipv4Problem(packet: Uint8Array): IPv4Problem | null {
  const length = packet.length
  if (length === 0) return 'MALFORMED'
  const first = packet[0]!
  if (first >>> 4 !== 4) return 'NOT_IPV4'
  if (length < IPV4_MIN_HEADER_BYTES) return 'MALFORMED'
  const headerLength = (first & 0x0f) << 2
  const totalLength = (packet[2]! << 8) | packet[3]!
  if (headerLength < IPV4_MIN_HEADER_BYTES || totalLength < headerLength || totalLength > length) return 'MALFORMED'
  return null
}

/** Source address of a packet that passed ipv4Problem, unsigned 32-bit. */
export function ipv4Source(packet: Uint8Array): number {
  return ((packet[12]! << 24) | (packet[13]! << 16) | (packet[14]! << 8) | packet[15]!) >>> 0
}

/** Destination address of a packet that passed ipv4Problem, unsigned 32-bit. */
export function ipv4Destination(packet: Uint8Array): number {
  return ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0
}

/** True for an integer in 0..2^32-1, the only form addresses take in this module's API. */
export function isIPv4Number(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
}

/** Dotted quad of an unsigned 32-bit address; a RangeError for anything else (a caller bug). */
export function ipToString(ip: number): string {
  if (!isIPv4Number(ip)) throw new RangeError(`not an unsigned 32-bit IPv4 address: ${String(ip)}`)
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`
}

// Four decimal octets, no sign, no leading zeros (which some parsers read as
// octal: 010 is 8 to inet_aton), no whitespace, nothing after.
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/

/**
 * Parses a strict dotted quad ("192.168.53.5") to its unsigned 32-bit value.
 * Returns null for anything else: leading zeros, octets over 255, fewer or
 * more than four parts, the inet_aton shorthands ("10.1", "0x7f.1"), spaces.
 */
export function ipFromString(text: string): number | null {
  if (typeof text !== 'string') return null
  const m = DOTTED_QUAD.exec(text)
  if (m === null) return null
  let ip = 0
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i])
    if (octet > 255) return null
    ip = ip * 256 + octet
  }
  return ip
}

/** True for a strict dotted-quad IPv4 address such as `192.168.53.5` (the rule of ipFromString). */
export function isDottedIPv4(value: unknown): value is string {
  return typeof value === 'string' && ipFromString(value) !== null
}
