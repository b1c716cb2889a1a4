import t from 'tap'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { encodeFrame, type Frame } from '../../../../protocol/wire/frame.js'
import { FrameError, MessageError, ProtocolError } from '../../../../protocol/wire/errors.js'
import { packPlain } from '../../../../protocol/wire/msgpack.js'
import { isDottedIPv4 } from '../../../../protocol/tunnel/ipv4.js'
import { DEVNET_P2P_MAGIC } from '../../../../protocol/chain/messages.js'
import {
  createTunnelFrameDecoder,
  decodeAuthBody,
  decodePacketFrame,
  decodeTunnelFrame,
  encodeAuthBody,
  encodePacketFrame,
  encodeTunnelFrame,
  isPacketFrame,
  tryDecodeTunnelFrame,
  MAX_PACKET_BYTES,
  MAX_TUNNEL_PAYLOAD_BYTES,
  PACKET_FRAME_TYPE,
  SEALED_PACKET_FRAME_TYPE,
  SEALED_TYPE_BIT,
  TUNNEL_MAGIC,
  TUNNEL_MESSAGE_TYPES,
  TunnelError,
  type TunnelMessage,
} from '../../../../protocol/tunnel/messages.js'
import { PacketCipher } from '../../../../protocol/tunnel/crypto.js'

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'fail'>

const fill = (n: number, byte: number): Buffer => Buffer.alloc(n, byte)
const frame = (type: number, payload: Uint8Array): Frame => ({ type, flags: 0, payload: Buffer.from(payload) })

/** A connected pair of link ciphers, as a client and a server hold them. */
function cipherPair(): { client: PacketCipher; server: PacketCipher } {
  const c2s = randomBytes(32)
  const s2c = randomBytes(32)
  return {
    client: new PacketCipher({ sendKey: c2s, receiveKey: s2c }),
    server: new PacketCipher({ sendKey: s2c, receiveKey: c2s }),
  }
}

const SAMPLES: TunnelMessage[] = [
  { type: 'CLIENT_HELLO', version: 1, clientKey: fill(32, 1), ephemeral: fill(32, 2), encrypt: true },
  { type: 'SERVER_HELLO', version: 1, serverKey: fill(32, 3), ephemeral: fill(32, 4), encrypt: false },
  { type: 'AUTH', sealed: fill(80, 5) },
  { type: 'WELCOME', ip: '192.168.53.5', leaseSeconds: 600 },
  { type: 'REFUSED', code: 'IP_IN_USE', reason: '192.168.53.5 is in use by another client' },
  { type: 'PACKET', data: fill(1400, 0x45) },
  { type: 'GSO_PACKET', data: fill(30_010, 0x45) },
  { type: 'KEEPALIVE' },
  { type: 'RESTARTING' },
  { type: 'ERROR', code: 'BAD_AUTH', reason: 'AUTH does not authenticate' },
]
const SEALABLE = SAMPLES.filter((m) => !['CLIENT_HELLO', 'SERVER_HELLO', 'AUTH'].includes(m.type))

function expectError(t: Asserts, fn: () => unknown, code: string, Class: typeof ProtocolError = ProtocolError): void {
  try {
    const value = fn()
    t.fail(`expected ${code}, got ${JSON.stringify(value)}`)
  } catch (error) {
    t.ok(error instanceof Class, `${Class.name} (got ${String(error)})`)
    t.equal((error as ProtocolError).code, code, (error as Error).message)
  }
}

/** Decodes a plain frame of this type and payload, expecting the error code (never a throw). */
function expectReject(t: Asserts, type: number, payload: Uint8Array, code: string, cipher: PacketCipher | null = null): void {
  const result = tryDecodeTunnelFrame(frame(type, payload), cipher)
  if (result.ok) t.fail(`expected ${code}, decoded ${JSON.stringify(result.message)}`)
  else t.equal(result.error.code, code, result.error.message)
}

