// The P2P message catalogue: what nodes say to each other over a P2P link.
// Wire format and limits are specified in docs/PROTOCOL.md ("P2P messages");
// keep the two in step.

import { defineCatalogue, type DecodeResult, type MessageOf } from '../wire/catalogue.js'
import type { Frame } from '../wire/frame.js'
import { s } from '../wire/schema.js'

/** Magic of the devnet P2P link ("bkc1"); every network file sets its own. */
export const DEVNET_P2P_MAGIC = 0x626b6331

/**
 * Default payload cap for P2P frames. A BLOCKS batch is the largest message,
 * so senders fill batches up to this size. Callers may configure a different
 * cap (FrameDecoder `maxPayloadBytes`, third argument of encodeMessage).
 */
export const MAX_P2P_PAYLOAD_BYTES = 8 * 1024 * 1024

export const MAX_TX_BYTES = 1024
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024
export const MAX_ADDRS = 1000
export const MAX_LOCATOR = 64
export const MAX_BLOCKS_PER_MESSAGE = 500

const hash32 = s.bytes({ len: 32 })
const peerAddress = s.object({
  host: s.string({ max: 64 }),
  port: s.u16(),
  lastSeen: s.u64(),
})

export const P2P_CATALOGUE_SPEC = {
  HELLO: {
    type: 0x01,
    schema: s.object({
      version: s.u32(),
      network: s.string({ max: 64 }),
      genesis: hash32,
      nodeId: hash32,
      listenHost: s.string({ max: 64 }),
      listenPort: s.u16(),
      bestHeight: s.u64(),
      bestHash: hash32,
      agent: s.string({ max: 128 }),
    }),
  },
  DISCONNECT: {
    type: 0x02,
    schema: s.object({
      code: s.string({ max: 32 }),
      reason: s.string({ max: 256 }),
    }),
  },
  PING: { type: 0x03, schema: s.object({ nonce: s.u64() }) },
  PONG: { type: 0x04, schema: s.object({ nonce: s.u64() }) },
  ADDR: { type: 0x05, schema: s.object({ addrs: s.array(peerAddress, { max: MAX_ADDRS }) }) },
  TX: { type: 0x06, schema: s.object({ tx: s.bytes({ max: MAX_TX_BYTES }) }) },
  BLOCK: { type: 0x07, schema: s.object({ block: s.bytes({ max: MAX_BLOCK_BYTES }) }) },
  GET_BLOCKS: {
    type: 0x08,
    schema: s.object({
      locator: s.array(hash32, { max: MAX_LOCATOR }),
      max: s.u32({ min: 1, max: MAX_BLOCKS_PER_MESSAGE }),
    }),
  },
  BLOCKS: {
    type: 0x09,
    schema: s.object({ blocks: s.array(s.bytes({ max: MAX_BLOCK_BYTES }), { max: MAX_BLOCKS_PER_MESSAGE }) }),
  },
} as const

export const p2pCatalogue = defineCatalogue(P2P_CATALOGUE_SPEC, { maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES })

/** Any P2P message: `{ type: 'HELLO', version, ... } | { type: 'PING', nonce } | ...` */
export type Message = MessageOf<typeof P2P_CATALOGUE_SPEC>
export type MessageType = Message['type']
export type MessageByType<T extends MessageType> = Extract<Message, { type: T }>

/** Name → frame type number. */
export const MESSAGE_TYPES = p2pCatalogue.types
/** Frame type number → name. */
export const MESSAGE_TYPE_NAMES = p2pCatalogue.names

/** A whole frame; throws MessageError('INVALID') or FrameError('FRAME_TOO_LARGE') on a bad message of ours. */
export function encodeMessage(magic: number, msg: Message, maxPayloadBytes = MAX_P2P_PAYLOAD_BYTES): Buffer {
  return p2pCatalogue.encode(magic, msg, maxPayloadBytes)
}

/** Never throws: a peer's bytes give a message or a ProtocolError to act on. */
export function tryDecodeMessage(frame: Frame): DecodeResult<Message> {
  return p2pCatalogue.tryDecode(frame)
}
