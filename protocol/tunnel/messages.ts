// The VPN tunnel's message catalogue and frame codec: what a VPN client and
// the internet simulator say to each other over their one TCP connection.
// Wire format and session rules are in docs/PROTOCOL.md ("Tunnel"); keep the
// two in step. The handshake crypto is in crypto.ts.
//
// Two deliberate departures from the P2P link:
//
// - PACKET frames carry the raw IP packet as the frame payload, no msgpack:
//   they are the relay's hot path, where the cost per frame, not per byte,
//   bounds throughput; a raw payload decodes as a zero-copy view of the socket
//   chunk, where msgpack would cost a profile scan and a copy per packet
//   (bench/tunnel-crypto.ts measures both).
// - On an encrypted link every frame after AUTH is *sealed*: the type byte
//   gets bit 7 set and the payload is AEAD ciphertext + tag of the plain
//   payload, with the type byte as associated data. Sealing control messages
//   too (not only packets) means WELCOME, REFUSED, KEEPALIVE and RESTARTING
//   are authenticated, so an on-path attacker can neither fake them nor keep
//   a dead session looking alive.

import { crc32 } from 'node:zlib'
import { defineCatalogue, type DecodeResult, type MessageOf } from '../wire/catalogue.js'
import { encodeFrame, FRAME_FLAGS_NONE, FRAME_HEADER_BYTES, FrameDecoder, type Frame } from '../wire/frame.js'
import { MessageError, ProtocolError } from '../wire/errors.js'
import { packPlain, unpackStrict } from '../wire/msgpack.js'
import { describeValue, s, type Infer, type Schema } from '../wire/schema.js'
import { isDottedIPv4 } from './ipv4.js'

/** Magic of every tunnel link ("bkt1"). */
export const TUNNEL_MAGIC = 0x626b7431
/** The only tunnel protocol version; a hello with another is refused with BAD_VERSION. */
export const TUNNEL_VERSION = 1
/** Largest IP packet a PACKET frame carries: the IPv4 Total Length limit. */
export const MAX_PACKET_BYTES = 65_535
/** AEAD tag appended to every sealed payload. */
export const SEAL_TAG_BYTES = 16
/** Frame payload cap: a sealed maximum-size packet (65,551 bytes) plus headroom for a later extension. */
export const MAX_TUNNEL_PAYLOAD_BYTES = 65_600
/** Cap of AUTH's sealed field; the sealed body is under 100 bytes. */
export const MAX_AUTH_SEALED_BYTES = 512
/** Set in the type byte of a sealed frame. */
export const SEALED_TYPE_BIT = 0x80
export const PACKET_FRAME_TYPE = 0x10
export const SEALED_PACKET_FRAME_TYPE = SEALED_TYPE_BIT | PACKET_FRAME_TYPE
/**
 * A packet with Linux TUN offload metadata: a 10-byte virtio_net_hdr, then
 * the IP packet, which may be a TCP super-packet of up to ~64 KiB that the
 * receiving kernel segments (or takes whole). Relaying one super-packet
 * instead of ~40 MTU-sized ones saves the per-packet cost of both ends many
 * times over; only clients that said `gso` in AUTH are sent these.
 */
export const GSO_PACKET_FRAME_TYPE = 0x11
export const SEALED_GSO_PACKET_FRAME_TYPE = SEALED_TYPE_BIT | GSO_PACKET_FRAME_TYPE
/** struct virtio_net_hdr (legacy, little-endian): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
export const VNET_HDR_BYTES = 10

// ---- errors -------------------------------------------------------------------

export type TunnelErrorCode =
  /** A plain frame arrived on a link whose frames must be sealed (encrypted mode, after AUTH). */
  | 'NOT_SEALED'
  /** A sealed frame arrived where no keys are in force (plaintext mode, or before AUTH). */
  | 'UNEXPECTED_SEALED'
  /** A sealed frame (or AUTH) failed authentication: tampered, replayed, reordered, or other keys. */
  | 'DECRYPT_FAILED'
  /** AUTH did not open: the client does not hold the private key of the clientKey it announced, or AUTH was tampered with. */
  | 'BAD_AUTH'
  /** A hello with a version other than TUNNEL_VERSION. */
  | 'BAD_VERSION'
  /** A public key with bit 255 set, or one whose Diffie-Hellman result is all zero (a low-order point). */
  | 'BAD_KEY'
  /** The server's static key is not the pinned one. */
  | 'SERVER_KEY_MISMATCH'
  /** The server turned encryption off and this client requires it. */
  | 'ENCRYPTION_REQUIRED'
  /** 2^48 frames were sealed under one key; the link must be re-established (a new handshake). */
  | 'NONCE_EXHAUSTED'

