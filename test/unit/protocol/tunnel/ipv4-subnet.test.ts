import t from 'tap'
import fc from 'fast-check'
import { ipFromString, ipToString, ipv4Destination, ipv4Problem, ipv4Source } from '../../../../protocol/tunnel/ipv4.js'
import { DEFAULT_SUBNET, parseSubnet, Subnet, SubnetError } from '../../../../protocol/tunnel/subnet.js'

interface PacketShape {
  version?: number
  ihl?: number
  totalLength?: number
  /** Buffer length; defaults to totalLength. */
  length?: number
  src?: number
  dst?: number
}

function packet(shape: PacketShape = {}): Buffer {
  const ihl = shape.ihl ?? 5
  const totalLength = shape.totalLength ?? ihl * 4 + 8
  const buf = Buffer.alloc(shape.length ?? totalLength)
  const header = Buffer.alloc(Math.max(20, ihl * 4))
  header[0] = ((shape.version ?? 4) << 4) | ihl
  header.writeUInt16BE(totalLength, 2)
  header[8] = 64
  header[9] = 17
  header.writeUInt32BE(shape.src ?? 0xc0a83505, 12)
  header.writeUInt32BE(shape.dst ?? 0xc0a83605, 16)
  header.copy(buf, 0, 0, Math.min(header.length, buf.length))
  return buf
}

t.test('ipFromString accepts strict dotted quads only', async (t) => {
  const good: Array<[string, number]> = [
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['192.168.53.5', 3232249093],
    ['10.0.0.1', 0x0a000001],
    ['127.0.0.1', 0x7f000001],
    ['1.20.100.200', 0x011464c8],
  ]
  for (const [text, value] of good) t.equal(ipFromString(text), value, text)

  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    '010.0.0.1',
    '256.1.1.1',
    '1.2.3.256',
    '1000.1.1.1',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.4\n',
    '0x7f.0.0.1',
    '+1.2.3.4',
    '-1.2.3.4',
    '1..3.4',
    '1.2.3.',
    '.1.2.3',
    '127.1',
    '1.2.3.4/32',
    '1e2.0.0.1',
    '\uff11.2.3.4',
    '1.2.3.4:80',
    '::1',
    'localhost',
  ]
  for (const text of bad) t.equal(ipFromString(text), null, JSON.stringify(text))
  t.equal(ipFromString(42 as unknown as string), null, 'non-string')
})

t.test('ipToString prints unsigned 32-bit values and rejects anything else', async (t) => {
  t.equal(ipToString(0), '0.0.0.0')
  t.equal(ipToString(0xffffffff), '255.255.255.255')
  t.equal(ipToString(3232249093), '192.168.53.5')
  for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, Infinity]) t.throws(() => ipToString(bad), RangeError, String(bad))
  fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (n) => ipFromString(ipToString(n)) === n))
  fc.assert(
    fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), (octets) => {
      const text = octets.join('.')
      const ip = ipFromString(text)
      return ip !== null && ipToString(ip) === text
    }),
  )
})

