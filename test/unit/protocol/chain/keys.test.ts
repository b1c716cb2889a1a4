// The OpenSSL fast path (`verify`) must agree with the elliptic reference
// (`verifyWithElliptic`) on every input, and both must enforce low-S.
import t from 'tap'
import fc from 'fast-check'
import { sign as osslSign, verify as osslVerify } from 'node:crypto'
import elliptic from 'elliptic'
import {
  ADDRESS_BYTES,
  addressFromPrivateKey,
  CURVE_N,
  generateKeyPair,
  isLowS,
  isValidAddress,
  sign,
  verify,
  verifyWithElliptic,
} from '../../../../protocol/chain/keys.js'
import {
  CURVE_P,
  HALF_N,
  be32,
  big,
  flipBit,
  highSTwin,
  isCurveX,
  offCurveX,
  opensslPrivateKey,
  opensslPublicKey,
  toLowS,
} from '../../../helpers/tamper.js'

const ec = new elliptic.ec('secp256k1')

// A private key is any 32 bytes in [1, n-1].
const privateKeyArb = fc.bigInt({ min: 1n, max: CURVE_N - 1n }).map(be32)
const messageArb = fc.uint8Array({ minLength: 0, maxLength: 200 })
const both = (address: Uint8Array, msg: Uint8Array, sig: Uint8Array): [boolean, boolean] => [
  verify(address, msg, sig),
  verifyWithElliptic(address, msg, sig),
]

t.test('generateKeyPair gives a 32-byte key and its 33-byte compressed address', async (t) => {
  const k = generateKeyPair()
  t.equal(k.privateKey.length, 32)
  t.equal(k.address.length, ADDRESS_BYTES)
  t.ok(k.address[0] === 2 || k.address[0] === 3)
  t.same(addressFromPrivateKey(k.privateKey), k.address)
  t.ok(isValidAddress(k.address))
})

t.test('a real signature verifies on both paths and is low-S (property)', async (t) => {
  fc.assert(
    fc.property(privateKeyArb, messageArb, (priv, msg) => {
      const address = addressFromPrivateKey(priv)
      const sig = sign(priv, msg)
      return (
        sig.length === 64 &&
        isLowS(sig) &&
        big(sig.subarray(32)) <= HALF_N &&
        verify(address, msg, sig) &&
        verifyWithElliptic(address, msg, sig)
      )
    }),
    { numRuns: 100 },
  )
  t.pass('100 random key pairs and messages')
})

t.test('one flipped bit in message, signature or key fails on both paths (property)', async (t) => {
  fc.assert(
    fc.property(privateKeyArb, messageArb, fc.nat(), fc.nat(), fc.nat(), (priv, msg, mBit, sBit, kBit) => {
      const address = addressFromPrivateKey(priv)
      const sig = sign(priv, msg)
      const badMsg = msg.length === 0 ? Buffer.from([0]) : flipBit(msg, mBit % (msg.length * 8))
      const results = [
        ...both(address, badMsg, sig),
        ...both(address, msg, flipBit(sig, sBit % 512)),
        ...both(flipBit(address, kBit % 264), msg, sig),
      ]
      return results.every((r) => r === false)
    }),
    { numRuns: 100 },
  )
  t.pass('every mutation refused by both')
})

t.test('the high-S twin is a valid ECDSA signature but both paths refuse it (property)', async (t) => {
  fc.assert(
    fc.property(privateKeyArb, messageArb, (priv, msg) => {
      const address = addressFromPrivateKey(priv)
      const twin = highSTwin(sign(priv, msg))
      // Raw OpenSSL (no low-S rule) accepts the twin: the refusal below is the malleability rule, not a broken signature.
      const mathematicallyValid = osslVerify('sha256', msg, { key: opensslPublicKey(address), dsaEncoding: 'ieee-p1363' }, twin)
      return mathematicallyValid && big(twin.subarray(32)) > HALF_N && !isLowS(twin) && both(address, msg, twin).every((r) => !r)
    }),
    { numRuns: 50 },
  )
  t.pass('high-S twins refused')
})

t.test('OpenSSL-made signatures verify on both paths once normalised to low-S (property)', async (t) => {
  let sawHighS = false
  fc.assert(
    fc.property(privateKeyArb, messageArb, (priv, msg) => {
      const address = addressFromPrivateKey(priv)
      const raw = osslSign('sha256', msg, { key: opensslPrivateKey(priv), dsaEncoding: 'ieee-p1363' })
      const low = toLowS(raw)
      if (!low.equals(raw)) {
        sawHighS = true
        if (verify(address, msg, raw) || verifyWithElliptic(address, msg, raw)) return false
      }
      return verify(address, msg, low) && verifyWithElliptic(address, msg, low)
    }),
    { numRuns: 100 },
  )
  // OpenSSL picks s freely, so about half of 100 signatures are high-S; the branch above ran.
  t.ok(sawHighS, 'at least one OpenSSL signature needed normalising')
})