/** A tunnel-specific failure; a ProtocolError, so `tryDecodeTunnelFrame` reports it like any message error. */
export class TunnelError extends ProtocolError {
  declare readonly code: TunnelErrorCode

  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** REFUSED codes the simulator sends (the field accepts any string≤32, so new codes do not break old clients). */
export type TunnelRefusalCode = 'IP_IN_USE' | 'OUT_OF_SUBNET' | 'NOT_HOST_ADDRESS' | 'TOO_MANY_CLIENTS' | 'NOT_ALLOWED' | 'BAD_SECRET'

// ---- schemas ------------------------------------------------------------------

const ipv4: Schema<string> = {
  description: 'IPv4 dotted quad',
  parse(value, path) {
    if (!isDottedIPv4(value)) {
      throw new MessageError('INVALID', `${path}: expected IPv4 dotted quad, got ${describeValue(value)}`)
    }
    return value
  },
}

const bool: Schema<boolean> = {
  description: 'bool',
  parse(value, path) {
    if (typeof value !== 'boolean') throw new MessageError('INVALID', `${path}: expected bool, got ${describeValue(value)}`)
    return value
  },
}

const key32 = s.bytes({ len: 32 })
const reasonFields = { code: s.string({ max: 32 }), reason: s.string({ max: 256 }) }

/** Smallest MTU an IPv4 link may have (RFC 791). */
export const MIN_TUNNEL_MTU = 68

/** What AUTH carries, sealed (see crypto.ts sealAuth/openAuth). */
export const AUTH_BODY_SCHEMA = s.object({
  ip: ipv4,
  mtu: s.u16({ min: MIN_TUNNEL_MTU }),
  /** HMAC-SHA256(network secret, transcript hash), or empty when the client has no secret. */
  secretProof: s.bytes({ max: 32 }),
  /** The client accepts GSO_PACKET frames (absent = false; older clients never send it). */
  gso: s.optional(bool),
})
export type AuthBody = Infer<typeof AUTH_BODY_SCHEMA>

export const TUNNEL_CATALOGUE_SPEC = {
  CLIENT_HELLO: {
    type: 0x01,
    schema: s.object({ version: s.u32(), clientKey: key32, ephemeral: key32, encrypt: bool }),
  },
  SERVER_HELLO: {
    type: 0x02,
    schema: s.object({ version: s.u32(), serverKey: key32, ephemeral: key32, encrypt: bool }),
  },
  AUTH: { type: 0x03, schema: s.object({ sealed: s.bytes({ max: MAX_AUTH_SEALED_BYTES }) }) },
  WELCOME: { type: 0x04, schema: s.object({ ip: ipv4, leaseSeconds: s.u32() }) },
  REFUSED: { type: 0x05, schema: s.object(reasonFields) },
  KEEPALIVE: { type: 0x06, schema: s.object({}) },
  RESTARTING: { type: 0x07, schema: s.object({}) },
  ERROR: { type: 0x08, schema: s.object(reasonFields) },
} as const

/** The msgpack-payload messages; PACKET and GSO_PACKET are outside the catalogue because their payload is raw. */
export const tunnelCatalogue = defineCatalogue(TUNNEL_CATALOGUE_SPEC, { maxPayloadBytes: MAX_TUNNEL_PAYLOAD_BYTES })

export type TunnelControlMessage = MessageOf<typeof TUNNEL_CATALOGUE_SPEC>
export interface PacketMessage {
  type: 'PACKET'
  /** One IP packet, ≤ MAX_PACKET_BYTES. */
  data: Buffer
}
export interface GsoPacketMessage {
  type: 'GSO_PACKET'
  /** VNET_HDR_BYTES of virtio_net_hdr, then one IP packet; ≤ VNET_HDR_BYTES + MAX_PACKET_BYTES in all. */
  data: Buffer
}
/** Any tunnel message: `{ type: 'CLIENT_HELLO', ... } | { type: 'PACKET', data } | ...` */
export type TunnelMessage = TunnelControlMessage | PacketMessage | GsoPacketMessage
export type TunnelMessageType = TunnelMessage['type']
export type TunnelMessageByType<T extends TunnelMessageType> = Extract<TunnelMessage, { type: T }>

/** Name → frame type number (plain form; the sealed form adds SEALED_TYPE_BIT). */
export const TUNNEL_MESSAGE_TYPES: Readonly<Record<TunnelMessageType, number>> = Object.freeze({
  ...tunnelCatalogue.types,
  PACKET: PACKET_FRAME_TYPE,
  GSO_PACKET: GSO_PACKET_FRAME_TYPE,
})

/** The handshake travels plain; everything else is sealed on an encrypted link. */
const SEALABLE = new Set<number>(
  (['PACKET', 'GSO_PACKET', 'WELCOME', 'REFUSED', 'KEEPALIVE', 'RESTARTING', 'ERROR'] as const).map((name) => TUNNEL_MESSAGE_TYPES[name]),
)

// ---- sealing interface ----------------------------------------------------------

/**
 * The per-direction AEAD state of one link (crypto.ts PacketCipher).
 * Declared here, structurally, so this module needs nothing from the crypto one.
 */
export interface FrameCipher {
  /** Ciphertext ‖ tag, after `headroom` zero bytes left for the caller. Consumes the next send counter. */
  seal(plaintext: Uint8Array, aad: Uint8Array, headroom: number): Buffer
  /** The plaintext, or null when authentication fails. Consumes the next receive counter only on success. */
  open(sealed: Uint8Array, aad: Uint8Array): Buffer | null
}

/** Associated data of a sealed frame: its type byte, so a sealed KEEPALIVE cannot be passed off as a PACKET. */
const AAD_BY_TYPE: readonly Buffer[] = Array.from({ length: 256 }, (_, type) => Buffer.of(type))

// ---- encoding -----------------------------------------------------------------

/** Fills in the 14-byte header of a frame whose payload is already in place (see frame.ts for the layout). */
function writeHeader(frame: Buffer, type: number): Buffer {
  frame.writeUInt32BE(TUNNEL_MAGIC, 0)
  frame.writeUInt8(type, 4)
  frame.writeUInt8(FRAME_FLAGS_NONE, 5)
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 6)
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 10)
  return frame
}