t.test('type numbers: one per message, sealed form sets bit 7', async (t) => {
  t.same(TUNNEL_MESSAGE_TYPES, {
    CLIENT_HELLO: 1,
    SERVER_HELLO: 2,
    AUTH: 3,
    WELCOME: 4,
    REFUSED: 5,
    KEEPALIVE: 6,
    RESTARTING: 7,
    ERROR: 8,
    PACKET: 0x10,
    GSO_PACKET: 0x11,
  })
  t.equal(SEALED_PACKET_FRAME_TYPE, PACKET_FRAME_TYPE | SEALED_TYPE_BIT)
  t.equal(TUNNEL_MAGIC, Buffer.from('bkt1').readUInt32BE(0))
  t.equal(new Set(SAMPLES.map((m) => m.type)).size, Object.keys(TUNNEL_MESSAGE_TYPES).length, 'a sample per type')
})

t.test('every message round trips plain through a real frame decoder', async (t) => {
  const decoder = createTunnelFrameDecoder()
  const frames = decoder.push(Buffer.concat(SAMPLES.map((m) => encodeTunnelFrame(m))))
  t.equal(frames.length, SAMPLES.length)
  frames.forEach((f, i) => {
    t.equal(f.type, TUNNEL_MESSAGE_TYPES[SAMPLES[i]!.type], `${SAMPLES[i]!.type} type byte`)
    t.same(decodeTunnelFrame(f), SAMPLES[i])
  })
})

t.test('every sealable message round trips sealed, both directions, split at any byte', async (t) => {
  await fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 20 }), (cuts) => {
      const { client, server } = cipherPair()
      const stream = Buffer.concat(SEALABLE.map((m) => encodeTunnelFrame(m, server)))
      const decoder = createTunnelFrameDecoder()
      const got: TunnelMessage[] = []
      let at = 0
      for (let i = 0; at < stream.length; i++) {
        const step = cuts[i % cuts.length]!
        for (const f of decoder.push(stream.subarray(at, at + step))) got.push(decodeTunnelFrame(f, client))
        at += step
      }
      t.same(got, SEALABLE)
      t.equal(client.opened, SEALABLE.length)
      // and back
      const [back] = createTunnelFrameDecoder().push(encodeTunnelFrame(SEALABLE[0]!, client))
      t.same(decodeTunnelFrame(back!, server), SEALABLE[0])
    }),
    { numRuns: 30 },
  )
})

t.test('sealed frames: bit 7 set, header exactly as encodeFrame would write it, 16 bytes longer', async (t) => {
  const { client } = cipherPair()
  for (const m of SEALABLE) {
    const plain = encodeTunnelFrame(m)
    const sealed = encodeTunnelFrame(m, client)
    t.equal(sealed[4], plain[4]! | SEALED_TYPE_BIT, `${m.type}: type byte`)
    t.equal(sealed.length, plain.length + 16, `${m.type}: tag`)
    t.same(sealed, encodeFrame(TUNNEL_MAGIC, sealed[4]!, sealed.subarray(14)), `${m.type}: header and CRC`)
  }
})

t.test('the handshake is never sealed', async (t) => {
  const { client } = cipherPair()
  for (const m of SAMPLES.filter((m) => !SEALABLE.includes(m))) expectError(t, () => encodeTunnelFrame(m, client), 'INVALID', MessageError)
  t.equal(client.sealed, 0, 'no counter consumed')
  // A sealed-looking handshake type is not a type at all.
  for (const type of [0x81, 0x82, 0x83]) expectReject(t, type, fill(40, 0), 'UNKNOWN_TYPE', client)
})

