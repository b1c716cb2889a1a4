import t from 'tap'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import { createCipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { MessageError, type ProtocolError } from '../../../../protocol/wire/errors.js'
import { packPlain } from '../../../../protocol/wire/msgpack.js'
import { TunnelError, type AuthBody } from '../../../../protocol/tunnel/messages.js'
import {
  checkSecretProof,
  createPacketCipher,
  deriveKeys,
  MAX_FRAMES_PER_KEY,
  openAuth,
  PacketCipher,
  sealAuth,
  secretProof,
  transcriptHash,
  TunnelKeyPair,
  TUNNEL_AEAD,
  type ClientHello,
} from '../../../../protocol/tunnel/crypto.js'
import { ClientHandshake, ServerHandshake } from '../../../../protocol/tunnel/handshake.js'
import type { DecodeResult } from '../../../../protocol/wire/catalogue.js'

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'fail'>
const hex = (h: string): Buffer => Buffer.from(h, 'hex')
const AUTH = { ip: '192.168.53.5', mtu: 1400 }

function expectCode(t: Asserts, fn: () => unknown, code: string): void {
  try {
    fn()
    t.fail(`expected ${code}`)
  } catch (error) {
    t.ok(error instanceof TunnelError, `TunnelError (got ${String(error)})`)
    t.equal((error as ProtocolError).code, code, (error as Error).message)
  }
}

function expectAuthError(t: Asserts, result: DecodeResult<AuthBody>, code: string): void {
  if (result.ok) t.fail(`expected ${code}, AUTH opened to ${JSON.stringify(result.message)}`)
  else t.equal(result.error.code, code, result.error.message)
}

/** Client and server run the whole handshake in memory. */
function handshake(opts: { secret?: string; clientEncrypt?: boolean; serverEncrypt?: boolean } = {}) {
  const clientKey = TunnelKeyPair.generate()
  const serverKey = TunnelKeyPair.generate()
  const client = new ClientHandshake({ staticKey: clientKey, encrypt: opts.clientEncrypt ?? true })
  const server = new ServerHandshake(client.hello, { staticKey: serverKey, encrypt: opts.serverEncrypt ?? true })
  const session = client.finish(server.hello, { ...AUTH, ...(opts.secret === undefined ? {} : { secret: opts.secret }) })
  return { clientKey, serverKey, client, server, session }
}

// ---- independent reference implementation of the key schedule (tweetnacl + HMAC, from docs/PROTOCOL.md) ----

function refHkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest()
  const blocks: Buffer[] = []
  let previous = Buffer.alloc(0)
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = createHmac('sha256', prk)
      .update(Buffer.concat([previous, info, Buffer.of(i)]))
      .digest()
    blocks.push(previous)
  }
  return Buffer.concat(blocks).subarray(0, length)
}

function refHello(version: number, key: Uint8Array, ephemeral: Uint8Array, encrypt: boolean): Buffer {
  const v = Buffer.alloc(4)
  v.writeUInt32BE(version)
  return Buffer.concat([v, key, ephemeral, Buffer.of(encrypt ? 1 : 0)])
}

t.test('reference HKDF reproduces RFC 5869 test case 1, as does node:crypto hkdfSync', async (t) => {
  const ikm = Buffer.alloc(22, 0x0b)
  const salt = hex('000102030405060708090a0b0c')
  const info = hex('f0f1f2f3f4f5f6f7f8f9')
  const okm = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'
  t.equal(refHkdf(ikm, salt, info, 42).toString('hex'), okm)
  t.equal(Buffer.from(hkdfSync('sha256', ikm, salt, info, 42)).toString('hex'), okm)
})