/** Seals straight into the frame buffer: one allocation and one copy of the ciphertext per frame. */
function sealedFrame(cipher: FrameCipher, plainType: number, payload: Uint8Array): Buffer {
  const type = SEALED_TYPE_BIT | plainType
  return writeHeader(cipher.seal(payload, AAD_BY_TYPE[type]!, FRAME_HEADER_BYTES), type)
}

/**
 * A whole PACKET frame for one IP packet: plain (one copy of `data`), or
 * sealed under `cipher`. Throws MessageError('INVALID') when `data` is over
 * MAX_PACKET_BYTES, and TunnelError('NONCE_EXHAUSTED') from the cipher.
 */
export function encodePacketFrame(data: Uint8Array, cipher: FrameCipher | null = null, gso = false): Buffer {
  const type = gso ? GSO_PACKET_FRAME_TYPE : PACKET_FRAME_TYPE
  checkPacketLength(type, data.byteLength)
  return cipher === null ? encodeFrame(TUNNEL_MAGIC, type, data) : sealedFrame(cipher, type, data)
}

function checkPacketLength(type: number, length: number): void {
  const gso = type === GSO_PACKET_FRAME_TYPE
  const max = gso ? VNET_HDR_BYTES + MAX_PACKET_BYTES : MAX_PACKET_BYTES
  if (length > max) throw new MessageError('INVALID', `${gso ? 'GSO_PACKET' : 'PACKET'}: data of ${length} bytes exceeds ${max}`)
  if (gso && length < VNET_HDR_BYTES)
    throw new MessageError('INVALID', `GSO_PACKET: data of ${length} bytes is shorter than its ${VNET_HDR_BYTES}-byte header`)
}

/**
 * A whole frame for any tunnel message, sealed when `cipher` is given (the
 * link is encrypted and AUTH has been sent/opened). Throws MessageError
 * ('INVALID') for a message that breaks its schema or a handshake message
 * given a cipher (the handshake is never sealed), and TunnelError
 * ('NONCE_EXHAUSTED') from the cipher.
 */
export function encodeTunnelFrame(msg: TunnelMessage, cipher: FrameCipher | null = null): Buffer {
  if (msg.type === 'PACKET' || msg.type === 'GSO_PACKET') return encodePacketFrame(msg.data, cipher, msg.type === 'GSO_PACKET')
  const { type, payload } = tunnelCatalogue.encodePayload(msg)
  if (cipher === null) return encodeFrame(TUNNEL_MAGIC, type, payload)
  if (!SEALABLE.has(type)) throw new MessageError('INVALID', `${msg.type} is part of the handshake and is never sealed`)
  return sealedFrame(cipher, type, payload)
}

// ---- decoding -----------------------------------------------------------------

/** A frame decoder for the tunnel magic and payload cap. */
export function createTunnelFrameDecoder(maxPayloadBytes = MAX_TUNNEL_PAYLOAD_BYTES): FrameDecoder {
  return new FrameDecoder({ magic: TUNNEL_MAGIC, maxPayloadBytes })
}

/** True for a PACKET or GSO_PACKET frame, plain or sealed (cheap pre-check for a relay's fast path). */
export function isPacketFrame(frame: Frame): boolean {
  const type = frame.type & ~SEALED_TYPE_BIT
  return type === PACKET_FRAME_TYPE || type === GSO_PACKET_FRAME_TYPE
}