t.test('ipv4Problem validates what a router needs', async (t) => {
  const cases: Array<[string, Uint8Array, string | null]> = [
    ['minimal header, no payload', packet({ totalLength: 20 }), null],
    ['header + payload', packet(), null],
    ['options (IHL 6)', packet({ ihl: 6, totalLength: 24 }), null],
    ['largest header (IHL 15)', packet({ ihl: 15, totalLength: 60 }), null],
    ['link padding after Total Length', packet({ totalLength: 28, length: 46 }), null],
    ['empty', new Uint8Array(0), 'MALFORMED'],
    ['IPv6', packet({ version: 6, length: 40 }), 'NOT_IPV4'],
    ['one byte of IPv6', Uint8Array.of(0x60), 'NOT_IPV4'],
    ['version 0', packet({ version: 0 }), 'NOT_IPV4'],
    ['one byte of IPv4', Uint8Array.of(0x45), 'MALFORMED'],
    ['19 bytes', packet({ totalLength: 19 }), 'MALFORMED'],
    ['IHL 4', packet({ ihl: 4, totalLength: 28 }), 'MALFORMED'],
    ['IHL 0', packet({ ihl: 0, totalLength: 28 }), 'MALFORMED'],
    ['Total Length below the header', packet({ ihl: 5, totalLength: 19, length: 28 }), 'MALFORMED'],
    ['Total Length below the options', packet({ ihl: 15, totalLength: 40, length: 60 }), 'MALFORMED'],
    ['header runs past the buffer', packet({ ihl: 6, totalLength: 24, length: 20 }), 'MALFORMED'],
    ['Total Length past the buffer', packet({ totalLength: 100, length: 99 }), 'MALFORMED'],
    ['Total Length 0', packet({ totalLength: 0, length: 28 }), 'MALFORMED'],
  ]
  for (const [name, bytes, expected] of cases) {
    t.equal(ipv4Problem(bytes), expected, name)
  }
})

t.test('ipv4Source and ipv4Destination read the addresses, also from a view into a larger buffer', async (t) => {
  const p = packet({ ihl: 6, totalLength: 1400, src: 0xc0a83505, dst: 0xffffffff })
  t.equal(ipv4Problem(p), null)
  t.equal(ipv4Source(p), 0xc0a83505)
  t.equal(ipv4Destination(p), 0xffffffff, 'unsigned, not -1')

  const big = Buffer.concat([Buffer.from([0x60, 1, 2, 3, 4, 5, 6]), packet({ src: 1, dst: 0x80000000 })])
  const view = new Uint8Array(big.buffer, big.byteOffset + 7, big.length - 7)
  t.equal(ipv4Problem(view), null)
  t.equal(ipv4Source(view), 1)
  t.equal(ipv4Destination(view), 0x80000000)
})

t.test('ipv4Problem never throws on arbitrary bytes and only accepts consistent headers', async (t) => {
  const anyBytes = fc.uint8Array({ maxLength: 80 })
  // Mostly version-4 first bytes and small Total Lengths, so the deep branches are reached often.
  const v4ish = fc
    .tuple(fc.nat(15), fc.nat(100), fc.nat(90), fc.uint8Array({ minLength: 90, maxLength: 90 }))
    .map(([ihl, totalLength, length, filler]) => {
      const bytes = filler.slice(0, length)
      if (length > 0) bytes[0] = 0x40 | ihl
      if (length > 3) {
        bytes[2] = 0
        bytes[3] = totalLength
      }
      return bytes
    })
  let accepted = 0
  fc.assert(
    fc.property(fc.oneof(anyBytes, v4ish), (bytes) => {
      if (ipv4Problem(bytes) !== null) return true
      accepted++
      const headerLength = (bytes[0]! & 0x0f) * 4
      const totalLength = bytes[2]! * 256 + bytes[3]!
      return (
        bytes[0]! >>> 4 === 4 &&
        headerLength >= 20 &&
        headerLength <= totalLength &&
        totalLength <= bytes.length &&
        ipv4Source(bytes) === bytes[12]! * 2 ** 24 + bytes[13]! * 2 ** 16 + bytes[14]! * 256 + bytes[15]! &&
        ipv4Destination(bytes) === bytes[16]! * 2 ** 24 + bytes[17]! * 2 ** 16 + bytes[18]! * 256 + bytes[19]!
      )
    }),
    { numRuns: 3000 },
  )
  t.ok(accepted > 0, `some generated packets were valid (${accepted})`)
})