t.test('elliptic-made signatures verify with raw OpenSSL (property)', async (t) => {
  fc.assert(
    fc.property(privateKeyArb, messageArb, (priv, msg) => {
      const address = addressFromPrivateKey(priv)
      return osslVerify('sha256', msg, { key: opensslPublicKey(address), dsaEncoding: 'ieee-p1363' }, sign(priv, msg))
    }),
    { numRuns: 50 },
  )
  t.pass('agreed')
})

t.test('signatures are deterministic (RFC 6979) and bound to the key', async (t) => {
  const a = generateKeyPair()
  const b = generateKeyPair()
  const msg = Buffer.from('pay 5')
  t.same(sign(a.privateKey, msg), sign(a.privateKey, msg))
  t.same(both(b.address, msg, sign(a.privateKey, msg)), [false, false], 'a signature by a does not verify as b')
})

t.test('malformed signatures are refused by both paths', async (t) => {
  const k = generateKeyPair()
  const msg = Buffer.from('m')
  const sig = sign(k.privateKey, msg)
  const r = sig.subarray(0, 32)
  const s = sig.subarray(32)
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['63 bytes', sig.subarray(0, 63)],
    ['65 bytes', Buffer.concat([sig, Buffer.from([0])])],
    ['DER instead of r‖s', Buffer.from(ec.keyFromPrivate(k.privateKey).sign(Buffer.alloc(32)).toDER())],
    ['s = 0', Buffer.concat([r, Buffer.alloc(32)])],
    ['r = 0', Buffer.concat([Buffer.alloc(32), s])],
    ['r = n', Buffer.concat([be32(CURVE_N), s])],
    ['s = n', Buffer.concat([r, be32(CURVE_N)])],
    ['s = n/2 + 1', Buffer.concat([r, be32(HALF_N + 1n)])],
    ['all zero', Buffer.alloc(64)],
  ]
  for (const [label, bad] of cases) t.same(both(k.address, msg, bad), [false, false], label)
})

t.test('isValidAddress accepts exactly compressed curve points', async (t) => {
  const k = generateKeyPair()
  const x = k.address.subarray(1)
  const uncompressed = Buffer.from(ec.keyFromPrivate(k.privateKey).getPublic(false, 'array'))
  t.ok(isValidAddress(k.address))
  t.ok(isValidAddress(Buffer.concat([Buffer.from([k.address[0] === 2 ? 3 : 2]), x])), 'the other y of the same x is a point too')
  t.notOk(isValidAddress(k.address.subarray(0, 32)), '32 bytes')
  t.notOk(isValidAddress(Buffer.concat([k.address, Buffer.from([0])])), '34 bytes')
  t.notOk(isValidAddress(Buffer.alloc(0)), 'empty')
  t.notOk(isValidAddress(uncompressed), '65-byte uncompressed key')
  for (const prefix of [0, 1, 4, 5, 6, 7, 0xff]) {
    t.notOk(isValidAddress(Buffer.concat([Buffer.from([prefix]), x])), `prefix 0${prefix.toString(16)}`)
  }
  const off = offCurveX()
  t.notOk(isCurveX(off))
  t.notOk(isValidAddress(Buffer.concat([Buffer.from([2]), be32(off)])), 'x not on the curve (02)')
  t.notOk(isValidAddress(Buffer.concat([Buffer.from([3]), be32(off)])), 'x not on the curve (03)')
  t.notOk(isValidAddress(Buffer.concat([Buffer.from([2]), be32(CURVE_P)])), 'x = p (out of the field)')
  t.notOk(isValidAddress(Buffer.alloc(33)), 'all zero')
  // Repeated queries come from the cache and must give the same answers.
  t.notOk(isValidAddress(Buffer.concat([Buffer.from([2]), be32(off)])))
  t.ok(isValidAddress(k.address))
})

t.test('isValidAddress agrees with the curve equation on random x (property)', async (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: CURVE_P - 1n }),
      fc.constantFrom(2, 3),
      (x, prefix) => isValidAddress(Buffer.concat([Buffer.from([prefix]), be32(x)])) === isCurveX(x),
    ),
    { numRuns: 200 },
  )
  t.pass('agreed')
})

t.test('a key that is not an address verifies nothing on either path', async (t) => {
  const k = generateKeyPair()
  const msg = Buffer.from('m')
  const sig = sign(k.privateKey, msg)
  const uncompressed = Buffer.from(ec.keyFromPrivate(k.privateKey).getPublic(false, 'array'))
  // The reference must refuse what the fast path refuses, or "both paths agree" proves nothing.
  t.same(both(uncompressed, msg, sig), [false, false], 'uncompressed 65-byte key')
  t.same(both(Buffer.concat([Buffer.from([2]), be32(offCurveX())]), msg, sig), [false, false], 'off-curve x')
  t.same(both(Buffer.alloc(33), msg, sig), [false, false], 'zero address')
})
