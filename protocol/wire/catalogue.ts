// A message catalogue maps frame type numbers to named, schema-checked
// messages. Each link kind (P2P, the VPN tunnel) defines its own
// catalogue with its own type numbers and uses its own magic; the frame layer
// and the msgpack profile are shared.
//
// In JS a message is `{ type: 'NAME', ...fields }`; on the wire the name is
// the frame's type byte and the payload is a msgpack map of just the fields,
// written in the schema's field order.

import { encodeFrame, type Frame } from './frame.js'
import { FrameError, MessageError, ProtocolError } from './errors.js'
import { packPlain, unpackStrict } from './msgpack.js'
import type { Infer, ObjectSchema } from './schema.js'

export interface MessageSpec {
  /** Frame type byte, 0..255, unique within the catalogue. */
  readonly type: number
  readonly schema: ObjectSchema<object>
}

export type CatalogueSpec = Record<string, MessageSpec>

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** The discriminated union of every message in a catalogue spec. */
export type MessageOf<C extends CatalogueSpec> = {
  [K in keyof C & string]: Simplify<{ type: K } & Infer<C[K]['schema']>>
}[keyof C & string]

export type DecodeResult<M> = { ok: true; message: M } | { ok: false; error: ProtocolError }

export interface CatalogueOptions {
  /** Default payload cap for encoding; decoders take their cap from FrameDecoder options. */
  maxPayloadBytes: number
}

export interface Catalogue<C extends CatalogueSpec> {
  /** Name → type number. */
  readonly types: { readonly [K in keyof C]: C[K]['type'] }
  /** Type number → name. */
  readonly names: ReadonlyMap<number, keyof C & string>
  readonly maxPayloadBytes: number
  /** Validates `msg` and returns its frame type and msgpack payload. Throws MessageError('INVALID'). */
  encodePayload(msg: MessageOf<C>): { type: number; payload: Buffer }
  /**
   * A whole frame. Throws MessageError('INVALID') for a message that breaks its
   * schema and FrameError('FRAME_TOO_LARGE') when the payload exceeds the cap
   * (the peer would drop us for it), so callers must size batches to fit.
   */
  encode(magic: number, msg: MessageOf<C>, maxPayloadBytes?: number): Buffer
  /** Throws MessageError (UNKNOWN_TYPE, MALFORMED or INVALID) and nothing else for peer bytes. */
  decode(frame: Frame): MessageOf<C>
  /** Never throws. */
  tryDecode(frame: Frame): DecodeResult<MessageOf<C>>
}

export function defineCatalogue<const C extends CatalogueSpec>(spec: C, options: CatalogueOptions): Catalogue<C> {
  type Name = keyof C & string
  type Message = MessageOf<C>

  const names = new Map<number, Name>()
  const types = {} as Record<Name, number>
  for (const name of Object.keys(spec) as Name[]) {
    const { type, schema } = spec[name]!
    if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`${name}: type must be a u8`)
    if (names.has(type)) throw new RangeError(`${name}: type 0x${type.toString(16)} already used by ${names.get(type)}`)
    if (schema.keys.includes('type')) throw new RangeError(`${name}: "type" is reserved for the message name`)
    names.set(type, name)
    types[name] = type
  }
  Object.freeze(types)

  function encodePayload(msg: Message): { type: number; payload: Buffer } {
    const name = (msg as { type?: unknown }).type
    if (typeof name !== 'string' || !Object.hasOwn(spec, name)) {
      throw new MessageError('UNKNOWN_TYPE', `cannot encode unknown message type ${JSON.stringify(name)}`)
    }
    const { type, schema } = spec[name]!
    const { type: _name, ...fields } = msg as Record<string, unknown>
    let normalised: object
    try {
      normalised = schema.parse(fields, '')
    } catch (error) {
      throw error instanceof MessageError ? new MessageError(error.code, `${name}: ${error.message}`) : error
    }
    return { type, payload: packPlain(normalised) }
  }

  function decode(frame: Frame): Message {
    const name = names.get(frame.type)
    if (name === undefined) throw new MessageError('UNKNOWN_TYPE', `unknown message type 0x${frame.type.toString(16).padStart(2, '0')}`)
    let value: unknown
    try {
      value = unpackStrict(frame.payload)
    } catch (error) {
      throw error instanceof MessageError ? new MessageError(error.code, `${name}: ${error.message}`, { cause: error.cause }) : error
    }
    let fields: object
    try {
      fields = spec[name]!.schema.parse(value, '')
    } catch (error) {
      throw error instanceof MessageError ? new MessageError(error.code, `${name}: ${error.message}`) : error
    }
    return { type: name, ...fields } as Message
  }

  return {
    types: types as Catalogue<C>['types'],
    names,
    maxPayloadBytes: options.maxPayloadBytes,
    encodePayload,
    encode(magic, msg, maxPayloadBytes = options.maxPayloadBytes) {
      const { type, payload } = encodePayload(msg)
      if (payload.byteLength > maxPayloadBytes) {
        throw new FrameError('FRAME_TOO_LARGE', `${msg.type} payload of ${payload.byteLength} bytes exceeds the cap of ${maxPayloadBytes}`)
      }
      return encodeFrame(magic, type, payload)
    },
    decode,
    tryDecode(frame) {
      try {
        return { ok: true, message: decode(frame) }
      } catch (error) {
        if (error instanceof ProtocolError) return { ok: false, error }
        // Not reachable by design; if it happens it is our bug, but a peer's
        // bytes must still never crash the node.
        return { ok: false, error: new MessageError('MALFORMED', `decoder failure: ${String(error)}`, { cause: error }) }
      }
    },
  }
}
