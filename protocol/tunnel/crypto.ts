// The tunnel's handshake crypto and per-frame AEAD, specified in
// docs/PROTOCOL.md ("Tunnel"). Pure: no sockets, no files, no clocks.
//
//   client                                       server
//   CLIENT_HELLO {clientKey S_c, ephemeral E_c} ->
//                <- SERVER_HELLO {serverKey S_s, ephemeral E_s}
//   h   = SHA-256("bkc-tunnel-v1" ‖ hello bytes of both, fixed layout)
//   okm = HKDF-SHA256(ikm = DH(e_c,E_s) ‖ DH(s_c,E_s) ‖ DH(e_c,S_s), salt = h, info = "bkc-tunnel-v1", 96)
//       = authKey ‖ clientToServer ‖ serverToClient
//   AUTH {sealed = AEAD(authKey, nonce 0, aad h, {ip, mtu, secretProof})} ->
//                <- WELCOME / REFUSED (sealed on an encrypted link)
//
// DH(s_c, E_s) is what proves the client holds the private key of the
// clientKey it announced: without it nobody derives authKey, so nobody can
// seal an AUTH the server opens. DH(e_c, S_s) does the same for the server,
// which matters when the client pins the server's key. DH(e_c, E_s) gives
// forward secrecy. Hashing both hellos into h (and h into the keys) means a
// meddler who flips `encrypt` or swaps a key breaks AUTH.
//
// Why node:crypto (OpenSSL) for X25519 rather than tweetnacl: the keys are the
// same 32-byte X25519 keys either way (the tests check that both agree), and
// OpenSSL's X25519 is much faster (bench:tunnel-crypto): the server's cost per
// handshake bounds how fast a restarted simulator takes back its clients and
// what an unauthenticated flood of CLIENT_HELLOs costs it.

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  timingSafeEqual,
  type CipherGCMTypes,
  type KeyObject,
} from 'node:crypto'
import { writeU64 } from '../wire/bytes.js'
import type { DecodeResult } from '../wire/catalogue.js'
import { sha256 } from '../wire/hash.js'
import {
  decodeAuthBody,
  encodeAuthBody,
  TunnelError,
  SEAL_TAG_BYTES,
  type AuthBody,
  type FrameCipher,
  type TunnelMessageByType,
} from './messages.js'
import { ProtocolError, MessageError } from '../wire/errors.js'

/** Protocol name: transcript prefix and HKDF info. */
export const TUNNEL_PROTOCOL_NAME = 'bkc-tunnel-v1'
export const KEY_BYTES = 32

/**
 * The AEAD of every sealed frame and of AUTH, fixed per protocol version so
 * both ends agree. aes-256-gcm because it is the fastest of the candidates on
 * x86 with AES-NI, for MTU-sized and offload-sized packets alike
 * (bench:tunnel-crypto compares it with chacha20-poly1305 and tweetnacl's
 * secretbox). Counter nonces never repeat under a key, and
 * the 2^48-frame cap is years away at any rate this link carries.
 */
export const TUNNEL_AEAD: AeadAlgorithm = 'aes-256-gcm'
export type AeadAlgorithm = 'aes-256-gcm' | 'chacha20-poly1305'

/** Frames sealed under one key before PacketCipher refuses (a reconnect makes new keys). */
export const MAX_FRAMES_PER_KEY = 2 ** 48

const NONCE_BYTES = 12
const PROTOCOL_NAME_BYTES = Buffer.from(TUNNEL_PROTOCOL_NAME, 'ascii')
// PKCS#8 DER wrapper of a raw X25519 private key (RFC 8410): unlike JWK, it needs no public half, which OpenSSL then computes.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

// ---- keys ---------------------------------------------------------------------

/** An X25519 key pair. The private half stays inside an OpenSSL KeyObject; privateKeyBytes() exports it for storage. */
export class TunnelKeyPair {
  /** Raw 32-byte X25519 public key: the client's identity on the simulator. */
  readonly publicKey: Buffer
  private readonly privateKey: KeyObject

  private constructor(privateKey: KeyObject, publicKey = createPublicKey(privateKey)) {
    this.privateKey = privateKey
    this.publicKey = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')
  }

  static generate(): TunnelKeyPair {
    const { privateKey, publicKey } = generateKeyPairSync('x25519')
    return new TunnelKeyPair(privateKey, publicKey)
  }

