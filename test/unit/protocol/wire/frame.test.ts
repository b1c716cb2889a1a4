import t from 'tap'
import fc from 'fast-check'
import { crc32 } from 'node:zlib'
import { encodeFrame, FrameDecoder, FRAME_HEADER_BYTES, type Frame } from '../../../../protocol/wire/frame.js'
import { FrameError, ProtocolError } from '../../../../protocol/wire/errors.js'

const MAGIC = 0x626b6331
const CAP = 4096

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'fail'>

function decoder(maxPayloadBytes = CAP): FrameDecoder {
  return new FrameDecoder({ magic: MAGIC, maxPayloadBytes })
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const p of points) {
    out.push(bytes.subarray(from, p))
    from = p
  }
  out.push(bytes.subarray(from))
  return out
}

function pushAll(d: FrameDecoder, chunks: Buffer[]): Frame[] {
  return chunks.flatMap((c) => d.push(c))
}

function plain(frames: Frame[]): Array<{ type: number; flags: number; payload: string }> {
  return frames.map((f) => ({ type: f.type, flags: f.flags, payload: f.payload.toString('hex') }))
}

function expectFrameError(t: Asserts, fn: () => unknown, code: string): FrameError | undefined {
  try {
    fn()
  } catch (error) {
    t.ok(error instanceof FrameError, `throws FrameError (got ${String(error)})`)
    t.equal((error as FrameError).code, code)
    return error as FrameError
  }
  t.fail(`expected FrameError ${code}`)
  return undefined
}

t.test('encodeFrame lays out the 14-byte big-endian header', async (t) => {
  const payload = Buffer.from('hello')
  const frame = encodeFrame(MAGIC, 0x2a, payload)
  t.equal(frame.length, FRAME_HEADER_BYTES + payload.length)
  t.equal(frame.readUInt32BE(0), MAGIC)
  t.equal(frame[4], 0x2a)
  t.equal(frame[5], 0)
  t.equal(frame.readUInt32BE(6), payload.length)
  t.equal(frame.readUInt32BE(10), crc32(payload))
  t.equal(frame.subarray(14).toString(), 'hello')
  // CRC-32/IEEE check value of "123456789" pins the algorithm, not just self-consistency.
  t.equal(encodeFrame(MAGIC, 1, Buffer.from('123456789')).readUInt32BE(10), 0xcbf43926)
})

t.test('encodeFrame rejects out-of-range arguments', async (t) => {
  t.throws(() => encodeFrame(-1, 1, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeFrame(2 ** 32, 1, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeFrame(MAGIC, 256, Buffer.alloc(0)), RangeError)
  t.throws(() => encodeFrame(MAGIC, 1.5, Buffer.alloc(0)), RangeError)
})

t.test('round trip of single frames, including empty payloads', async (t) => {
  for (const payload of [Buffer.alloc(0), Buffer.from([0]), Buffer.alloc(CAP, 0xab)]) {
    const d = decoder()
    const frames = d.push(encodeFrame(MAGIC, 7, payload))
    t.same(plain(frames), [{ type: 7, flags: 0, payload: payload.toString('hex') }])
    t.equal(d.bufferedBytes, 0)
  }
})

t.test('an empty-payload frame ending exactly at a chunk boundary is emitted at once', async (t) => {
  const d = decoder()
  t.equal(d.push(encodeFrame(MAGIC, 3, Buffer.alloc(0))).length, 1)
  const frame = encodeFrame(MAGIC, 4, Buffer.alloc(0))
  t.equal(d.push(frame.subarray(0, 5)).length, 0)
  t.equal(d.push(frame.subarray(5)).length, 1)
  t.same(d.push(Buffer.alloc(0)), [])
})

t.test('frames inside one chunk are zero-copy views of it', async (t) => {
  const chunk = Buffer.concat([encodeFrame(MAGIC, 1, Buffer.from('ab')), encodeFrame(MAGIC, 2, Buffer.from('cd'))])
  const frames = decoder().push(chunk)
  t.equal(frames.length, 2)
  for (const f of frames) t.equal(f.payload.buffer, chunk.buffer)
  t.equal(frames[1]!.payload.byteOffset, chunk.byteOffset + chunk.length - 2)
})

t.test('a large frame in 1-byte chunks is assembled once, with bufferedBytes tracking it', async (t) => {
  const payload = Buffer.alloc(3000)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff
  const frame = encodeFrame(MAGIC, 9, payload)
  const d = decoder()
  let frames: Frame[] = []
  const mismatches: string[] = []
  for (let i = 0; i < frame.length; i++) {
    frames = d.push(frame.subarray(i, i + 1))
    if (i < frame.length - 1) {
      // Header bytes until the header is complete, then payload bytes.
      const expected = i + 1 < FRAME_HEADER_BYTES ? i + 1 : i + 1 - FRAME_HEADER_BYTES
      if (frames.length !== 0 || d.bufferedBytes !== expected)
        mismatches.push(`byte ${i}: ${frames.length} frames, ${d.bufferedBytes} buffered`)
    }
  }
  t.same(mismatches, [], 'no early frame; bufferedBytes counts the pending bytes')
  t.equal(frames.length, 1)
  t.ok(frames[0]!.payload.equals(payload))
  t.equal(d.bufferedBytes, 0)
})

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
})