t.test('sealing rules on receive: keys in force ⇔ frame sealed, and it must authenticate', async (t) => {
  const { client, server } = cipherPair()
  const plain = encodeTunnelFrame({ type: 'KEEPALIVE' })
  const [plainFrame] = createTunnelFrameDecoder().push(plain)
  expectError(t, () => decodeTunnelFrame(plainFrame!, client), 'NOT_SEALED', TunnelError)
  const sealed = createTunnelFrameDecoder().push(encodeTunnelFrame({ type: 'KEEPALIVE' }, server))[0]!
  expectError(t, () => decodeTunnelFrame(sealed), 'UNEXPECTED_SEALED', TunnelError)
  // A plain ERROR on an encrypted link is refused, but readable without the cipher (unauthenticated).
  const [err] = createTunnelFrameDecoder().push(encodeTunnelFrame({ type: 'ERROR', code: 'BAD_AUTH', reason: 'x' }))
  expectError(t, () => decodeTunnelFrame(err!, client), 'NOT_SEALED', TunnelError)
  t.same(decodeTunnelFrame(err!), { type: 'ERROR', code: 'BAD_AUTH', reason: 'x' })
  t.equal(client.opened, 0, 'refusals consume no counter')
  t.same(decodeTunnelFrame(sealed, client), { type: 'KEEPALIVE' }, 'the genuine frame still opens')
})

t.test('a sealed frame cannot be retyped: the type byte is associated data', async (t) => {
  const { client, server } = cipherPair()
  const sealed = encodeTunnelFrame({ type: 'KEEPALIVE' }, server)
  for (const type of [SEALED_PACKET_FRAME_TYPE, SEALED_TYPE_BIT | TUNNEL_MESSAGE_TYPES.RESTARTING]) {
    const retyped = encodeFrame(TUNNEL_MAGIC, type, sealed.subarray(14))
    const [f] = createTunnelFrameDecoder().push(retyped)
    expectError(t, () => decodeTunnelFrame(f!, client), 'DECRYPT_FAILED', TunnelError)
  }
})

t.test('tampered sealed payloads fail with DECRYPT_FAILED (any bit)', async (t) => {
  const { client, server } = cipherPair()
  const payload = encodeTunnelFrame({ type: 'PACKET', data: fill(100, 9) }, server).subarray(14)
  fc.assert(
    fc.property(fc.nat(payload.length * 8 - 1), (bit) => {
      const bad = Buffer.from(payload)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      const r = tryDecodeTunnelFrame(frame(SEALED_PACKET_FRAME_TYPE, bad), client)
      return !r.ok && r.error.code === 'DECRYPT_FAILED'
    }),
  )
  t.same(decodeTunnelFrame(frame(SEALED_PACKET_FRAME_TYPE, payload), client), { type: 'PACKET', data: fill(100, 9) })
})

t.test('PACKET frames: raw payload, zero-copy decode, size limits', async (t) => {
  const data = randomBytes(1400)
  const wire = encodePacketFrame(data)
  t.same(wire, encodeTunnelFrame({ type: 'PACKET', data }), 'same bytes as the general encoder')
  t.same(wire.subarray(14), data, 'the payload is the packet itself, no msgpack')
  const chunk = Buffer.concat([wire, encodeTunnelFrame({ type: 'KEEPALIVE' })])
  const [f, keepalive] = createTunnelFrameDecoder().push(chunk)
  t.ok(isPacketFrame(f!))
  t.notOk(isPacketFrame(keepalive!))
  const view = decodePacketFrame(f!)
  t.same(view, data)
  t.equal(view.buffer, chunk.buffer, 'a view of the socket chunk')
  t.equal(view.byteOffset, chunk.byteOffset + 14)
  expectError(t, () => decodePacketFrame(keepalive!), 'INVALID', MessageError)

  const { client, server } = cipherPair()
  const [sf] = createTunnelFrameDecoder().push(encodePacketFrame(data, client))
  t.equal(sf!.type, SEALED_PACKET_FRAME_TYPE)
  t.ok(isPacketFrame(sf!))
  t.same(decodePacketFrame(sf!, server), data)

  t.equal(encodePacketFrame(Buffer.alloc(0)).length, 14, 'an empty packet is a header (the router drops it)')
  const max = encodePacketFrame(fill(MAX_PACKET_BYTES, 1), client)
  t.equal(max.length - 14, MAX_PACKET_BYTES + 16)
  t.ok(max.length - 14 <= MAX_TUNNEL_PAYLOAD_BYTES, 'a sealed maximum packet fits the frame cap')
  t.same(decodePacketFrame(createTunnelFrameDecoder().push(max)[0]!, server), fill(MAX_PACKET_BYTES, 1))
  expectError(t, () => encodePacketFrame(fill(MAX_PACKET_BYTES + 1, 1)), 'INVALID', MessageError)
  expectError(t, () => encodeTunnelFrame({ type: 'PACKET', data: fill(MAX_PACKET_BYTES + 1, 1) }, client), 'INVALID', MessageError)
  t.equal(client.sealed, 2, 'a refused packet consumes no counter')
  expectReject(t, PACKET_FRAME_TYPE, fill(MAX_PACKET_BYTES + 1, 1), 'INVALID')
})