  /** From a stored raw 32-byte private key (any 32 bytes are a valid X25519 private key). Throws RangeError on a bad length. */
  static fromPrivateKey(raw: Uint8Array): TunnelKeyPair {
    if (raw.byteLength !== KEY_BYTES) throw new RangeError(`an X25519 private key is ${KEY_BYTES} bytes, got ${raw.byteLength}`)
    return new TunnelKeyPair(createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' }))
  }

  /** The raw 32-byte private key, to store (file mode 0600) and reload with fromPrivateKey. */
  privateKeyBytes(): Buffer {
    return Buffer.from(this.privateKey.export({ format: 'jwk' }).d!, 'base64url')
  }

  /** X25519(private, peer). Throws TunnelError('BAD_KEY') for a malformed or low-order peer key. */
  agree(peerPublicKey: Uint8Array): Buffer {
    checkPublicKey(peerPublicKey)
    let shared: Buffer
    try {
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublicKey).toString('base64url') },
        format: 'jwk',
      })
      shared = diffieHellman({ privateKey: this.privateKey, publicKey })
    } catch (error) {
      // OpenSSL refuses an all-zero result itself (RFC 7748 §6.1), which is what a low-order point gives.
      throw new TunnelError('BAD_KEY', 'Diffie-Hellman with the peer key failed (a low-order point?)', { cause: error })
    }
    if (shared.every((b) => b === 0)) throw new TunnelError('BAD_KEY', 'Diffie-Hellman result is zero: the peer key is a low-order point')
    return shared
  }

  /** Keeps the private key out of logs and JSON. */
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKey.toString('hex') }
  }
}

/**
 * Honest X25519 keys are below 2^255; refusing bit 255 (which X25519 ignores)
 * keeps one identity per key, so leases and allow-lists compare bytes safely.
 */
function checkPublicKey(key: Uint8Array): void {
  if (key.byteLength !== KEY_BYTES) throw new TunnelError('BAD_KEY', `an X25519 public key is ${KEY_BYTES} bytes, got ${key.byteLength}`)
  if ((key[31]! & 0x80) !== 0) throw new TunnelError('BAD_KEY', 'public key has bit 255 set (not a canonical X25519 key)')
}

// ---- transcript and key schedule ------------------------------------------------

export type ClientHello = TunnelMessageByType<'CLIENT_HELLO'>
export type ServerHello = TunnelMessageByType<'SERVER_HELLO'>
export type AuthMessage = TunnelMessageByType<'AUTH'>
export type TunnelRole = 'client' | 'server'

/** A hello's canonical bytes: version u32 ‖ static key ‖ ephemeral key ‖ encrypt u8 (69 bytes), independent of msgpack. */
function helloBytes(version: number, staticKey: Uint8Array, ephemeral: Uint8Array, encrypt: boolean): Buffer {
  const out = Buffer.alloc(4 + KEY_BYTES * 2 + 1)
  out.writeUInt32BE(version, 0)
  out.set(staticKey, 4)
  out.set(ephemeral, 4 + KEY_BYTES)
  out.writeUInt8(encrypt ? 1 : 0, 4 + KEY_BYTES * 2)
  return out
}

/** h = SHA-256("bkc-tunnel-v1" ‖ client hello bytes ‖ server hello bytes). */
export function transcriptHash(client: ClientHello, server: ServerHello): Buffer {
  return sha256(
    PROTOCOL_NAME_BYTES,
    helloBytes(client.version, client.clientKey, client.ephemeral, client.encrypt),
    helloBytes(server.version, server.serverKey, server.ephemeral, server.encrypt),
  )
}

export interface SessionKeys {
  /** The transcript hash h: HKDF salt, AUTH's associated data, what the secret proof signs. */
  transcript: Buffer
  /** Seals AUTH (once, nonce 0). */
  authKey: Buffer
  clientToServer: Buffer
  serverToClient: Buffer
}

/**
 * Both sides' key schedule. `own` are this side's private keys, whose public
 * halves are in its hello; the peer's public keys come from the other hello.
 * Throws TunnelError('BAD_KEY') when a peer key is malformed or low order.
 */
