// Typed errors for everything that arrives over a link. Callers branch on
// `code` (stable, part of the protocol docs), never on the message text.

/** Base class: anything a peer sent that we cannot accept. */
export class ProtocolError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    // `new.target.name` so subclasses log as "FrameError [BAD_MAGIC]: ..." without repeating this.
    this.name = new.target.name
  }
}

export type FrameErrorCode = 'BAD_MAGIC' | 'BAD_FLAGS' | 'FRAME_TOO_LARGE' | 'BAD_CHECKSUM'

/** The byte stream is unusable (desynchronised or corrupt); the link must be dropped. */
export class FrameError extends ProtocolError {
  declare readonly code: FrameErrorCode

  constructor(code: FrameErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

export type MessageErrorCode = 'UNKNOWN_TYPE' | 'MALFORMED' | 'INVALID'

/**
 * One frame's payload is unacceptable: unknown type, not strict msgpack
 * (`MALFORMED`), or msgpack that violates the message schema (`INVALID`,
 * the message names the field path, e.g. `addrs[3].port: expected u16`).
 */
export class MessageError extends ProtocolError {
  declare readonly code: MessageErrorCode

  constructor(code: MessageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
