// What the simulator does with a GSO_PACKET (virtio_net_hdr + IPv4 packet,
// as a Linux TUN with offloads reads it): check the header before it can
// reach another kernel, and turn it into ordinary packets for a client that
// did not say `gso` (e.g. one run with --no-offload).
//
// With TUN offloads every TCP and UDP packet a kernel sends comes with its
// transport checksum left to fill in (NEEDS_CSUM), and bulk TCP comes as
// super-packets of up to ~60 KB (TCPV4). For a non-gso receiver the
// simulator does what the sender's NIC would have done: finishes the
// checksum, and cuts a super-packet into gso_size segments with their own
// IPv4 length, id and checksum, TCP sequence numbers, flags and checksum.
// Pure, allocation per output packet only.
import { VNET_HDR_BYTES } from '../protocol/tunnel/messages.js'

export const VNET_F_NEEDS_CSUM = 1
export const VNET_GSO_NONE = 0
export const VNET_GSO_TCPV4 = 1
export const VNET_GSO_ECN = 0x80

const TCP_FIN = 0x01
const TCP_PSH = 0x08
const TCP_CWR = 0x80

/** The header's fields (little-endian on the wire). */
export interface VnetHeader {
  flags: number
  gsoType: number
  hdrLen: number
  gsoSize: number
  csumStart: number
  csumOffset: number
}

export function readVnetHeader(data: Uint8Array): VnetHeader {
  const v = Buffer.from(data.buffer, data.byteOffset, VNET_HDR_BYTES)
  return {
    flags: v[0]!,
    gsoType: v[1]!,
    hdrLen: v.readUInt16LE(2),
    gsoSize: v.readUInt16LE(4),
    csumStart: v.readUInt16LE(6),
    csumOffset: v.readUInt16LE(8),
  }
}

/**
 * Why a GSO_PACKET's header must not be forwarded, or null. Accepts what
 * Linux produces for IPv4 (flags 0 or NEEDS_CSUM; gso NONE or TCPV4, with
 * or without ECN) with offsets inside the packet; refuses the rest, which a
 * receiving kernel would reject (EINVAL) or that no sender of ours makes.
 * `data` has passed the router, so the IPv4 header after the 10 bytes is whole.
 */
export function vnetProblem(data: Uint8Array): string | null {
  if (data.length < VNET_HDR_BYTES) return 'shorter than its virtio header'
  const h = readVnetHeader(data)
  const ipLength = data.length - VNET_HDR_BYTES
  if ((h.flags & ~VNET_F_NEEDS_CSUM) !== 0) return `unsupported flags 0x${h.flags.toString(16)}`
  const base = h.gsoType & ~VNET_GSO_ECN
  if (base !== VNET_GSO_NONE && base !== VNET_GSO_TCPV4) return `unsupported gso_type 0x${h.gsoType.toString(16)}`
  if (h.gsoType === VNET_GSO_ECN) return 'ECN without a gso type'
  if (h.flags & VNET_F_NEEDS_CSUM && h.csumStart + h.csumOffset + 2 > ipLength) return 'checksum offset outside the packet'
  if (h.hdrLen > ipLength) return 'header length beyond the packet'
  if (base === VNET_GSO_TCPV4) {
    if (h.gsoSize === 0) return 'TCPV4 with gso_size 0'
    if (data[VNET_HDR_BYTES + 9] !== 6) return 'TCPV4 on a packet that is not TCP'
  }
  return null
}

/** One's-complement sum of `bytes` (big-endian 16-bit words, odd byte padded), not folded. */
function sum16(bytes: Uint8Array, start: number, end: number, acc = 0): number {
  let i = start
  for (; i + 1 < end; i += 2) acc += (bytes[i]! << 8) | bytes[i + 1]!
  if (i < end) acc += bytes[i]! << 8
  return acc
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return sum
}

