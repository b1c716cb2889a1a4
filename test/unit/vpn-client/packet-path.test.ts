// The VPN client's per-packet decisions (which frame a TUN read travels as,
// what is written back to the TUN) and the address check done before a TUN
// is created.
import t from 'tap'
import fc from 'fast-check'
import { classifyTunRead, plainPacket, TunRead, tunWriteFor, VNET_F_NEEDS_CSUM } from '../../../vpn-client/packet-path.js'
import { checkVpnAddress, VpnConfigError } from '../../../vpn-client/vpn.js'
import { VNET_HDR_BYTES } from '../../../protocol/tunnel/messages.js'
import { buildIPv4Packet } from '../../helpers/tunnel-client.js'

const A = '192.168.53.5'
const B = '192.168.54.5'
const ZERO_HDR = Buffer.alloc(VNET_HDR_BYTES)

function withHeader(header: Buffer, packet: Buffer): Buffer {
  return Buffer.concat([header, packet])
}

function ipv6Packet(): Buffer {
  const p = Buffer.alloc(40)
  p[0] = 0x60
  return p
}

t.test('classifyTunRead without offloads', async (t) => {
  t.equal(classifyTunRead(buildIPv4Packet(A, B), false), TunRead.Plain, 'a 20-byte-header IPv4 packet')
  t.equal(classifyTunRead(buildIPv4Packet(A, B, Buffer.alloc(1300)), false), TunRead.Plain, 'with payload')
  t.equal(classifyTunRead(ipv6Packet(), false), TunRead.NotIPv4, 'IPv6')
  t.equal(classifyTunRead(Buffer.alloc(0), false), TunRead.Runt, 'empty')
  t.equal(classifyTunRead(Buffer.of(0x45), false), TunRead.Runt, 'one byte')
  t.equal(classifyTunRead(buildIPv4Packet(A, B).subarray(0, 19), false), TunRead.Runt, '19 bytes of IPv4')
  t.equal(classifyTunRead(Buffer.of(0x60), false), TunRead.NotIPv4, 'one byte of IPv6 is already not IPv4')
  t.equal(
    classifyTunRead(withHeader(Buffer.of(1, 1, 0, 0, 0, 0, 0, 0, 0, 0), buildIPv4Packet(A, B)), false),
    TunRead.NotIPv4,
    'a virtio header on a TUN without offloads is not mistaken for one',
  )
})

t.test('classifyTunRead with offloads', async (t) => {
  const packet = buildIPv4Packet(A, B, Buffer.alloc(100))
  t.equal(classifyTunRead(withHeader(ZERO_HDR, packet), true), TunRead.Plain, 'all-zero header: Plain')
  const gsoTail = Buffer.of(0, 0, 40, 0, 0x50, 0x05, 34, 0, 16, 0)
  t.equal(
    classifyTunRead(withHeader(Buffer.of(0, 0, 40, 0, 0x50, 0x05, 34, 0, 16, 0), packet), true),
    TunRead.Plain,
    'only flags and gso_type decide (hdr_len etc. alone do not make a super-packet)',
  )
  t.equal(classifyTunRead(withHeader(Buffer.of(VNET_F_NEEDS_CSUM, 0, ...gsoTail.subarray(2)), packet), true), TunRead.Gso, 'NEEDS_CSUM')
  t.equal(classifyTunRead(withHeader(Buffer.of(0, 1, ...gsoTail.subarray(2)), packet), true), TunRead.Gso, 'gso_type TCPV4')
  t.equal(classifyTunRead(withHeader(Buffer.of(1, 1, ...gsoTail.subarray(2)), packet), true), TunRead.Gso, 'both')
  t.equal(classifyTunRead(withHeader(ZERO_HDR, ipv6Packet()), true), TunRead.NotIPv4, 'IPv6 after the header')
  t.equal(classifyTunRead(withHeader(Buffer.of(1, 1, 0, 0, 0, 0, 0, 0, 0, 0), ipv6Packet()), true), TunRead.NotIPv4, 'IPv6 super-packet')
  t.equal(classifyTunRead(ZERO_HDR, true), TunRead.Runt, 'a header alone')
  t.equal(classifyTunRead(ZERO_HDR.subarray(0, 5), true), TunRead.Runt, 'half a header')
  t.equal(classifyTunRead(withHeader(ZERO_HDR, packet.subarray(0, 19)), true), TunRead.Runt, 'header + 19 bytes')
  // Read past a virtio header that is not there, byte 10 (the header checksum's
  // high byte, which varies with the packet id) stands where the IP version
  // would: fixed to one that is not 4, so the case does not depend on the id.
  const bare = Buffer.from(packet)
  bare[10] = 0x12
  t.equal(classifyTunRead(bare, true), TunRead.NotIPv4, 'a bare packet on an offload TUN: the first IP byte is payload, not 0x45')
})