export function deriveKeys(
  role: TunnelRole,
  own: { staticKey: TunnelKeyPair; ephemeralKey: TunnelKeyPair },
  client: ClientHello,
  server: ServerHello,
): SessionKeys {
  const { staticKey, ephemeralKey } = own
  // ikm = DH(e_c, e_s) ‖ DH(s_c, e_s) ‖ DH(e_c, s_s), each computed from this side's half.
  const ikm =
    role === 'client'
      ? [ephemeralKey.agree(server.ephemeral), staticKey.agree(server.ephemeral), ephemeralKey.agree(server.serverKey)]
      : [ephemeralKey.agree(client.ephemeral), ephemeralKey.agree(client.clientKey), staticKey.agree(client.ephemeral)]
  const transcript = transcriptHash(client, server)
  const okm = Buffer.from(hkdfSync('sha256', Buffer.concat(ikm), transcript, PROTOCOL_NAME_BYTES, 3 * KEY_BYTES))
  return {
    transcript,
    authKey: okm.subarray(0, KEY_BYTES),
    clientToServer: okm.subarray(KEY_BYTES, 2 * KEY_BYTES),
    serverToClient: okm.subarray(2 * KEY_BYTES),
  }
}

// ---- AEAD -----------------------------------------------------------------------

function aeadSeal(
  algorithm: AeadAlgorithm,
  key: KeyObject | Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  headroom: number,
): Buffer {
  // Cast: @types/node types each AEAD family in its own overload; both return the same AEAD interface.
  const cipher = createCipheriv(algorithm as CipherGCMTypes, key, nonce, { authTagLength: SEAL_TAG_BYTES })
  if (aad.byteLength > 0) cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  cipher.final() // both AEADs are stream modes: nothing is held back
  const out = Buffer.allocUnsafe(headroom + body.length + SEAL_TAG_BYTES)
  out.fill(0, 0, headroom)
  body.copy(out, headroom)
  cipher.getAuthTag().copy(out, headroom + body.length)
  return out
}

