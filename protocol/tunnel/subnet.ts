// The private address range the simulator hands out (the report's rule:
// 192.168.0.0/16). Parsed once at start-up from a CLI option; contains() then
// runs for every packet, so it is two integer operations.

import { ipFromString, ipToString, isIPv4Number } from './ipv4.js'

/** The report's rule: VMs use 192.168.x.y. */
export const DEFAULT_SUBNET = '192.168.0.0/16'

export type SubnetErrorCode = 'BAD_SYNTAX' | 'HOST_BITS_SET'

/** A subnet option the simulator cannot use; `code` is stable, the message says how to fix it. */
export class SubnetError extends Error {
  override name = 'SubnetError'
  constructor(
    readonly code: SubnetErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** An IPv4 network in CIDR form. Immutable. */
export class Subnet {
  /** Network address (host bits zero), unsigned 32-bit. */
  readonly network: number
  /** Prefix length, 0..32. */
  readonly prefix: number
  /** Netmask, unsigned 32-bit (255.255.0.0 for /16). */
  readonly mask: number
  /** Last address of the range (the broadcast address when prefix ≤ 30), unsigned 32-bit. */
  readonly last: number
  /** Number of addresses in the range, 2^(32 - prefix). */
  readonly size: number
  // Signed 32-bit copies so contains() stays in small-integer arithmetic.
  private readonly network32: number
  private readonly mask32: number

  /** Use parseSubnet for text; this constructor takes a network with no host bits set. */
  constructor(network: number, prefix: number) {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new RangeError(`bad prefix length: ${prefix}`)
    if (!isIPv4Number(network)) throw new RangeError(`not an unsigned 32-bit IPv4 address: ${String(network)}`)
    // `<< 32` is `<< 0` in JavaScript, so /0 gets its mask spelled out.
    this.mask32 = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) | 0
    this.network32 = network | 0
    if ((this.network32 & ~this.mask32) !== 0) {
      throw new SubnetError('HOST_BITS_SET', `${ipToString(network)}/${prefix} has host bits set`)
    }
    this.network = network
    this.prefix = prefix
    this.mask = this.mask32 >>> 0
    this.size = 2 ** (32 - prefix)
    this.last = network + this.size - 1
  }

  /** True when the address (unsigned 32-bit) is inside the range. */
  contains(ip: number): boolean {
    return ((ip ^ this.network32) & this.mask32) === 0
  }

  /**
   * True when the address may be given to a client: inside the range and,
   * for prefixes up to /30, neither the network nor the broadcast address
   * (the client's kernel would treat those specially). /31 and /32 have no
   * such addresses (RFC 3021).
   */
  isHostAddress(ip: number): boolean {
    if (!this.contains(ip)) return false
    if (this.prefix >= 31) return true
    return ip !== this.network && ip !== this.last
  }

  /** CIDR text, e.g. "192.168.0.0/16". */
  toString(): string {
    return `${ipToString(this.network)}/${this.prefix}`
  }

  toJSON(): string {
    return this.toString()
  }
}

/**
 * Parses "a.b.c.d/n" strictly (the dotted quad as ipFromString, n decimal
 * 0..32 without leading zeros). Host bits set ("192.168.53.5/16") are
 * refused rather than masked off: on a simulator option that is almost
 * always a typo, and guessing would silently hand out a different range. The
 * error suggests the network the user probably meant.
 */
export function parseSubnet(text: string): Subnet {
  if (typeof text !== 'string') throw new SubnetError('BAD_SYNTAX', 'subnet must be a string like 192.168.0.0/16')
  const slash = text.indexOf('/')
  const ip = slash < 0 ? null : ipFromString(text.slice(0, slash))
  const prefixText = slash < 0 ? '' : text.slice(slash + 1)
  if (ip === null || !/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(prefixText)) {
    throw new SubnetError('BAD_SYNTAX', `not a subnet in CIDR form (like 192.168.0.0/16): ${JSON.stringify(text)}`)
  }
  const prefix = Number(prefixText)
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  const network = (ip & mask) >>> 0
  if (network !== ip) {
    throw new SubnetError('HOST_BITS_SET', `${text} has host bits set; did you mean ${ipToString(network)}/${prefix}?`)
  }
  return new Subnet(network, prefix)
}