t.test('frame layer refusals with the tunnel decoder', async (t) => {
  const header = (magic: number, type: number, length: number): Buffer => {
    const h = Buffer.alloc(14)
    h.writeUInt32BE(magic, 0)
    h.writeUInt8(type, 4)
    h.writeUInt32BE(length, 6)
    return h
  }
  expectError(
    t,
    () => createTunnelFrameDecoder().push(header(TUNNEL_MAGIC, PACKET_FRAME_TYPE, MAX_TUNNEL_PAYLOAD_BYTES + 1)),
    'FRAME_TOO_LARGE',
    FrameError,
  )
  t.same(
    createTunnelFrameDecoder().push(header(TUNNEL_MAGIC, PACKET_FRAME_TYPE, MAX_TUNNEL_PAYLOAD_BYTES)),
    [],
    'the cap itself is fine (waits for payload)',
  )
  expectError(t, () => createTunnelFrameDecoder().push(encodeFrame(DEVNET_P2P_MAGIC, 3, Buffer.of(0x80))), 'BAD_MAGIC', FrameError)
})

t.test('unknown types are refused', async (t) => {
  for (const type of [0x00, 0x09, 0x0f, 0x12, 0x20, 0x7f, 0x80, 0x88 + 1, 0xff]) expectReject(t, type, Buffer.of(0x80), 'UNKNOWN_TYPE')
})

t.test('schema refusals: sizes, types, missing and extra fields', async (t) => {
  const T = TUNNEL_MESSAGE_TYPES
  const hello = { version: 1, clientKey: fill(32, 1), ephemeral: fill(32, 2), encrypt: true }
  expectReject(t, T.CLIENT_HELLO, packPlain({ ...hello, clientKey: fill(31, 1) }), 'INVALID')
  expectReject(t, T.CLIENT_HELLO, packPlain({ ...hello, ephemeral: fill(33, 1) }), 'INVALID')
  expectReject(t, T.CLIENT_HELLO, packPlain({ ...hello, encrypt: 1 }), 'INVALID')
  expectReject(t, T.CLIENT_HELLO, packPlain({ ...hello, version: -1 }), 'INVALID')
  expectReject(t, T.CLIENT_HELLO, packPlain({ ...hello, extra: 1 }), 'INVALID')
  expectReject(t, T.CLIENT_HELLO, packPlain({ version: 1, clientKey: fill(32, 1), ephemeral: fill(32, 2) }), 'INVALID')
  expectReject(t, T.SERVER_HELLO, packPlain({ version: 1, clientKey: fill(32, 1), ephemeral: fill(32, 2), encrypt: true }), 'INVALID')
  expectReject(t, T.AUTH, packPlain({ sealed: fill(513, 0) }), 'INVALID')
  expectReject(t, T.AUTH, packPlain({ sealed: 'text' }), 'INVALID')
  for (const ip of ['192.168.053.5', '256.1.1.1', '1.2.3', '1.2.3.4.5', '::1', ' 1.2.3.4', '1.2.3.4\n', '0x7f.0.0.1', '']) {
    expectReject(t, T.WELCOME, packPlain({ ip, leaseSeconds: 1 }), 'INVALID')
  }
  expectReject(t, T.WELCOME, packPlain({ ip: '10.0.0.1', leaseSeconds: 2 ** 32 }), 'INVALID')
  expectReject(t, T.REFUSED, packPlain({ code: 'X'.repeat(33), reason: '' }), 'INVALID')
  expectReject(t, T.ERROR, packPlain({ code: 'X', reason: 'é'.repeat(129) }), 'INVALID', null)
  expectReject(t, T.KEEPALIVE, packPlain({ nonce: 1 }), 'INVALID')
  expectReject(t, T.RESTARTING, packPlain([]), 'INVALID')
  expectReject(t, T.KEEPALIVE, Buffer.alloc(0), 'MALFORMED')
  expectReject(t, T.WELCOME, Buffer.from('d6ff00000000', 'hex'), 'MALFORMED')
  expectError(t, () => encodeTunnelFrame({ type: 'WELCOME', ip: '192.168.1.256', leaseSeconds: 1 }), 'INVALID', MessageError)
  expectError(t, () => encodeTunnelFrame({ type: 'NOPE' } as unknown as TunnelMessage), 'UNKNOWN_TYPE', MessageError)
})