function aeadOpen(
  algorithm: AeadAlgorithm,
  key: KeyObject | Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Buffer | null {
  if (sealed.byteLength < SEAL_TAG_BYTES) return null
  const split = sealed.byteLength - SEAL_TAG_BYTES
  const decipher = createDecipheriv(algorithm as CipherGCMTypes, key, nonce, { authTagLength: SEAL_TAG_BYTES })
  decipher.setAuthTag(sealed.subarray(split))
  if (aad.byteLength > 0) decipher.setAAD(aad)
  const plaintext = decipher.update(sealed.subarray(0, split))
  try {
    decipher.final()
  } catch {
    return null // authentication failed; the plaintext above is discarded unseen
  }
  return plaintext
}

const ZERO_NONCE = Buffer.alloc(NONCE_BYTES)

/** AUTH's `sealed` field: the body under authKey, nonce 0 (the key is used once), associated data h. */
export function sealAuth(keys: SessionKeys, body: AuthBody, algorithm: AeadAlgorithm = TUNNEL_AEAD): Buffer {
  return aeadSeal(algorithm, keys.authKey, ZERO_NONCE, keys.transcript, encodeAuthBody(body), 0)
}

/**
 * Opens AUTH's `sealed` field. Never throws: TunnelError('BAD_AUTH') when it
 * does not authenticate (wrong static key, tampering), MessageError when it
 * authenticates but the body is bad (a broken client).
 */
export function openAuth(keys: SessionKeys, sealed: Uint8Array, algorithm: AeadAlgorithm = TUNNEL_AEAD): DecodeResult<AuthBody> {
  const plaintext = aeadOpen(algorithm, keys.authKey, ZERO_NONCE, keys.transcript, sealed)
  if (plaintext === null) {
    return {
      ok: false,
      error: new TunnelError('BAD_AUTH', 'AUTH does not authenticate: the client does not hold the key it announced, or AUTH was altered'),
    }
  }
  try {
    return { ok: true, message: decodeAuthBody(plaintext) }
  } catch (error) {
    return { ok: false, error: error instanceof ProtocolError ? error : new MessageError('MALFORMED', String(error), { cause: error }) }
  }
}

/** HMAC-SHA256(secret, h): proves knowledge of the network secret for this handshake only. */
export function secretProof(secret: string | Uint8Array, transcript: Uint8Array): Buffer {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
  if (key.byteLength === 0) throw new RangeError('the network secret must not be empty')
  return createHmac('sha256', key).update(transcript).digest()
}

/** Constant-time check of a client's proof. */
export function checkSecretProof(secret: string | Uint8Array, transcript: Uint8Array, proof: Uint8Array): boolean {
  const expected = secretProof(secret, transcript)
  return proof.byteLength === expected.length && timingSafeEqual(expected, proof)
}

// ---- per-frame cipher --------------------------------------------------------------

export interface PacketCipherOptions {
  sendKey: Uint8Array
  receiveKey: Uint8Array
  algorithm?: AeadAlgorithm
  /** Tests only: start counters, to exercise the 2^48 limit. A real link always starts at 0. */
  sendCounter?: number
  receiveCounter?: number
}

/**
 * The AEAD state of one link: a key and a 64-bit counter per direction. The
 * nonce is 4 zero bytes ‖ counter u64 BE; the counter is never sent, because
 * TCP delivers frames in order: each side expects exactly the next counter,
 * so a replayed, dropped, reordered or injected frame fails to open.
 */
export class PacketCipher implements FrameCipher {
  readonly algorithm: AeadAlgorithm
  private readonly sendKey: KeyObject
  private readonly receiveKey: KeyObject
  private readonly sendNonce = Buffer.alloc(NONCE_BYTES)
  private readonly receiveNonce = Buffer.alloc(NONCE_BYTES)
  private sendCounter: number
  private receiveCounter: number

  constructor(opts: PacketCipherOptions) {
    for (const [name, key] of [
      ['sendKey', opts.sendKey],
      ['receiveKey', opts.receiveKey],
    ] as const) {
      if (key.byteLength !== KEY_BYTES) throw new RangeError(`${name} must be ${KEY_BYTES} bytes, got ${key.byteLength}`)
    }
    this.algorithm = opts.algorithm ?? TUNNEL_AEAD
    // KeyObjects keep the key bytes inside OpenSSL (out of heap snapshots), at no cost per frame.
    this.sendKey = createSecretKey(Buffer.from(opts.sendKey))
    this.receiveKey = createSecretKey(Buffer.from(opts.receiveKey))
    this.sendCounter = checkCounter('sendCounter', opts.sendCounter ?? 0)
    this.receiveCounter = checkCounter('receiveCounter', opts.receiveCounter ?? 0)
  }

  /** Frames sealed so far (= the next send counter). */
  get sealed(): number {
    return this.sendCounter
  }

  /** Frames opened so far (= the next expected receive counter). */
  get opened(): number {
    return this.receiveCounter
  }

  /**
   * Ciphertext ‖ 16-byte tag of `plaintext`, after `headroom` zero bytes for
   * the caller's header. Throws TunnelError('NONCE_EXHAUSTED') after
   * MAX_FRAMES_PER_KEY frames.
   */
  seal(plaintext: Uint8Array, aad: Uint8Array = EMPTY, headroom = 0): Buffer {
    if (this.sendCounter >= MAX_FRAMES_PER_KEY) {
      throw new TunnelError('NONCE_EXHAUSTED', `${MAX_FRAMES_PER_KEY} frames sealed under one key; reconnect for new keys`)
    }
    writeU64(this.sendNonce, this.sendCounter, 4)
    const out = aeadSeal(this.algorithm, this.sendKey, this.sendNonce, aad, plaintext, headroom)
    this.sendCounter++
    return out
  }

  /** The plaintext, or null (counter unchanged) when the frame does not authenticate as the next one. */
  open(sealed: Uint8Array, aad: Uint8Array = EMPTY): Buffer | null {
    if (this.receiveCounter >= MAX_FRAMES_PER_KEY) return null
    writeU64(this.receiveNonce, this.receiveCounter, 4)
    const plaintext = aeadOpen(this.algorithm, this.receiveKey, this.receiveNonce, aad, sealed)
    if (plaintext !== null) this.receiveCounter++
    return plaintext
  }
}

const EMPTY = Buffer.alloc(0)

function checkCounter(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_FRAMES_PER_KEY)
    throw new RangeError(`${name} must be in 0..2^48, got ${value}`)
  return value
}

/** The link cipher for one side: the client sends with clientToServer, the server with serverToClient. */
export function createPacketCipher(role: TunnelRole, keys: SessionKeys, algorithm: AeadAlgorithm = TUNNEL_AEAD): PacketCipher {
  const [sendKey, receiveKey] = role === 'client' ? [keys.clientToServer, keys.serverToClient] : [keys.serverToClient, keys.clientToServer]
  return new PacketCipher({ sendKey, receiveKey, algorithm })
}

// The handshake state machines that use all this: handshake.ts.