t.test('parseSubnet accepts CIDR text', async (t) => {
  const s = parseSubnet(DEFAULT_SUBNET)
  t.equal(s.network, 0xc0a80000)
  t.equal(s.prefix, 16)
  t.equal(s.mask, 0xffff0000)
  t.equal(s.last, 0xc0a8ffff)
  t.equal(s.size, 65536)
  t.equal(s.toString(), '192.168.0.0/16')
  t.equal(JSON.stringify({ s }), '{"s":"192.168.0.0/16"}')

  const all = parseSubnet('0.0.0.0/0')
  t.equal(all.mask, 0)
  t.equal(all.size, 2 ** 32)
  t.equal(parseSubnet('10.1.2.3/32').toString(), '10.1.2.3/32')
  t.equal(parseSubnet('10.0.0.0/8').mask, 0xff000000)
  t.equal(parseSubnet('255.255.255.254/31').last, 0xffffffff)
})

t.test('parseSubnet rejects bad syntax and host bits with typed errors', async (t) => {
  const bad = [
    '',
    '192.168.0.0',
    '192.168.0.0/',
    '192.168.0.0/33',
    '192.168.0.0/016',
    '192.168.0.0/ 16',
    '192.168.0.0/16 ',
    ' 192.168.0.0/16',
    '192.168.0/16',
    '192.168.0.0/-1',
    '192.168.0.0//16',
    '192.168.0.0/16/1',
    '/16',
    '192.168.00.0/16',
    '192.168.0.0/1e1',
    '192.168.0.0/0x10',
  ]
  for (const text of bad) {
    t.throws(() => parseSubnet(text), { name: 'SubnetError', code: 'BAD_SYNTAX' }, JSON.stringify(text))
  }
  t.throws(() => parseSubnet(16 as unknown as string), { code: 'BAD_SYNTAX' })

  try {
    parseSubnet('192.168.53.5/16')
    t.fail('host bits accepted')
  } catch (error) {
    t.ok(error instanceof SubnetError)
    t.equal((error as SubnetError).code, 'HOST_BITS_SET')
    t.match((error as Error).message, /did you mean 192\.168\.0\.0\/16\?/)
  }
  t.throws(() => parseSubnet('10.0.0.1/31'), { code: 'HOST_BITS_SET' })
  t.throws(() => new Subnet(0xc0a83505, 16), { code: 'HOST_BITS_SET' })
  t.throws(() => new Subnet(0, 33), RangeError)
})

t.test('Subnet.contains matches prefix arithmetic at the edges and at random', async (t) => {
  const s = parseSubnet('192.168.0.0/16')
  t.ok(s.contains(0xc0a80000))
  t.ok(s.contains(0xc0a8ffff))
  t.ok(s.contains(0xc0a83505))
  t.notOk(s.contains(0xc0a7ffff))
  t.notOk(s.contains(0xc0a90000))
  t.notOk(s.contains(0))
  t.notOk(s.contains(0x40a83505), 'differs only in the top bit')
  t.ok(parseSubnet('0.0.0.0/0').contains(0xffffffff))
  t.ok(parseSubnet('0.0.0.0/0').contains(0))
  const host = parseSubnet('10.1.2.3/32')
  t.ok(host.contains(0x0a010203))
  t.notOk(host.contains(0x0a010202))

  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat(32), (a, ip, prefix) => {
      const block = 2 ** (32 - prefix)
      const subnet = new Subnet(Math.floor(a / block) * block, prefix)
      return subnet.contains(ip) === (Math.floor(ip / block) === Math.floor(a / block))
    }),
  )
})

t.test('isHostAddress excludes network and broadcast except for /31 and /32', async (t) => {
  const s = parseSubnet('192.168.0.0/16')
  t.notOk(s.isHostAddress(0xc0a80000), 'network')
  t.notOk(s.isHostAddress(0xc0a8ffff), 'broadcast')
  t.ok(s.isHostAddress(0xc0a80001))
  t.ok(s.isHostAddress(0xc0a8fffe))
  t.notOk(s.isHostAddress(0x0a000001), 'outside')
  const p2p = parseSubnet('10.0.0.0/31')
  t.ok(p2p.isHostAddress(0x0a000000))
  t.ok(p2p.isHostAddress(0x0a000001))
  t.ok(parseSubnet('10.0.0.7/32').isHostAddress(0x0a000007))
})
