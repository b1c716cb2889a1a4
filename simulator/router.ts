// The routing decision for one packet a client sent up its tunnel: which
// connection gets it, or why nobody does. Runs for every packet on a path
// meant to carry ~1 Gbit/s, so it allocates nothing: the answer is either the
// destination's ConnId (a number) or a DropReason (a string constant).
//
// The simulator behaves like one switched LAN keyed by IP address: the packet
// is forwarded unchanged (no TTL decrement, no checksum rewrite), only to the
// client holding its destination, and only if its source is the sender's own
// leased IP.

import { ipv4Destination, ipv4Problem, ipv4Source } from '../protocol/tunnel/ipv4.js'
import type { ConnId, LeaseTable } from './leases.js'

/**
 * Why a packet was not forwarded, checked in this order:
 * - NOT_IPV4: version nibble is not 4 (e.g. IPv6 the client's kernel sent anyway).
 * - MALFORMED: empty, truncated or inconsistent IPv4 header (see ipv4Problem).
 * - NOT_REGISTERED: the sending connection holds no lease (never claimed,
 *   or replaced by the same key's newer connection and not yet closed).
 * - SPOOFED: source address is not the sender's leased IP.
 * - OUT_OF_SUBNET: destination outside the simulator's subnet (internet
 *   addresses, multicast, 255.255.255.255); there is no gateway beyond it.
 * - UNKNOWN_DESTINATION: inside the subnet but no connected client holds it
 *   (free, in grace, or the subnet's network/broadcast address: broadcast is
 *   not emulated).
 */
export type DropReason = 'NOT_IPV4' | 'MALFORMED' | 'NOT_REGISTERED' | 'SPOOFED' | 'OUT_OF_SUBNET' | 'UNKNOWN_DESTINATION'

export const ROUTER_DROP_REASONS: readonly DropReason[] = [
  'NOT_IPV4',
  'MALFORMED',
  'NOT_REGISTERED',
  'SPOOFED',
  'OUT_OF_SUBNET',
  'UNKNOWN_DESTINATION',
]

/** The connection to forward the packet to, or why it is dropped. Narrow with isDelivery or `typeof`. */
export type RouteResult = ConnId | DropReason

export function isDelivery(result: RouteResult): result is ConnId {
  return typeof result === 'number'
}

export class Router {
  constructor(private readonly leases: LeaseTable) {}

  /**
   * Decides where a packet from connection `from` goes. Never throws, never
   * allocates. A packet addressed to the sender's own IP is delivered back to
   * it: that is what routing by destination means, the receiving kernel
   * accepts it as local traffic, and special-casing it would only add a
   * branch (Linux keeps such packets on lo, so it is rare anyway).
   */
  route(from: ConnId, packet: Uint8Array): RouteResult {
    const problem = ipv4Problem(packet)
    if (problem !== null) return problem
    const senderIp = this.leases.ipOf(from)
    if (senderIp === undefined) return 'NOT_REGISTERED'
    if (ipv4Source(packet) !== senderIp) return 'SPOOFED'
    const dst = ipv4Destination(packet)
    if (!this.leases.subnet.contains(dst)) return 'OUT_OF_SUBNET'
    return this.leases.owner(dst) ?? 'UNKNOWN_DESTINATION'
  }
}
