// readFrames: the read loop every framed link shares (P2P peers, simulator
// links, the VPN client): frames in order across any chunking, nothing after
// the link stops reading, the first failure reported once per chunk, and a
// bug in the handler told apart from a peer's bad frame.
import t from 'tap'
import fc from 'fast-check'
import { encodeFrame, FrameDecoder, type Frame } from '../../../../protocol/wire/frame.js'
import { FrameError, MessageError } from '../../../../protocol/wire/errors.js'
import { readFrames, type FrameSink } from '../../../../protocol/wire/frame-reader.js'

const MAGIC = 0x626b6331
const decoder = (): FrameDecoder => new FrameDecoder({ magic: MAGIC, maxPayloadBytes: 1024 })

interface Recorder extends FrameSink {
  frames: number[]
  /** onFrameError's reports: the peer's fault. */
  errors: unknown[]
  /** onInternalError's reports: a bug on this side. */
  internal: unknown[]
}

function recorder(opts: { stopAfter?: number; throwOn?: number; bugOn?: number } = {}): Recorder {
  const r: Recorder = {
    frames: [],
    errors: [],
    internal: [],
    isReading: () => opts.stopAfter === undefined || r.frames.length < opts.stopAfter,
    onFrame: (frame: Frame) => {
      if (frame.type === opts.throwOn) throw new MessageError('INVALID', `cannot accept type ${frame.type}`)
      if (frame.type === opts.bugOn) throw new TypeError(`bug handling type ${frame.type}`)
      r.frames.push(frame.type)
    },
    onFrameError: (err) => r.errors.push(err),
    onInternalError: (err) => r.internal.push(err),
  }
  return r
}

const stream = (types: number[]): Buffer => Buffer.concat(types.map((type) => encodeFrame(MAGIC, type, Buffer.from([type, type]))))

t.test('every frame arrives once, in order, however the stream is cut', async () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (types, cuts) => {
      const bytes = stream(types)
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      const d = decoder()
      const r = recorder()
      let from = 0
      for (const p of [...points, bytes.length]) {
        readFrames(d, bytes.subarray(from, p), r)
        from = p
      }
      return r.errors.length === 0 && JSON.stringify(r.frames) === JSON.stringify(types)
    }),
  )
})

t.test('once the sink stops reading, the rest of the chunk is dropped', async (t) => {
  const r = recorder({ stopAfter: 2 })
  readFrames(decoder(), stream([1, 2, 3, 4]), r)
  t.same(r.frames, [1, 2])
  t.same(r.errors, [])
})

t.test("a frame the handler refuses with a ProtocolError ends the chunk and is reported once as the peer's", async (t) => {
  const r = recorder({ throwOn: 2 })
  readFrames(decoder(), stream([1, 2, 3]), r)
  t.same(r.frames, [1], 'nothing after the failing frame')
  t.equal(r.errors.length, 1)
  t.type(r.errors[0], MessageError)
  t.match((r.errors[0] as Error).message, /cannot accept type 2/)
  t.same(r.internal, [], 'not reported as a bug')
})

t.test('any other exception from the handler ends the chunk and is reported once as an internal error', async (t) => {
  const r = recorder({ bugOn: 2 })
  readFrames(decoder(), stream([1, 2, 3]), r)
  t.same(r.frames, [1], 'nothing after the failing frame')
  t.same(r.errors, [], 'not blamed on the peer')
  t.equal(r.internal.length, 1)
  t.type(r.internal[0], TypeError)
  t.match((r.internal[0] as Error).message, /bug handling type 2/)
})

t.test('a corrupt stream is reported as the FrameError, and again on every later chunk', async (t) => {
  const d = decoder()
  const r = recorder()
  readFrames(d, stream([7]), r)
  const bad = stream([8])
  bad[bad.length - 1]! ^= 0xff // the payload no longer matches its CRC
  readFrames(d, bad, r)
  t.same(r.frames, [7])
  t.equal(r.errors.length, 1)
  t.type(r.errors[0], FrameError)
  t.equal((r.errors[0] as FrameError).code, 'BAD_CHECKSUM')
  readFrames(d, stream([9]), r)
  t.same(r.frames, [7], 'a desynchronised stream yields nothing more')
  t.equal(r.errors.length, 2)
  t.same(r.internal, [])
})