t.test('X25519: RFC 7748 §6.1 vector', async (t) => {
  const alice = TunnelKeyPair.fromPrivateKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
  const bob = TunnelKeyPair.fromPrivateKey(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))
  t.equal(alice.publicKey.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  t.equal(bob.publicKey.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
  t.equal(alice.agree(bob.publicKey).toString('hex'), shared)
  t.equal(bob.agree(alice.publicKey).toString('hex'), shared)
})

t.test('X25519: node:crypto agrees with tweetnacl scalarMult on any keys (property)', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
      const ours = TunnelKeyPair.fromPrivateKey(a)
      const theirPublic = nacl.scalarMult.base(b)
      if (!ours.publicKey.equals(nacl.scalarMult.base(a))) return false
      if (!ours.privateKeyBytes().equals(a)) return false
      return ours.agree(theirPublic).equals(nacl.scalarMult(a, theirPublic))
    }),
    { numRuns: 40 },
  )
  const generated = TunnelKeyPair.generate()
  t.same(Buffer.from(nacl.scalarMult.base(generated.privateKeyBytes())), generated.publicKey, 'generated keys are tweetnacl keys too')
  const box = nacl.box.keyPair()
  t.same(TunnelKeyPair.fromPrivateKey(box.secretKey).publicKey, Buffer.from(box.publicKey), 'a nacl.box key pair loads')
})

t.test('keys: storage round trip, no private key in JSON, bad lengths', async (t) => {
  const k = TunnelKeyPair.generate()
  t.same(TunnelKeyPair.fromPrivateKey(k.privateKeyBytes()).publicKey, k.publicKey)
  t.equal(k.publicKey.length, 32)
  t.same(JSON.parse(JSON.stringify(k)), { publicKey: k.publicKey.toString('hex') })
  t.throws(() => TunnelKeyPair.fromPrivateKey(Buffer.alloc(31)), RangeError)
  expectCode(t, () => k.agree(Buffer.alloc(31, 9)), 'BAD_KEY')
})

t.test('low-order and non-canonical peer keys are refused with BAD_KEY', async (t) => {
  const k = TunnelKeyPair.generate()
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ]
  for (const p of lowOrder) expectCode(t, () => k.agree(hex(p)), 'BAD_KEY')
  const high = Buffer.from(TunnelKeyPair.generate().publicKey)
  high[31]! |= 0x80
  expectCode(t, () => k.agree(high), 'BAD_KEY')
  // A client announcing a low-order ephemeral cannot make the server derive predictable keys.
  const client = new ClientHandshake({ staticKey: TunnelKeyPair.generate() })
  expectCode(t, () => new ServerHandshake({ ...client.hello, ephemeral: hex(lowOrder[2]!) }, { staticKey: k }), 'BAD_KEY')
  expectCode(t, () => new ServerHandshake({ ...client.hello, clientKey: hex(lowOrder[0]!) }, { staticKey: k }), 'BAD_KEY')
})

t.test('handshake end to end: both sides derive the same keys, matching the reference schedule', async (t) => {
  const { clientKey, serverKey, client, server, session } = handshake({ secret: 'lab secret' })
  t.same(session.keys, server.session.keys, 'same transcript and keys')
  t.ok(session.encrypted && server.session.encrypted)
  t.same(session.peerKey, serverKey.publicKey)
  t.same(server.session.peerKey, clientKey.publicKey)
  const keys = [session.keys.authKey, session.keys.clientToServer, session.keys.serverToClient]
  t.equal(new Set(keys.map((k) => k.toString('hex'))).size, 3, 'three distinct 32-byte keys')

  // Recompute from the spec with tweetnacl and a hand-written HKDF.
  const sh = server.hello
  const ch = client.hello
  const h = createHash('sha256')
    .update('bkc-tunnel-v1')
    .update(refHello(ch.version, ch.clientKey, ch.ephemeral, ch.encrypt))
    .update(refHello(sh.version, sh.serverKey, sh.ephemeral, sh.encrypt))
    .digest()
  t.same(session.keys.transcript, h, 'transcript hash')
  t.same(transcriptHash(ch, sh), h)
  t.same(
    createPacketCipher('client', session.keys).seal(Buffer.of(1)),
    createPacketCipher('client', server.session.keys).seal(Buffer.of(1)),
    "either side's keys make the same client cipher",
  )
})

