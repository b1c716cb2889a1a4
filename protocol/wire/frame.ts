// The frame layer shared by every TCP link (P2P and the VPN tunnel):
// a fixed 14-byte big-endian header followed by the payload.
//
//   offset size field
//   0      4    magic     u32, network + link kind
//   4      1    type      u8, message type (meaning belongs to the catalogue)
//   5      1    flags     u8, reserved, must be 0
//   6      4    length    u32, payload bytes
//   10     4    checksum  u32, CRC-32 (IEEE) of the payload
//
// The decoder trusts nothing: the length is checked against the cap as soon
// as the header is complete, before any payload byte is buffered.

import { crc32 } from 'node:zlib'
import { FrameError } from './errors.js'

export const FRAME_HEADER_BYTES = 14
/** Reserved flags value; anything else is rejected until a flag is defined. */
export const FRAME_FLAGS_NONE = 0

export interface Frame {
  type: number
  flags: number
  payload: Buffer
}

function assertU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${name} must be a u32, got ${value}`)
  }
}

/** Builds a whole frame in one allocation. Arguments are ours, so misuse throws RangeError. */
export function encodeFrame(magic: number, type: number, payload: Uint8Array): Buffer {
  assertU32('magic', magic)
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`type must be a u8, got ${type}`)
  assertU32('payload length', payload.byteLength)
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength)
  frame.writeUInt32BE(magic, 0)
  frame.writeUInt8(type, 4)
  frame.writeUInt8(FRAME_FLAGS_NONE, 5)
  frame.writeUInt32BE(payload.byteLength, 6)
  frame.writeUInt32BE(crc32(payload), 10)
  frame.set(payload, FRAME_HEADER_BYTES)
  return frame
}

interface Header {
  type: number
  flags: number
  length: number
  checksum: number
}

export interface FrameDecoderOptions {
  /** The only magic this link accepts. */
  magic: number
  /** Largest payload accepted; larger announced lengths fail before anything is buffered. */
  maxPayloadBytes: number
}

/**
 * Streaming decoder: feed socket chunks in any sizes, get whole frames out.
 *
 * A frame lying entirely inside one chunk is returned as a zero-copy view of
 * that chunk; a frame spread over chunks is kept as a list of pieces and
 * concatenated once when complete, so a large frame arriving in tiny chunks
 * costs O(n), not O(n²).
 *
 * After any FrameError the stream is desynchronised, so the decoder stays
 * failed: every later push throws the same error.
 */
export class FrameDecoder {
  private readonly magic: number
  private readonly maxPayloadBytes: number
  /** Pieces of the incomplete header (before `header` is set) or payload (after). */
  private pieces: Buffer[] = []
  private pieceBytes = 0
  private header: Header | null = null
  private failure: FrameError | null = null

  constructor(opts: FrameDecoderOptions) {
    assertU32('magic', opts.magic)
    assertU32('maxPayloadBytes', opts.maxPayloadBytes)
    this.magic = opts.magic
    this.maxPayloadBytes = opts.maxPayloadBytes
  }

  /** Bytes held for an incomplete frame (for per-connection memory accounting). */
  get bufferedBytes(): number {
    return this.pieceBytes
  }

  /** The error that failed this decoder, or null while it is healthy. */
  get error(): FrameError | null {
    return this.failure
  }

  push(chunk: Buffer): Frame[] {
    if (this.failure !== null) throw this.failure
    try {
      return this.consume(chunk)
    } catch (error) {
      if (error instanceof FrameError) {
        this.failure = error
        this.pieces = []
        this.pieceBytes = 0
        this.header = null
      }
      throw error
    }
  }

  private consume(chunk: Buffer): Frame[] {
    const frames: Frame[] = []
    let offset = 0
    while (offset < chunk.length) {
      if (this.header === null) {
        if (this.pieceBytes === 0 && chunk.length - offset >= FRAME_HEADER_BYTES) {
          this.header = this.parseHeader(chunk, offset)
          offset += FRAME_HEADER_BYTES
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.pieceBytes, chunk.length - offset)
          // Copy: a few header bytes must not pin a whole socket chunk in memory.
          this.pieces.push(Buffer.from(chunk.subarray(offset, offset + take)))
          this.pieceBytes += take
          offset += take
          if (this.pieceBytes < FRAME_HEADER_BYTES) break
          const headerBytes = Buffer.concat(this.pieces, FRAME_HEADER_BYTES)
          this.pieces = []
          this.pieceBytes = 0
          this.header = this.parseHeader(headerBytes, 0)
        }
      }

      const header: Header = this.header
      let payload: Buffer
      if (this.pieceBytes === 0 && chunk.length - offset >= header.length) {
        payload = chunk.subarray(offset, offset + header.length)
        offset += header.length
      } else {
        const take = Math.min(header.length - this.pieceBytes, chunk.length - offset)
        if (take > 0) {
          this.pieces.push(chunk.subarray(offset, offset + take))
          this.pieceBytes += take
          offset += take
        }
        if (this.pieceBytes < header.length) break
        payload = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, header.length)
        this.pieces = []
        this.pieceBytes = 0
      }

      if (crc32(payload) !== header.checksum) {
        throw new FrameError('BAD_CHECKSUM', `payload checksum mismatch (type 0x${hex2(header.type)}, ${header.length} bytes)`)
      }
      this.header = null
      frames.push({ type: header.type, flags: header.flags, payload })
    }
    return frames
  }

  private parseHeader(buf: Buffer, at: number): Header {
    const magic = buf.readUInt32BE(at)
    if (magic !== this.magic) {
      throw new FrameError(
        'BAD_MAGIC',
        `bad magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x${this.magic.toString(16).padStart(8, '0')}`,
      )
    }
    const type = buf.readUInt8(at + 4)
    const flags = buf.readUInt8(at + 5)
    if (flags !== FRAME_FLAGS_NONE) throw new FrameError('BAD_FLAGS', `unsupported frame flags 0x${hex2(flags)}`)
    const length = buf.readUInt32BE(at + 6)
    if (length > this.maxPayloadBytes) {
      throw new FrameError('FRAME_TOO_LARGE', `payload of ${length} bytes exceeds the cap of ${this.maxPayloadBytes}`)
    }
    return { type, flags, length, checksum: buf.readUInt32BE(at + 10) }
  }
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}
