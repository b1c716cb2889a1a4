// secp256k1 keys and signatures. An address is the compressed public key
// (33 bytes, hex on the JSON surface). Signing uses elliptic (RFC 6979
// deterministic nonces, low-S); verification, the hot path when blocks of
// thousands of transactions arrive, uses OpenSSL through node:crypto, the
// faster of the two (bench:crypto compares them). The keys tests prove both
// paths agree.
import { createPublicKey, verify as osslVerify, randomBytes, type KeyObject } from 'node:crypto'
import elliptic from 'elliptic'
import { sha256 } from '../wire/hash.js'

const ec = new elliptic.ec('secp256k1')

export const ADDRESS_BYTES = 33
export const PRIVATE_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

/** The group order n; only signatures with s <= n/2 are valid (no malleability). */
export const CURVE_N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')
const HALF_N = CURVE_N >> 1n

// DER SubjectPublicKeyInfo prefix for a compressed secp256k1 point.
const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex')

export interface KeyPair {
  privateKey: Buffer
  address: Buffer
}

export function generateKeyPair(): KeyPair {
  for (;;) {
    const priv = randomBytes(PRIVATE_KEY_BYTES)
    const d = BigInt('0x' + priv.toString('hex'))
    if (d > 0n && d < CURVE_N) return { privateKey: priv, address: addressFromPrivateKey(priv) }
  }
}

export function addressFromPrivateKey(privateKey: Uint8Array): Buffer {
  const key = ec.keyFromPrivate(Buffer.from(privateKey))
  return Buffer.from(key.getPublic(true, 'array'))
}

/** ECDSA over sha256(message); always returns a low-S 64-byte r‖s signature. */
export function sign(privateKey: Uint8Array, message: Uint8Array): Buffer {
  const digest = sha256(message)
  const sig = ec.keyFromPrivate(Buffer.from(privateKey)).sign(digest, { canonical: true })
  return Buffer.concat([sig.r.toArrayLike(Buffer, 'be', 32), sig.s.toArrayLike(Buffer, 'be', 32)])
}

export function isLowS(signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false
  const s = BigInt('0x' + Buffer.from(signature.subarray(32)).toString('hex'))
  return s >= 1n && s <= HALF_N
}

// Parsing a public key into an OpenSSL KeyObject costs about as much as a
// verification, and senders repeat, so parsed keys are kept (bounded).
const KEY_CACHE_MAX = 10_000
const keyCache = new Map<string, KeyObject | null>()

function publicKeyObject(address: Uint8Array): KeyObject | null {
  const id = Buffer.from(address).toString('hex')
  const cached = keyCache.get(id)
  if (cached !== undefined) return cached
  let key: KeyObject | null = null
  if (address.length === ADDRESS_BYTES && (address[0] === 2 || address[0] === 3)) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, address]), format: 'der', type: 'spki' })
    } catch {
      key = null // not a point on the curve
    }
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear()
  keyCache.set(id, key)
  return key
}

/** True when the bytes are a compressed secp256k1 point. */
export function isValidAddress(address: Uint8Array): boolean {
  return publicKeyObject(address) !== null
}

/** Verifies a low-S r‖s signature over sha256(message) with OpenSSL. */
export function verify(address: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isLowS(signature)) return false
  const key = publicKeyObject(address)
  if (key === null) return false
  return osslVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
}

/** The same check with elliptic alone: the reference the fast path is tested against. */
export function verifyWithElliptic(address: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isLowS(signature)) return false
  // elliptic also takes 65-byte uncompressed keys; an address is compressed only, as on the fast path.
  if (address.length !== ADDRESS_BYTES || (address[0] !== 2 && address[0] !== 3)) return false
  try {
    const key = ec.keyFromPublic(Buffer.from(address))
    const sig = { r: Buffer.from(signature.subarray(0, 32)).toString('hex'), s: Buffer.from(signature.subarray(32)).toString('hex') }
    return key.verify(sha256(message), sig)
  } catch {
    return false
  }
}
