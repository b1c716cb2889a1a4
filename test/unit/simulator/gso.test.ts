// The simulator's GSO handling: header checks, checksum completion, and
// TCP segmentation for receivers without offloads, checked against the
// RFC 1071 checksums and the segment arithmetic a NIC would do.
import t from 'tap'
import fc from 'fast-check'
import { gsoSegmentCount, segmentGso, vnetProblem } from '../../../simulator/gso.js'

function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  let i = start
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!
  if (i < end) acc += b[i]! << 8
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000)
  return acc
}
const ipChecksumOk = (p: Buffer) => sum16(p, 0, 20) === 0xffff
function transportChecksumOk(p: Buffer): boolean {
  const s = sum16(p, 12, 20) + p[9]! + (p.length - 20)
  return sum16(p, 20, p.length, s) === 0xffff
}
/** The pseudo-header sum (not complemented) a kernel leaves in the field for NEEDS_CSUM. */
function pseudoSum(p: Buffer, len: number): number {
  return sum16(p, 12, 20, p[9]! + len)
}

function vnet(flags: number, gsoType: number, gsoSize: number, csumStart: number, csumOffset: number, hdrLen = 40): Buffer {
  const v = Buffer.alloc(10)
  v[0] = flags
  v[1] = gsoType
  v.writeUInt16LE(hdrLen, 2)
  v.writeUInt16LE(gsoSize, 4)
  v.writeUInt16LE(csumStart, 6)
  v.writeUInt16LE(csumOffset, 8)
  return v
}

function tcpSuper(payload: Buffer, opts: { seq?: number; id?: number; flags?: number } = {}): Buffer {
  const p = Buffer.alloc(40 + payload.length)
  p[0] = 0x45
  p.writeUInt16BE(p.length, 2)
  p.writeUInt16BE(opts.id ?? 1000, 4)
  p.writeUInt16BE(0x4000, 6) // DF
  p[8] = 64
  p[9] = 6
  Buffer.from([192, 168, 53, 5, 192, 168, 54, 5]).copy(p, 12)
  p.writeUInt16BE(40000, 20)
  p.writeUInt16BE(5201, 22)
  p.writeUInt32BE(opts.seq ?? 0xfffff000, 24)
  p.writeUInt32BE(7, 28)
  p[32] = 5 << 4
  p[33] = opts.flags ?? 0x18 // PSH ACK
  p.writeUInt16BE(502, 34)
  payload.copy(p, 40)
  p.writeUInt16BE(pseudoSum(p, p.length - 20), 36)
  return p
}

t.test('a TCP super-packet becomes gso_size segments a receiving kernel accepts', async (t) => {
  const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251))
  const big = tcpSuper(payload, { flags: 0x19 }) // FIN PSH ACK
  const data = Buffer.concat([vnet(1, 1, 1360, 20, 16), big])
  t.equal(vnetProblem(data), null)
  t.equal(gsoSegmentCount(data), 4)
  const segs = segmentGso(data)!
  t.equal(segs.length, 4)
  t.same(
    segs.map((s) => s.length - 40),
    [1360, 1360, 1360, 920],
  )
  t.ok(Buffer.concat(segs.map((s) => s.subarray(40))).equals(payload), 'the payload, in order')
  segs.forEach((s, i) => {
    t.equal(s.readUInt16BE(2), s.length, `segment ${i}: IPv4 total length`)
    t.equal(s.readUInt16BE(4), 1000 + i, 'consecutive IP ids')
    t.equal(s.readUInt32BE(24), (0xfffff000 + i * 1360) >>> 0, 'sequence numbers advance (and wrap)')
    t.ok(ipChecksumOk(s), 'IPv4 header checksum')
    t.ok(transportChecksumOk(s), 'TCP checksum')
    t.equal(s[33], i === 3 ? 0x19 : 0x10, 'FIN and PSH only on the last')
  })
})

t.test('property: segments always reassemble and always check', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.integer({ min: 100, max: 1460 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (len, mss, seq) => {
        const payload = Buffer.alloc(len, 0xa5)
        if (len >= 4) payload.writeUInt32BE(seq, 0)
        const data = Buffer.concat([vnet(1, 1, mss, 20, 16), tcpSuper(payload, { seq })])
        const segs = segmentGso(data)!
        if (segs.length !== Math.ceil(len / mss)) return false
        if (!Buffer.concat(segs.map((s) => s.subarray(40))).equals(payload)) return false
        return segs.every((s, i) => ipChecksumOk(s) && transportChecksumOk(s) && s.readUInt32BE(24) === (seq + i * mss) >>> 0)
      },
    ),
    { numRuns: 200 },
  )
})

t.test('NEEDS_CSUM without gso: the checksum is finished (TCP and UDP)', async (t) => {
  const tcp = tcpSuper(Buffer.from('hello'))
  const [done] = segmentGso(Buffer.concat([vnet(1, 0, 0, 20, 16), tcp]))!
  t.ok(transportChecksumOk(done!), 'TCP checksum valid')
  t.ok(done!.subarray(40).equals(Buffer.from('hello')))
  const udp = Buffer.alloc(20 + 8 + 3)
  udp[0] = 0x45
  udp.writeUInt16BE(udp.length, 2)
  udp[9] = 17
  Buffer.from([192, 168, 53, 5, 192, 168, 54, 5]).copy(udp, 12)
  udp.writeUInt16BE(11, 24)
  udp.write('abc', 28)
  udp.writeUInt16BE(pseudoSum(udp, 11), 26)
  const [u] = segmentGso(Buffer.concat([vnet(1, 0, 0, 20, 6), udp]))!
  t.ok(transportChecksumOk(u!), 'UDP checksum valid')
  const plain = Buffer.from(tcp)
  const [same] = segmentGso(Buffer.concat([vnet(0, 0, 0, 0, 0), plain]))!
  t.ok(same!.equals(plain), 'no flags: unchanged')
})

t.test('headers a kernel would reject, or we cannot segment, are refused', async (t) => {
  const tcp = tcpSuper(Buffer.alloc(3000))
  t.match(vnetProblem(Buffer.concat([vnet(2, 0, 0, 0, 0), tcp])), /flags/)
  t.match(vnetProblem(Buffer.concat([vnet(1, 0x7f, 0, 20, 16), tcp])), /gso_type/)
  t.match(vnetProblem(Buffer.concat([vnet(0, 3, 1000, 0, 0), tcp])), /gso_type/, 'UDP fragmentation offload is not ours')
  t.match(vnetProblem(Buffer.concat([vnet(0, 0x80, 0, 0, 0), tcp])), /ECN/)
  t.match(vnetProblem(Buffer.concat([vnet(1, 0, 0, tcp.length - 1, 0), tcp])), /checksum offset/)
  t.match(vnetProblem(Buffer.concat([vnet(1, 1, 0, 20, 16), tcp])), /gso_size 0/)
  t.match(vnetProblem(Buffer.concat([vnet(0, 0, 0, 0, 0, 60_000), tcp])), /header length/)
  const udp = Buffer.from(tcp)
  udp[9] = 17
  t.match(vnetProblem(Buffer.concat([vnet(1, 1, 1000, 20, 6), udp])), /not TCP/)
  t.equal(vnetProblem(Buffer.concat([vnet(1, 0x81, 1000, 20, 16), tcp])), null, 'TCPV4 with ECN is fine')
  const withOptions = Buffer.concat([vnet(1, 1, 1000, 24, 16), tcpSuper(Buffer.alloc(3000))])
  withOptions[10] = 0x46
  t.equal(segmentGso(withOptions), null, 'IP options: not segmented (dropped and counted by the caller)')
})