t.test('property: any frames, concatenated and split anywhere, decode to the same frames', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (specs, cuts) => {
      const stream = Buffer.concat(specs.map((f) => encodeFrame(MAGIC, f.type, f.payload)))
      const d = decoder()
      const frames = pushAll(d, split(stream, cuts))
      const expected = specs.map((f) => ({ type: f.type, flags: 0, payload: Buffer.from(f.payload).toString('hex') }))
      return JSON.stringify(plain(frames)) === JSON.stringify(expected) && d.bufferedBytes === 0
    }),
    { numRuns: 400 },
  )
  t.pass('property held')
})

t.test('property: the same frames pushed one byte at a time decode identically', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 5 }), (specs) => {
      const stream = Buffer.concat(specs.map((f) => encodeFrame(MAGIC, f.type, f.payload)))
      const d = decoder()
      const chunks: Buffer[] = []
      for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1))
      const frames = pushAll(d, chunks)
      return frames.length === specs.length && frames.every((f, i) => f.type === specs[i]!.type && f.payload.equals(specs[i]!.payload))
    }),
    { numRuns: 100 },
  )
  t.pass('property held')
})

t.test('property: garbage gives frames or a FrameError, never another exception', async (t) => {
  const magicBytes = Buffer.alloc(4)
  magicBytes.writeUInt32BE(MAGIC)
  // Half the inputs start with the right magic so the later header checks are reached too.
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.concat([magicBytes, b])),
    fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }))
      .map(([type, payload, tail]) => Buffer.concat([encodeFrame(MAGIC, type, payload), tail])),
  )
  fc.assert(
    fc.property(garbage, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const d = decoder(256)
      let failure: unknown = null
      for (const chunk of split(Buffer.from(bytes), cuts)) {
        try {
          d.push(chunk)
        } catch (error) {
          failure = error
          break
        }
      }
      if (failure === null) return d.error === null && d.bufferedBytes < FRAME_HEADER_BYTES + 256
      if (!(failure instanceof FrameError)) return false
      // Once failed, always failed with the same error.
      let again: unknown = null
      try {
        d.push(encodeFrame(MAGIC, 1, Buffer.alloc(0)))
      } catch (error) {
        again = error
      }
      return again === failure && d.error === failure && d.bufferedBytes === 0
    }),
    { numRuns: 1000 },
  )
  t.pass('property held')
})

