// Why the tunnel seals with aes-256-gcm and carries raw packet payloads:
// seal+open rate of PacketCipher (node:crypto aes-256-gcm, chacha20-poly1305)
// against tweetnacl secretbox for 1,400-byte packets (MTU-sized) and 64,000-
// byte ones (what TUN offloads hand over); the whole frame path (encode,
// FrameDecoder, decode) for plain raw PACKET frames, the msgpack-wrapped
// alternative, and sealed frames; then the handshake: X25519 in node:crypto
// against tweetnacl, and whole handshakes per second. Medians of 5 runs on
// one core, each after a warm-up run; Mbit/s counts each packet's bytes once.
//
//   node dist/bench/tunnel-crypto.js [--runs 5] [--packets 50000]
import { randomBytes } from 'node:crypto'
import nacl from 'tweetnacl'
import { defineCatalogue } from '../protocol/wire/catalogue.js'
import { s } from '../protocol/wire/schema.js'
import {
  createTunnelFrameDecoder,
  decodeTunnelFrame,
  encodePacketFrame,
  MAX_TUNNEL_PAYLOAD_BYTES,
  TUNNEL_MAGIC,
} from '../protocol/tunnel/messages.js'
import { PacketCipher, TunnelKeyPair, TUNNEL_AEAD, type AeadAlgorithm } from '../protocol/tunnel/crypto.js'
import { ClientHandshake, ServerHandshake } from '../protocol/tunnel/handshake.js'
import { fmtInt, intFlag, median, printHeader, printTable, ratesSync } from './lib/harness.js'

const RUNS = intFlag('runs', 5)
const PACKETS = intFlag('packets', 50_000)
const HANDSHAKES = 300

const rows: string[][] = []
const rate = new Map<string, number>()

function record(name: string, bytes: number, rates: number[], note = ''): void {
  const m = median(rates)
  rate.set(name, m)
  const mbit = bytes > 0 ? ((m * bytes * 8) / 1e6).toFixed(0) : ''
  rows.push([name, fmtInt(m), mbit, `${fmtInt(Math.min(...rates))}–${fmtInt(Math.max(...rates))}`, note])
}

/** Rates of `runs` timed runs after one untimed warm-up run (JIT, allocator, OpenSSL contexts). */
function steadyRates(ops: number, fn: () => void): number[] {
  fn()
  return ratesSync(RUNS, ops, fn)
}

/** Seal+open pairs through a PacketCipher pair (one per side, as on a link). */
function packetCipher(algorithm: AeadAlgorithm, size: number, n: number): number[] {
  const k = randomBytes(32)
  const k2 = randomBytes(32)
  const sender = new PacketCipher({ sendKey: k, receiveKey: k2, algorithm })
  const receiver = new PacketCipher({ sendKey: k2, receiveKey: k, algorithm })
  const packet = randomBytes(size)
  const check = receiver.open(sender.seal(packet))
  if (check === null || !check.equals(packet)) throw new Error(`${algorithm}: round trip failed`)
  return steadyRates(n, () => {
    for (let i = 0; i < n; i++) {
      if (receiver.open(sender.seal(packet)) === null) throw new Error(`${algorithm}: open failed`)
    }
  })
}

/** tweetnacl secretbox (XSalsa20-Poly1305) with the same counter-nonce discipline. */
function secretbox(size: number, n: number): number[] {
  const key = randomBytes(32)
  const packet = randomBytes(size)
  const nonce = new Uint8Array(24)
  const view = new DataView(nonce.buffer)
  let counter = 0
  return steadyRates(n, () => {
    for (let i = 0; i < n; i++) {
      view.setUint32(20, counter++)
      const box = nacl.secretbox(packet, nonce, key)
      if (nacl.secretbox.open(box, nonce, key) === null) throw new Error('secretbox: open failed')
    }
  })
}

const wrapped = defineCatalogue(
  { PACKET: { type: 0x10, schema: s.object({ data: s.bytes({ max: 65_535 }) }) } },
  { maxPayloadBytes: MAX_TUNNEL_PAYLOAD_BYTES },
)