t.test('plainPacket', async (t) => {
  const packet = buildIPv4Packet(A, B, Buffer.from('hello'))
  t.equal(plainPacket(packet, false), packet, 'without offloads: the read itself')
  const read = withHeader(ZERO_HDR, packet)
  const out = plainPacket(read, true)
  t.ok(out.equals(packet), 'with offloads: the bytes after the header')
  t.equal(out.buffer, read.buffer, 'a view, not a copy')
  t.equal(out.byteOffset, read.byteOffset + VNET_HDR_BYTES)
})

t.test('tunWriteFor', async (t) => {
  const packet = buildIPv4Packet(B, A, Buffer.from('reply'))
  t.equal(tunWriteFor(packet, false, false), packet, 'PACKET without offloads: as is')
  const out = tunWriteFor(packet, false, true)
  t.equal(out.length, VNET_HDR_BYTES + packet.length)
  t.ok(out.subarray(0, VNET_HDR_BYTES).equals(ZERO_HDR), '10 zero bytes first, even from allocUnsafe')
  t.ok(out.subarray(VNET_HDR_BYTES).equals(packet), 'then the packet')
  const gso = withHeader(Buffer.of(1, 1, 40, 0, 0x50, 0x05, 34, 0, 16, 0), packet)
  t.equal(tunWriteFor(gso, true, true), gso, 'GSO_PACKET: as is, header included')
  t.equal(tunWriteFor(Buffer.alloc(0), false, true).length, VNET_HDR_BYTES, 'an empty packet still gets its header')
})

/** Bytes that classify as IPv4 of at least the minimum header: version 4 first, any rest. */
const ipv4Looking = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ minLength: 19, maxLength: 1600 }))
  .map(([ihl, rest]) => Buffer.concat([Buffer.of(0x40 | ihl), rest]))

t.test('property: an offload read with a zero header survives plainPacket then tunWriteFor', async (t) => {
  fc.assert(
    fc.property(ipv4Looking, (packet) => {
      const read = withHeader(ZERO_HDR, packet)
      if (classifyTunRead(read, true) !== TunRead.Plain) return false
      if (classifyTunRead(packet, false) !== TunRead.Plain) return false
      const plain = plainPacket(read, true)
      return tunWriteFor(plain, false, true).equals(read) && tunWriteFor(plainPacket(packet, false), false, false).equals(packet)
    }),
    { numRuns: 500 },
  )
  t.pass('round trip holds')
})

t.test('property: any nonzero flags or gso_type makes an IPv4 read Gso, and it is written back unchanged', async (t) => {
  const header = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 8, maxLength: 8 }))
    .filter(([flags, gsoType]) => flags !== 0 || gsoType !== 0)
    .map(([flags, gsoType, rest]) => Buffer.concat([Buffer.of(flags, gsoType), rest]))
  fc.assert(
    fc.property(header, ipv4Looking, (hdr, packet) => {
      const read = withHeader(hdr, packet)
      return classifyTunRead(read, true) === TunRead.Gso && tunWriteFor(read, true, true) === read
    }),
    { numRuns: 300 },
  )
  t.pass('holds')
})

t.test('checkVpnAddress', async (t) => {
  t.equal(checkVpnAddress(A).toString(), '192.168.0.0/16', 'in the default subnet: the parsed subnet')
  t.equal(checkVpnAddress('192.168.255.254').prefix, 16, 'the last host address')
  t.throws(() => checkVpnAddress('10.0.0.5'), {
    name: 'VpnConfigError',
    message: /10\.0\.0\.5 is outside the simulator's subnet 192\.168\.0\.0\/16/,
  })
  t.throws(() => checkVpnAddress('10.0.0.5'), VpnConfigError)
  t.throws(() => checkVpnAddress('192.168.0.0'), { name: 'VpnConfigError', message: /network or broadcast address of 192\.168\.0\.0\/16/ })
  t.throws(() => checkVpnAddress('192.168.255.255'), { name: 'VpnConfigError', message: /network or broadcast/ })
  t.throws(() => checkVpnAddress('192.168.1'), { name: 'VpnConfigError', message: /not an IPv4 address/ })
  t.throws(() => checkVpnAddress('192.168.010.5'), { name: 'VpnConfigError', message: /not an IPv4 address/ }, 'leading zeros are refused')

  const custom = checkVpnAddress('10.20.30.40', '10.20.0.0/16')
  t.equal(custom.toString(), '10.20.0.0/16', 'a custom subnet')
  t.throws(() => checkVpnAddress(A, '10.20.0.0/16'), { name: 'VpnConfigError', message: /outside the simulator's subnet 10\.20\.0\.0\/16/ })
  t.throws(() => checkVpnAddress('10.20.255.255', '10.20.0.0/16'), {
    name: 'VpnConfigError',
    message: /broadcast address of 10\.20\.0\.0\/16/,
  })
  t.equal(checkVpnAddress('10.0.0.0', '10.0.0.0/31').prefix, 31, '/31 has no network or broadcast address')
  t.throws(() => checkVpnAddress(A, '192.168.1.0/16'), /host bits set/, 'a bad subnet is refused')
})