t.test('key schedule matches an independent implementation from fixed keys', async (t) => {
  const cs = TunnelKeyPair.fromPrivateKey(Buffer.alloc(32, 0x11))
  const ce = TunnelKeyPair.fromPrivateKey(Buffer.alloc(32, 0x22))
  const ss = TunnelKeyPair.fromPrivateKey(Buffer.alloc(32, 0x33))
  const se = TunnelKeyPair.fromPrivateKey(Buffer.alloc(32, 0x44))
  const client = new ClientHandshake({ staticKey: cs, ephemeralKey: ce })
  const server = new ServerHandshake(client.hello, { staticKey: ss, ephemeralKey: se })
  const session = client.finish(server.hello, AUTH)
  const dh = (priv: number, pub: Buffer): Buffer => Buffer.from(nacl.scalarMult(Buffer.alloc(32, priv), pub))
  const ikm = Buffer.concat([dh(0x22, se.publicKey), dh(0x11, se.publicKey), dh(0x22, ss.publicKey)])
  const h = createHash('sha256')
    .update('bkc-tunnel-v1')
    .update(refHello(1, cs.publicKey, ce.publicKey, true))
    .update(refHello(1, ss.publicKey, se.publicKey, true))
    .digest()
  const okm = refHkdf(ikm, h, Buffer.from('bkc-tunnel-v1'), 96)
  const expected = { transcript: h, authKey: okm.subarray(0, 32), clientToServer: okm.subarray(32, 64), serverToClient: okm.subarray(64) }
  t.same(session.keys, expected, 'client side')
  t.same(server.session.keys, expected, 'server side')
  t.same(deriveKeys('server', { staticKey: ss, ephemeralKey: se }, client.hello, server.hello), expected, 'deriveKeys')
  // AUTH: the AEAD under authKey, nonce 0, associated data h, of the msgpack body.
  const c = createCipheriv('aes-256-gcm', expected.authKey, Buffer.alloc(12))
  c.setAAD(h)
  const body = packPlain({ ip: AUTH.ip, mtu: AUTH.mtu, secretProof: Buffer.alloc(0) })
  t.same(session.auth.sealed, Buffer.concat([c.update(body), c.final(), c.getAuthTag()]), 'AUTH sealed bytes')
  t.equal(TUNNEL_AEAD, 'aes-256-gcm')
})

t.test('AUTH opens to the client claim; the network secret proof checks', async (t) => {
  const { server, session } = handshake({ secret: 'lab secret' })
  const opened = server.openAuth(session.auth)
  if (!opened.ok) throw opened.error
  t.equal(opened.message.ip, AUTH.ip)
  t.equal(opened.message.mtu, AUTH.mtu)
  t.same(opened.message.secretProof, createHmac('sha256', 'lab secret').update(session.keys.transcript).digest())
  t.ok(server.checkSecret('lab secret', opened.message.secretProof))
  t.notOk(server.checkSecret('other secret', opened.message.secretProof))
  t.notOk(server.checkSecret('lab secret', Buffer.alloc(0)), 'an empty proof is no proof')
  t.notOk(server.checkSecret('lab secret', opened.message.secretProof.subarray(1)))
  // A proof is bound to its handshake.
  const other = handshake({ secret: 'lab secret' })
  t.notOk(other.server.checkSecret('lab secret', opened.message.secretProof), 'a proof from another handshake fails')

  const noSecret = handshake()
  const open2 = noSecret.server.openAuth(noSecret.session.auth)
  t.ok(open2.ok && open2.message.secretProof.length === 0, 'no secret → empty proof')
  t.throws(() => secretProof('', session.keys.transcript), RangeError)
  t.ok(checkSecretProof(Buffer.from('k'), Buffer.alloc(32), secretProof('k', Buffer.alloc(32))), 'string and bytes secrets agree')
})

