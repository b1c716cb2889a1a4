// What crosses between the TUN and the tunnel, decided per packet without
// allocating: which frame type a packet read from the TUN travels as, and the
// bytes to write to the TUN for a packet that arrived.
//
// With offloads (IFF_VNET_HDR) every TUN read starts with a 10-byte
// virtio_net_hdr. A packet whose header is all defaults (no checksum left to
// fill in, not a super-packet) travels as a plain PACKET, so clients without
// offloads can take it; anything else needs the header and travels as
// GSO_PACKET, which only clients that announced gso are sent.
import { IPV4_MIN_HEADER_BYTES } from '../protocol/tunnel/ipv4.js'
import { VNET_HDR_BYTES } from '../protocol/tunnel/messages.js'

/** virtio_net_hdr.flags bit: the checksum at csum_start + csum_offset is still to be computed. */
export const VNET_F_NEEDS_CSUM = 1

/** How a read from the TUN travels (numbers, not strings: this runs for every packet). */
export const TunRead = {
  /** Send data (after the virtio header, if any) as PACKET. */
  Plain: 0,
  /** Send the whole read, header included, as GSO_PACKET. */
  Gso: 1,
  /** Not IPv4 (the kernel's IPv6 chatter, if it is not disabled): not sent. */
  NotIPv4: 2,
  /** Too short to be an IPv4 packet. */
  Runt: 3,
} as const
export type TunRead = (typeof TunRead)[keyof typeof TunRead]

/** How a read from the TUN travels. */
export function classifyTunRead(read: Uint8Array, offload: boolean): TunRead {
  const ipStart = offload ? VNET_HDR_BYTES : 0
  if (read.length < ipStart + 1) return TunRead.Runt
  if (read[ipStart]! >>> 4 !== 4) return TunRead.NotIPv4
  if (read.length < ipStart + IPV4_MIN_HEADER_BYTES) return TunRead.Runt
  if (!offload) return TunRead.Plain
  return read[0] === 0 && read[1] === 0 ? TunRead.Plain : TunRead.Gso
}

/** The IP packet of a read classified Plain. */
export function plainPacket(read: Buffer, offload: boolean): Buffer {
  return offload ? read.subarray(VNET_HDR_BYTES) : read
}

/**
 * The bytes to write to the TUN for a packet from the tunnel: a GSO_PACKET's
 * data as is (only offload clients receive them); a PACKET as is without
 * offloads, or after an all-zero virtio header with them (one copy).
 */
export function tunWriteFor(data: Buffer, gso: boolean, offload: boolean): Buffer {
  if (gso || !offload) return data
  const out = Buffer.allocUnsafe(VNET_HDR_BYTES + data.length)
  out.fill(0, 0, VNET_HDR_BYTES)
  data.copy(out, VNET_HDR_BYTES)
  return out
}