t.test('a huge announced length fails as soon as the header is complete', async (t) => {
  const header = Buffer.alloc(FRAME_HEADER_BYTES)
  header.writeUInt32BE(MAGIC, 0)
  header[4] = 7
  header.writeUInt32BE(0xffffffff, 6)
  const d = decoder()
  for (let i = 0; i < FRAME_HEADER_BYTES - 1; i++) {
    t.same(d.push(header.subarray(i, i + 1)), [])
    t.ok(d.bufferedBytes <= FRAME_HEADER_BYTES)
  }
  const error = expectFrameError(t, () => d.push(header.subarray(FRAME_HEADER_BYTES - 1)), 'FRAME_TOO_LARGE')
  t.equal(d.bufferedBytes, 0)
  t.equal(d.error, error)
  // Payload bytes arriving afterwards are not buffered either.
  t.throws(() => d.push(Buffer.alloc(1024)))
  t.equal(d.bufferedBytes, 0)
})

t.test('the cap is inclusive', async (t) => {
  t.equal(decoder(10).push(encodeFrame(MAGIC, 1, Buffer.alloc(10))).length, 1)
  expectFrameError(t, () => decoder(10).push(encodeFrame(MAGIC, 1, Buffer.alloc(11))), 'FRAME_TOO_LARGE')
  t.equal(decoder(0).push(encodeFrame(MAGIC, 1, Buffer.alloc(0))).length, 1)
})

t.test('bad checksum, in the payload or in the header', async (t) => {
  const frame = encodeFrame(MAGIC, 5, Buffer.from('payload'))
  const flippedPayload = Buffer.from(frame)
  flippedPayload[frame.length - 1]! ^= 0x01
  expectFrameError(t, () => decoder().push(flippedPayload), 'BAD_CHECKSUM')
  const flippedSum = Buffer.from(frame)
  flippedSum[12]! ^= 0x80
  expectFrameError(t, () => decoder().push(flippedSum), 'BAD_CHECKSUM')
  // Also when the payload is assembled from pieces.
  const d = decoder()
  d.push(flippedPayload.subarray(0, 17))
  expectFrameError(t, () => d.push(flippedPayload.subarray(17)), 'BAD_CHECKSUM')
})

t.test('bad magic and non-zero flags', async (t) => {
  const frame = encodeFrame(MAGIC + 1, 5, Buffer.from('x'))
  const e = expectFrameError(t, () => decoder().push(frame), 'BAD_MAGIC')
  t.match(e?.message, /0x626b6332.*0x626b6331/)
  for (const flags of [0x01, 0x80, 0xff]) {
    const flagged = Buffer.from(encodeFrame(MAGIC, 5, Buffer.from('x')))
    flagged[5] = flags
    expectFrameError(t, () => decoder().push(flagged), 'BAD_FLAGS')
  }
})

t.test('the decoder stays failed after an error', async (t) => {
  const d = decoder()
  t.equal(d.push(encodeFrame(MAGIC, 1, Buffer.from('ok'))).length, 1)
  const bad = Buffer.from(encodeFrame(MAGIC, 1, Buffer.from('ok')))
  bad[0] = 0
  const first = expectFrameError(t, () => d.push(bad), 'BAD_MAGIC')
  for (let i = 0; i < 3; i++) {
    try {
      d.push(encodeFrame(MAGIC, 1, Buffer.from('ok')))
      t.fail('push after failure must throw')
    } catch (error) {
      t.equal(error, first, 'the same error object')
    }
  }
  t.ok(first instanceof ProtocolError)
  t.equal(first?.name, 'FrameError')
})

t.test('constructor validates its options', async (t) => {
  t.throws(() => new FrameDecoder({ magic: -1, maxPayloadBytes: 1 }), RangeError)
  t.throws(() => new FrameDecoder({ magic: MAGIC, maxPayloadBytes: 2 ** 32 }), RangeError)
  t.throws(() => new FrameDecoder({ magic: MAGIC, maxPayloadBytes: Number.NaN }), RangeError)
})