t.test("a client announcing someone else's key cannot produce a valid AUTH", async (t) => {
  const victim = TunnelKeyPair.generate()
  const attacker = TunnelKeyPair.generate()
  const serverKey = TunnelKeyPair.generate()
  const ephemeral = TunnelKeyPair.generate()
  const hello: ClientHello = {
    type: 'CLIENT_HELLO',
    version: 1,
    clientKey: victim.publicKey,
    ephemeral: ephemeral.publicKey,
    encrypt: true,
  }
  const server = new ServerHandshake(hello, { staticKey: serverKey })
  // The attacker knows everything public and its own private keys; its best derivation uses its own static key.
  const forged = deriveKeys('client', { staticKey: attacker, ephemeralKey: ephemeral }, hello, server.hello)
  expectAuthError(t, server.openAuth({ type: 'AUTH', sealed: sealAuth(forged, { ...AUTH, secretProof: Buffer.alloc(0) }) }), 'BAD_AUTH')
  // Control: with the victim's private key the same AUTH opens.
  const genuine = deriveKeys('client', { staticKey: victim, ephemeralKey: ephemeral }, hello, server.hello)
  t.ok(server.openAuth({ type: 'AUTH', sealed: sealAuth(genuine, { ...AUTH, secretProof: Buffer.alloc(0) }) }).ok)
})

t.test('tampered, replayed or downgraded handshakes fail AUTH', async (t) => {
  const { server, session, clientKey, serverKey } = handshake()
  fc.assert(
    fc.property(fc.nat(session.auth.sealed.length * 8 - 1), (bit) => {
      const bad = Buffer.from(session.auth.sealed)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      const r = server.openAuth({ type: 'AUTH', sealed: bad })
      return !r.ok && r.error.code === 'BAD_AUTH'
    }),
  )
  expectAuthError(t, openAuth(session.keys, session.auth.sealed.subarray(0, 15)), 'BAD_AUTH')
  // Replay: a recorded CLIENT_HELLO + AUTH against a fresh server handshake (new server ephemeral).
  const client = new ClientHandshake({ staticKey: clientKey })
  const first = new ServerHandshake(client.hello, { staticKey: serverKey })
  const recorded = client.finish(first.hello, AUTH).auth
  t.ok(first.openAuth(recorded).ok)
  expectAuthError(t, new ServerHandshake(client.hello, { staticKey: serverKey }).openAuth(recorded), 'BAD_AUTH')
  // Downgrade: a meddler clears `encrypt` in the client's hello on its way to the server.
  const c2 = new ClientHandshake({ staticKey: clientKey })
  const s2 = new ServerHandshake({ ...c2.hello, encrypt: false }, { staticKey: serverKey })
  t.notOk(s2.session.encrypted)
  expectAuthError(t, s2.openAuth(c2.finish(s2.hello, AUTH).auth), 'BAD_AUTH')
  // Man in the middle with its own server key: the client's AUTH is useless to the real server.
  const c3 = new ClientHandshake({ staticKey: clientKey })
  const mitm = new ServerHandshake(c3.hello, { staticKey: TunnelKeyPair.generate() })
  const real = new ServerHandshake(c3.hello, { staticKey: serverKey })
  expectAuthError(t, real.openAuth(c3.finish(mitm.hello, AUTH).auth), 'BAD_AUTH')
})

t.test('an AUTH that authenticates but holds a bad body is a MessageError', async (t) => {
  const { server, session } = handshake()
  // PacketCipher at counter 0 uses the all-zero nonce, as AUTH does.
  const sealer = new PacketCipher({ sendKey: session.keys.authKey, receiveKey: session.keys.authKey })
  const bad = sealer.seal(packPlain({ ip: '192.168.53.5', mtu: 10, secretProof: Buffer.alloc(0) }), session.keys.transcript)
  const r = server.openAuth({ type: 'AUTH', sealed: bad })
  t.ok(!r.ok && r.error instanceof MessageError && r.error.code === 'INVALID', r.ok ? 'opened' : r.error.message)
})