/** IPv4 header checksum, written in place. */
function fixIpChecksum(pkt: Buffer, ihl: number): void {
  pkt.writeUInt16BE(0, 10)
  pkt.writeUInt16BE(~fold(sum16(pkt, 0, ihl)) & 0xffff, 10)
}

/** TCP/UDP checksum over the pseudo-header and the segment, written in place. */
function fixTransportChecksum(pkt: Buffer, ihl: number, checkAt: number): void {
  const proto = pkt[9]!
  const len = pkt.length - ihl
  pkt.writeUInt16BE(0, checkAt)
  let s = sum16(pkt, 12, 20) // source and destination addresses
  s += proto + len
  s = sum16(pkt, ihl, pkt.length, s)
  let c = ~fold(s) & 0xffff
  if (c === 0 && proto === 17) c = 0xffff // UDP sends a computed zero as all ones
  pkt.writeUInt16BE(c, checkAt)
}

/**
 * The plain IPv4 packets a GSO_PACKET stands for (it passed vnetProblem):
 * one with its checksum finished, or the segments of a TCP super-packet.
 * Returns null when it cannot be done (a super-packet with IP options or
 * fragments), which the caller drops and counts.
 */
export function segmentGso(data: Buffer): Buffer[] | null {
  const h = readVnetHeader(data)
  const ip = data.subarray(VNET_HDR_BYTES)
  const ihl = (ip[0]! & 0x0f) * 4
  const totalLength = ip.readUInt16BE(2)
  const packet = ip.subarray(0, totalLength)
  if ((h.gsoType & ~VNET_GSO_ECN) === VNET_GSO_NONE) {
    const out = Buffer.from(packet)
    if (h.flags & VNET_F_NEEDS_CSUM) {
      // The field holds the pseudo-header sum; the sum from csum_start to the end completes it.
      const at = h.csumStart + h.csumOffset
      const c = ~fold(sum16(out, h.csumStart, out.length)) & 0xffff
      out.writeUInt16BE(c === 0 && out[9] === 17 ? 0xffff : c, at)
    }
    return [out]
  }
  if (ihl !== 20 || (ip.readUInt16BE(6) & 0x3fff) !== 0) return null
  const thl = (ip[ihl + 12]! >>> 4) * 4
  const headers = ihl + thl
  if (thl < 20 || headers > packet.length) return null
  const payload = packet.length - headers
  const mss = h.gsoSize
  const count = Math.max(1, Math.ceil(payload / mss))
  const baseId = ip.readUInt16BE(4)
  const baseSeq = ip.readUInt32BE(ihl + 4)
  const flags = ip[ihl + 13]!
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const from = headers + i * mss
    const size = Math.min(mss, packet.length - from)
    const seg = Buffer.allocUnsafe(headers + size)
    packet.copy(seg, 0, 0, headers)
    packet.copy(seg, headers, from, from + size)
    seg.writeUInt16BE(seg.length, 2)
    seg.writeUInt16BE((baseId + i) & 0xffff, 4)
    seg.writeUInt32BE((baseSeq + i * mss) >>> 0, ihl + 4)
    const last = i === count - 1
    seg[ihl + 13] = flags & ~(last ? 0 : TCP_FIN | TCP_PSH) & ~(i === 0 ? 0 : TCP_CWR)
    fixIpChecksum(seg, ihl)
    fixTransportChecksum(seg, ihl, ihl + 16)
    out.push(seg)
  }
  return out
}

/** Segments a GSO packet of `data.length` bytes stands for, for rate limiting: at least 1. */
export function gsoSegmentCount(data: Uint8Array): number {
  if (data.length < VNET_HDR_BYTES) return 1
  const h = readVnetHeader(data)
  if ((h.gsoType & ~VNET_GSO_ECN) === VNET_GSO_NONE || h.gsoSize === 0) return 1
  return Math.max(1, Math.ceil((data.length - VNET_HDR_BYTES) / h.gsoSize))
}
