// The read side of a framed link, shared by every socket that carries frames
// (P2P peers, simulator links, the VPN client): a chunk goes through the
// link's FrameDecoder, and each whole frame goes to the link's handler until
// the link stops reading. The first failure ends the chunk and is reported
// once. A ProtocolError (the decoder's FrameError, or a MessageError or
// TunnelError from decoding a frame) is the peer's fault; anything else the
// handler throws is a bug on this side, reported apart so that it is logged as
// one and not blamed on the peer. What to do about either is the link's.
import { ProtocolError } from './errors.js'
import type { Frame, FrameDecoder } from './frame.js'

export interface FrameSink {
  /** False once the link is closing: the rest of the chunk is dropped. */
  isReading(): boolean
  /** One whole frame. Anything it throws ends the chunk (see onFrameError and onInternalError). */
  onFrame(frame: Frame): void
  /** The peer broke the protocol: the decoder failed, or onFrame threw a ProtocolError. */
  onFrameError(err: ProtocolError): void
  /** onFrame (or the decoder) threw something that is not a ProtocolError: a bug here, not the peer's doing. */
  onInternalError(err: unknown): void
}

function report(sink: FrameSink, err: unknown): void {
  if (err instanceof ProtocolError) sink.onFrameError(err)
  else sink.onInternalError(err)
}

/** Feeds one socket chunk to `decoder` and hands out its frames (see FrameSink). */
export function readFrames(decoder: FrameDecoder, chunk: Buffer, sink: FrameSink): void {
  let frames: Frame[]
  try {
    frames = decoder.push(chunk)
  } catch (err) {
    report(sink, err)
    return
  }
  for (let i = 0; i < frames.length && sink.isReading(); i++) {
    try {
      sink.onFrame(frames[i]!)
    } catch (err) {
      report(sink, err)
      return
    }
  }
}