t.test('encryption is on only when both hellos ask for it', async (t) => {
  for (const [c, s] of [
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ] as const) {
    const { server, session } = handshake({ clientEncrypt: c, serverEncrypt: s })
    t.equal(session.encrypted, c && s, `client ${c}, server ${s}`)
    t.equal(server.session.encrypted, c && s)
    t.equal(session.cipher === null, !(c && s))
    t.equal(server.session.cipher === null, !(c && s))
    t.ok(server.openAuth(session.auth).ok, 'AUTH is sealed in either mode')
  }
  const client = new ClientHandshake({ staticKey: TunnelKeyPair.generate(), requireEncryption: true })
  const server = new ServerHandshake(client.hello, { staticKey: TunnelKeyPair.generate(), encrypt: false })
  expectCode(t, () => client.finish(server.hello, AUTH), 'ENCRYPTION_REQUIRED')
})

t.test('versions, pinned server keys, single use', async (t) => {
  const staticKey = TunnelKeyPair.generate()
  const serverKey = TunnelKeyPair.generate()
  const client = new ClientHandshake({ staticKey })
  expectCode(t, () => new ServerHandshake({ ...client.hello, version: 2 }, { staticKey: serverKey }), 'BAD_VERSION')
  const server = new ServerHandshake(client.hello, { staticKey: serverKey })
  expectCode(t, () => client.finish({ ...server.hello, version: 0 }, AUTH), 'BAD_VERSION')

  const pinned = new ClientHandshake({ staticKey, serverKey: serverKey.publicKey })
  t.ok(pinned.finish(new ServerHandshake(pinned.hello, { staticKey: serverKey }).hello, AUTH))
  const wrong = new ClientHandshake({ staticKey, serverKey: serverKey.publicKey })
  expectCode(
    t,
    () => wrong.finish(new ServerHandshake(wrong.hello, { staticKey: TunnelKeyPair.generate() }).hello, AUTH),
    'SERVER_KEY_MISMATCH',
  )

  const once = new ClientHandshake({ staticKey })
  const s = new ServerHandshake(once.hello, { staticKey: serverKey })
  once.finish(s.hello, AUTH)
  t.throws(() => once.finish(s.hello, AUTH), /twice/, 'AUTH key never seals twice')
  t.throws(() => once.finish(s.hello, { ...AUTH, ip: '1.2.3' }))
  const bad = new ClientHandshake({ staticKey })
  t.throws(() => bad.finish(new ServerHandshake(bad.hello, { staticKey: serverKey }).hello, { ...AUTH, ip: '1.2.3' }), MessageError)
})

t.test('link ciphers: the two sides interoperate both ways', async (t) => {
  const { server, session } = handshake()
  const c = session.cipher!
  const s = server.session.cipher!
  for (let i = 0; i < 5; i++) {
    const up = randomBytes(100 + i)
    t.same(s.open(c.seal(up)), up)
    const down = randomBytes(200 + i)
    t.same(c.open(s.seal(down)), down)
  }
  t.equal(c.sealed, 5)
  t.equal(c.opened, 5)
  t.same(
    createPacketCipher('client', session.keys).seal(Buffer.of(1)),
    createPacketCipher('client', session.keys).seal(Buffer.of(1)),
    'deterministic from the keys',
  )
})

t.test('PacketCipher: nonce is 4 zero bytes ‖ counter u64 BE (AES-256-GCM known answer)', async (t) => {
  const zero = Buffer.alloc(32)
  const p = new PacketCipher({ sendKey: zero, receiveKey: zero })
  t.equal(p.seal(Buffer.alloc(16)).toString('hex'), 'cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919')
  for (const [algorithm, counter] of [
    ['aes-256-gcm', 1],
    ['chacha20-poly1305', 0],
    ['chacha20-poly1305', 2 ** 48 - 1],
  ] as const) {
    const key = randomBytes(32)
    const q = new PacketCipher({ sendKey: key, receiveKey: key, algorithm, sendCounter: counter })
    const nonce = Buffer.alloc(12)
    nonce.writeUIntBE(counter, 6, 6)
    const c = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
    c.setAAD(Buffer.of(0x90))
    const plain = randomBytes(50)
    t.same(q.seal(plain, Buffer.of(0x90)), Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]), `${algorithm} counter ${counter}`)
  }
})