t.test('AUTH body: round trip and refusals', async (t) => {
  const body = { ip: '192.168.53.5', mtu: 1400, secretProof: fill(32, 7) }
  t.same(decodeAuthBody(encodeAuthBody(body)), body)
  t.same(decodeAuthBody(encodeAuthBody({ ...body, secretProof: Buffer.alloc(0) })).secretProof, Buffer.alloc(0))
  expectError(t, () => encodeAuthBody({ ...body, mtu: 67 }), 'INVALID', MessageError)
  expectError(t, () => encodeAuthBody({ ...body, secretProof: fill(33, 0) }), 'INVALID', MessageError)
  expectError(t, () => decodeAuthBody(packPlain({ ...body, ip: '192.168.53' })), 'INVALID', MessageError)
  expectError(t, () => decodeAuthBody(Buffer.of(0xc1)), 'MALFORMED', MessageError)
})

t.test('isDottedIPv4 accepts exactly the canonical dotted quads', async (t) => {
  fc.assert(fc.property(fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), (octets) => isDottedIPv4(octets.join('.'))))
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (text) => {
      const canonical =
        text.split('.').length === 4 && text.split('.').every((p) => /^\d+$/.test(p) && String(Number(p)) === p && Number(p) <= 255)
      return isDottedIPv4(text) === canonical
    }),
    { numRuns: 2000 },
  )
  t.notOk(isDottedIPv4(3232249093))
})

t.test('tryDecodeTunnelFrame never throws on arbitrary frames, with or without keys', async (t) => {
  const { client } = cipherPair()
  fc.assert(
    fc.property(fc.nat(255), fc.uint8Array({ maxLength: 200 }), fc.boolean(), (type, payload, keyed) => {
      const r = tryDecodeTunnelFrame(frame(type, payload), keyed ? client : null)
      return r.ok || r.error instanceof ProtocolError
    }),
    { numRuns: 3000 },
  )
  t.pass('no throw')
})

t.test('GSO_PACKET: a virtio header plus at most one maximum-size packet', async (t) => {
  const T = TUNNEL_MESSAGE_TYPES
  expectReject(t, T.GSO_PACKET, Buffer.alloc(9), 'INVALID')
  const max = Buffer.alloc(10 + 65_535, 0x45)
  const decoded = tryDecodeTunnelFrame(frame(T.GSO_PACKET, max))
  t.ok(decoded.ok && decoded.message.type === 'GSO_PACKET' && decoded.message.data.length === max.length, 'the largest one decodes')
  expectReject(t, T.GSO_PACKET, Buffer.alloc(10 + 65_536), 'INVALID')
  expectReject(t, T.PACKET, Buffer.alloc(65_536), 'INVALID')
  t.throws(() => encodeTunnelFrame({ type: 'GSO_PACKET', data: Buffer.alloc(5) }), /shorter than its 10-byte header/)
})