/** Encode → FrameDecoder → decode, one frame at a time, as a relay would see them. */
function framePath(mode: 'raw' | 'msgpack' | 'sealed', size: number, n: number): number[] {
  const packet = randomBytes(size)
  const decoder = createTunnelFrameDecoder()
  const k = randomBytes(32)
  const k2 = randomBytes(32)
  const sender = new PacketCipher({ sendKey: k, receiveKey: k2 })
  const receiver = new PacketCipher({ sendKey: k2, receiveKey: k })
  const once = (): number => {
    if (mode === 'msgpack') {
      const [frame] = decoder.push(wrapped.encode(TUNNEL_MAGIC, { type: 'PACKET', data: packet }))
      const msg = wrapped.decode(frame!)
      return msg.data.length
    }
    const cipher = mode === 'sealed' ? sender : null
    const [frame] = decoder.push(encodePacketFrame(packet, cipher))
    const msg = decodeTunnelFrame(frame!, mode === 'sealed' ? receiver : null)
    return msg.type === 'PACKET' ? msg.data.length : -1
  }
  if (once() !== size) throw new Error(`${mode}: frame round trip failed`)
  return steadyRates(n, () => {
    for (let i = 0; i < n; i++) if (once() !== size) throw new Error(`${mode}: bad frame`)
  })
}

function handshakes(): void {
  const a = TunnelKeyPair.generate()
  const b = TunnelKeyPair.generate()
  const aRaw = a.privateKeyBytes()
  const expected = a.agree(b.publicKey)
  if (!Buffer.from(nacl.scalarMult(aRaw, b.publicKey)).equals(expected)) throw new Error('tweetnacl and node:crypto disagree')
  record(
    'X25519 agree, node:crypto',
    0,
    steadyRates(2000, () => {
      for (let i = 0; i < 2000; i++) a.agree(b.publicKey)
    }),
  )
  record(
    'X25519 agree, tweetnacl scalarMult',
    0,
    steadyRates(200, () => {
      for (let i = 0; i < 200; i++) nacl.scalarMult(aRaw, b.publicKey)
    }),
  )
  const clientKey = TunnelKeyPair.generate()
  const serverKey = TunnelKeyPair.generate()
  record(
    'whole handshake (client + server sides)',
    0,
    steadyRates(HANDSHAKES, () => {
      for (let i = 0; i < HANDSHAKES; i++) {
        const client = new ClientHandshake({ staticKey: clientKey })
        const server = new ServerHandshake(client.hello, { staticKey: serverKey })
        const session = client.finish(server.hello, { ip: '192.168.53.5', mtu: 1400 })
        if (!server.openAuth(session.auth).ok) throw new Error('handshake failed')
      }
    }),
    'both sides in one process',
  )
}

printHeader(
  'tunnel crypto',
  `runs ${RUNS}, ${fmtInt(PACKETS)} packets per run at 1,400 B, 1/40 of that at 64,000 B; default AEAD ${TUNNEL_AEAD}`,
)

for (const size of [1400, 64_000]) {
  const n = size === 1400 ? PACKETS : Math.max(100, Math.floor(PACKETS / 40))
  record(`seal+open ${fmtInt(size)} B, aes-256-gcm`, size, packetCipher('aes-256-gcm', size, n))
  record(`seal+open ${fmtInt(size)} B, chacha20-poly1305`, size, packetCipher('chacha20-poly1305', size, n))
  record(`seal+open ${fmtInt(size)} B, tweetnacl secretbox`, size, secretbox(size, Math.max(50, Math.floor(n / 4))))
}
record('frame path 1,400 B, raw PACKET', 1400, framePath('raw', 1400, PACKETS), 'used (plaintext mode)')
record('frame path 1,400 B, msgpack {data}', 1400, framePath('msgpack', 1400, PACKETS), 'the rejected alternative')
record(`frame path 1,400 B, sealed PACKET`, 1400, framePath('sealed', 1400, PACKETS), `used (${TUNNEL_AEAD})`)
handshakes()

printTable(['operation', 'ops/s (median)', 'Mbit/s', 'min–max ops/s', 'note'], rows)
console.log('')
const ratio = (a: string, b: string): string => ((rate.get(a) ?? NaN) / (rate.get(b) ?? NaN)).toFixed(2)
console.log(
  `1,400 B: aes-256-gcm / chacha20-poly1305 = ${ratio('seal+open 1,400 B, aes-256-gcm', 'seal+open 1,400 B, chacha20-poly1305')}x, ` +
    `aes-256-gcm / secretbox = ${ratio('seal+open 1,400 B, aes-256-gcm', 'seal+open 1,400 B, tweetnacl secretbox')}x`,
)
console.log(
  `frame path raw / msgpack = ${ratio('frame path 1,400 B, raw PACKET', 'frame path 1,400 B, msgpack {data}')}x; ` +
    `X25519 node:crypto / tweetnacl = ${ratio('X25519 agree, node:crypto', 'X25519 agree, tweetnacl scalarMult')}x`,
)