t.test('PacketCipher: replayed, reordered, dropped or tampered frames do not open', async (t) => {
  const k1 = randomBytes(32)
  const k2 = randomBytes(32)
  const a = new PacketCipher({ sendKey: k1, receiveKey: k2 })
  const b = new PacketCipher({ sendKey: k2, receiveKey: k1 })
  const f0 = a.seal(Buffer.from('zero'), Buffer.of(1))
  const f1 = a.seal(Buffer.from('one'), Buffer.of(1))
  const f2 = a.seal(Buffer.from('two'), Buffer.of(1))
  t.equal(b.open(f1, Buffer.of(1)), null, 'reordered (1 before 0)')
  t.equal(b.open(f0, Buffer.of(2)), null, 'other associated data')
  t.equal(b.open(f0.subarray(0, 15), Buffer.of(1)), null, 'shorter than a tag')
  t.equal(b.opened, 0, 'failures consume no counter')
  t.same(b.open(f0, Buffer.of(1)), Buffer.from('zero'))
  t.equal(b.open(f0, Buffer.of(1)), null, 'replayed')
  t.same(b.open(f1, Buffer.of(1)), Buffer.from('one'))
  t.equal(b.opened, 2)
  const f3 = a.seal(Buffer.from('three'))
  t.equal(b.open(f3), null, 'a dropped frame (2) makes the next one fail')
  t.same(b.open(f2, Buffer.of(1)), Buffer.from('two'))
  t.equal(new PacketCipher({ sendKey: k1, receiveKey: k2 }).open(f0, Buffer.of(1)), null, "the other direction's key")
  fc.assert(
    fc.property(fc.nat(f3.length * 8 - 1), (bit) => {
      const bad = Buffer.from(f3)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      return b.open(bad) === null
    }),
  )
  t.same(b.open(f3), Buffer.from('three'))
})

t.test('PacketCipher: refuses to seal past 2^48 frames; headroom; argument checks', async (t) => {
  const key = randomBytes(32)
  const p = new PacketCipher({ sendKey: key, receiveKey: key, sendCounter: MAX_FRAMES_PER_KEY - 1, receiveCounter: MAX_FRAMES_PER_KEY - 1 })
  const last = p.seal(Buffer.of(1))
  expectCode(t, () => p.seal(Buffer.of(2)), 'NONCE_EXHAUSTED')
  t.equal(p.sealed, MAX_FRAMES_PER_KEY)
  t.same(p.open(last), Buffer.of(1), 'the last frame opens')
  t.equal(p.open(last), null, 'nothing opens past the limit')
  t.equal(p.opened, MAX_FRAMES_PER_KEY)

  const h = new PacketCipher({ sendKey: key, receiveKey: key })
  const framed = h.seal(Buffer.from('payload'), Buffer.alloc(0), 14)
  t.equal(framed.length, 14 + 7 + 16)
  t.same(framed.subarray(0, 14), Buffer.alloc(14), 'headroom is zeroed')
  t.same(h.open(framed.subarray(14)), Buffer.from('payload'))

  t.throws(() => new PacketCipher({ sendKey: Buffer.alloc(16), receiveKey: key }), RangeError)
  t.throws(() => new PacketCipher({ sendKey: key, receiveKey: key, sendCounter: -1 }), RangeError)
  t.throws(() => new PacketCipher({ sendKey: key, receiveKey: key, receiveCounter: 2 ** 48 + 1 }), RangeError)
})

t.test('AUTH body is checked before sealing', async (t) => {
  const { session } = handshake()
  const bad: AuthBody = { ip: 'not an ip', mtu: 1400, secretProof: Buffer.alloc(0) }
  t.throws(() => sealAuth(session.keys, bad), MessageError)
})