/** True for a GSO_PACKET frame, plain or sealed: its data starts with VNET_HDR_BYTES of offload header. */
export function isGsoFrame(frame: Frame): boolean {
  return (frame.type & ~SEALED_TYPE_BIT) === GSO_PACKET_FRAME_TYPE
}

/**
 * The plain type and payload of a frame: opens it when `cipher` is given.
 * Checks, in order: the type is known (UNKNOWN_TYPE), the frame is sealed
 * exactly when a cipher is in force (NOT_SEALED, UNEXPECTED_SEALED), it
 * authenticates (DECRYPT_FAILED).
 */
function unseal(frame: Frame, cipher: FrameCipher | null): { type: number; payload: Buffer } {
  const sealed = (frame.type & SEALED_TYPE_BIT) !== 0
  const type = frame.type & ~SEALED_TYPE_BIT
  if (type !== PACKET_FRAME_TYPE && type !== GSO_PACKET_FRAME_TYPE && !tunnelCatalogue.names.has(type)) throw unknownType(frame.type)
  if (sealed && !SEALABLE.has(type)) throw unknownType(frame.type)
  if (cipher === null) {
    if (sealed) throw new TunnelError('UNEXPECTED_SEALED', `sealed frame 0x${hex2(frame.type)} on a link without keys`)
    return { type, payload: frame.payload }
  }
  if (!sealed) throw new TunnelError('NOT_SEALED', `plain frame 0x${hex2(frame.type)} on an encrypted link`)
  const payload = cipher.open(frame.payload, AAD_BY_TYPE[frame.type]!)
  if (payload === null) {
    throw new TunnelError('DECRYPT_FAILED', `sealed frame 0x${hex2(frame.type)} (${frame.payload.length} bytes) failed authentication`)
  }
  return { type, payload }
}

function unknownType(type: number): MessageError {
  return new MessageError('UNKNOWN_TYPE', `unknown tunnel frame type 0x${hex2(type)}`)
}

function packetData(type: number, payload: Buffer): Buffer {
  checkPacketLength(type, payload.length)
  return payload
}

/**
 * The IP packet of a PACKET frame. Plain: a view into the frame (no copy; it
 * shares memory with the socket chunk, so copy it if it is kept for long).
 * Sealed: the decrypted packet. Throws ProtocolError like decodeTunnelFrame,
 * and MessageError('INVALID') for a frame that is not a PACKET.
 */
export function decodePacketFrame(frame: Frame, cipher: FrameCipher | null = null): Buffer {
  if (!isPacketFrame(frame)) throw new MessageError('INVALID', `frame 0x${hex2(frame.type)} is not a PACKET`)
  const { type, payload } = unseal(frame, cipher)
  return packetData(type, payload)
}

/**
 * Decodes one frame from a FrameDecoder. Give the link's cipher once frames
 * must be sealed; then a plain frame is refused with TunnelError
 * ('NOT_SEALED'). The one plain frame an encrypted client may still receive is
 * the server's ERROR for a failed handshake (BAD_AUTH etc.): to show its reason,
 * decode the same frame again without the cipher and treat the text as
 * unauthenticated. Throws ProtocolError (MessageError or TunnelError) only.
 */
export function decodeTunnelFrame(frame: Frame, cipher: FrameCipher | null = null): TunnelMessage {
  const { type, payload } = unseal(frame, cipher)
  if (type === PACKET_FRAME_TYPE) return { type: 'PACKET', data: packetData(type, payload) }
  if (type === GSO_PACKET_FRAME_TYPE) return { type: 'GSO_PACKET', data: packetData(type, payload) }
  return tunnelCatalogue.decode({ type, flags: frame.flags, payload })
}

/** Never throws: a peer's bytes give a message or a ProtocolError to act on. */
export function tryDecodeTunnelFrame(frame: Frame, cipher: FrameCipher | null = null): DecodeResult<TunnelMessage> {
  try {
    return { ok: true, message: decodeTunnelFrame(frame, cipher) }
  } catch (error) {
    if (error instanceof ProtocolError) return { ok: false, error }
    return { ok: false, error: new MessageError('MALFORMED', `decoder failure: ${String(error)}`, { cause: error }) }
  }
}

// ---- AUTH body -------------------------------------------------------------------

/** The msgpack plaintext that AUTH seals. Throws MessageError('INVALID') for a bad body of ours. */
export function encodeAuthBody(body: AuthBody): Buffer {
  return Buffer.from(packPlain(AUTH_BODY_SCHEMA.parse(body, 'AUTH')))
}

/** Throws MessageError (MALFORMED, INVALID). */
export function decodeAuthBody(bytes: Uint8Array): AuthBody {
  return AUTH_BODY_SCHEMA.parse(unpackStrict(bytes), 'AUTH')
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}
