// The read side of a framed link, shared by every socket that carries frames:
// a chunk goes through the link's FrameDecoder, and each whole frame goes to
// the link's handler until the link stops reading. The first failure, from the
// decoder (the stream is desynchronised) or from the handler, ends the chunk
// and is reported once; what to do about it (close, reply ERROR) is the link's.
import type { Frame, FrameDecoder } from './frame.js'

export interface FrameSink {
  /** False once the link is closing: the rest of the chunk is dropped. */
  isReading(): boolean
  /** One whole frame. Anything it throws ends the chunk and goes to onFrameError. */
  onFrame(frame: Frame): void
  /** The decoder failed (a FrameError), or onFrame threw. */
  onFrameError(err: unknown): void
}

/** Feeds one socket chunk to `decoder` and hands out its frames (see FrameSink). */
export function readFrames(decoder: FrameDecoder, chunk: Buffer, sink: FrameSink): void {
  let frames: Frame[]
  try {
    frames = decoder.push(chunk)
  } catch (err) {
    sink.onFrameError(err)
    return
  }
  for (let i = 0; i < frames.length && sink.isReading(); i++) {
    try {
      sink.onFrame(frames[i]!)
    } catch (err) {
      sink.onFrameError(err)
      return
    }
  }
}
