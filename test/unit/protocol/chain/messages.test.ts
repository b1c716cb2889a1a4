import t from 'tap'
import fc from 'fast-check'
import { deepStrictEqual } from 'node:assert'
import { Packr, Unpackr } from 'msgpackr'
import {
  p2pCatalogue,
  encodeMessage,
  tryDecodeMessage,
  DEVNET_P2P_MAGIC,
  MAX_P2P_PAYLOAD_BYTES,
  MESSAGE_TYPES,
  MESSAGE_TYPE_NAMES,
  type Message,
} from '../../../../protocol/chain/messages.js'
import { defineCatalogue } from '../../../../protocol/wire/catalogue.js'
import { FrameDecoder, type Frame } from '../../../../protocol/wire/frame.js'
import { FrameError, MessageError, ProtocolError } from '../../../../protocol/wire/errors.js'
import { packPlain, unpackStrict, MAX_MSGPACK_DEPTH } from '../../../../protocol/wire/msgpack.js'
import { s } from '../../../../protocol/wire/schema.js'

const MAGIC = DEVNET_P2P_MAGIC
type Asserts = Pick<typeof t, 'ok' | 'equal' | 'fail' | 'match'>

const fill = (n: number, byte: number): Buffer => Buffer.alloc(n, byte)
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex')
const frame = (type: number, payload: Uint8Array): Frame => ({ type, flags: 0, payload: Buffer.from(payload) })
const typeOf = (name: Message['type']): number => MESSAGE_TYPES[name]

const SAMPLES: Message[] = [
  {
    type: 'HELLO',
    version: 1,
    network: 'devnet',
    genesis: fill(32, 0x11),
    nodeId: fill(32, 0x22),
    listenHost: '127.0.0.1',
    listenPort: 30_333,
    bestHeight: 123_456,
    bestHash: fill(32, 0x33),
    agent: 'bkc/0.1.0',
  },
  { type: 'DISCONNECT', code: 'BAD_FRAME', reason: 'checksum mismatch' },
  { type: 'PING', nonce: Number.MAX_SAFE_INTEGER },
  { type: 'PONG', nonce: 0 },
  { type: 'ADDR', addrs: [{ host: '127.0.0.2', port: 8333, lastSeen: 1_700_000_000_000 }] },
  { type: 'TX', tx: fill(100, 0xaa) },
  { type: 'BLOCK', block: fill(5000, 0xbb) },
  { type: 'GET_BLOCKS', locator: [fill(32, 1), fill(32, 2)], max: 500 },
  { type: 'BLOCKS', blocks: [fill(10, 1), Buffer.alloc(0), fill(70_000, 3)] },
]

/** Decodes a payload of the given type, expecting a MessageError with this code. */
function expectReject(t: Asserts, type: number, payload: Uint8Array, code: string, pattern?: RegExp): void {
  const result = tryDecodeMessage(frame(type, payload))
  if (result.ok) {
    t.fail(`expected ${code}, decoded ${JSON.stringify(result.message)}`)
    return
  }
  t.ok(result.error instanceof MessageError, `MessageError (got ${result.error.name})`)
  t.equal(result.error.code, code, result.error.message)
  if (pattern) t.match(result.error.message, pattern)
}

function decodeOk(type: number, payload: Uint8Array): Message {
  return p2pCatalogue.decode(frame(type, payload))
}

t.test('MESSAGE_TYPES maps names to numbers and back', async (t) => {
  t.same(MESSAGE_TYPES, { HELLO: 1, DISCONNECT: 2, PING: 3, PONG: 4, ADDR: 5, TX: 6, BLOCK: 7, GET_BLOCKS: 8, BLOCKS: 9 })
  for (const [name, type] of Object.entries(MESSAGE_TYPES)) t.equal(MESSAGE_TYPE_NAMES.get(type), name)
  t.equal(MESSAGE_TYPE_NAMES.size, 9)
})

t.test('every message type round trips through a real frame decoder', async (t) => {
  t.equal(new Set(SAMPLES.map((m) => m.type)).size, Object.keys(MESSAGE_TYPES).length, 'a sample per type')
  const decoder = new FrameDecoder({ magic: MAGIC, maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES })
  const stream = Buffer.concat(SAMPLES.map((m) => encodeMessage(MAGIC, m)))
  const frames = decoder.push(stream)
  t.equal(frames.length, SAMPLES.length)
  frames.forEach((f, i) => {
    const sample = SAMPLES[i]!
    t.equal(f.type, typeOf(sample.type), `${sample.type} type byte`)
    t.same(p2pCatalogue.decode(f), sample, `${sample.type} decodes to itself`)
  })
})

t.test('encoding is deterministic: field order follows the schema, not the object', async (t) => {
  const a = encodeMessage(MAGIC, { type: 'ADDR', addrs: [{ host: 'h', port: 1, lastSeen: 2 }] })
  const b = encodeMessage(MAGIC, { addrs: [{ lastSeen: 2, port: 1, host: 'h' }], type: 'ADDR' })
  t.equal(a.toString('hex'), b.toString('hex'))
  // Keys are written in schema order with preferred (smallest) headers: fixmap, fixstr, fixint.
  t.equal(a.subarray(14).toString('hex'), '81a5616464727391' + '83a4686f7374a168a4706f727401a86c6173745365656e02')
})

t.test('decoded byte fields are copies, not views of the frame', async (t) => {
  const f = frame(typeOf('TX'), encodeMessage(MAGIC, { type: 'TX', tx: fill(8, 7) }).subarray(14))
  const m = p2pCatalogue.decode(f)
  t.ok(m.type === 'TX' && Buffer.isBuffer(m.tx))
  if (m.type === 'TX') t.not(m.tx.buffer, f.payload.buffer)
})

t.test('integers: any exact msgpack representation of a safe integer is accepted', async (t) => {
  const ping = (valueHex: string): Buffer => hex('81 a5 6e6f6e6365' + valueHex)
  const cases: Array<[string, number]> = [
    ['07', 7],
    ['cc 07', 7], // non-minimal uint8
    ['d0 07', 7], // int8
    ['ca 40e00000', 7], // float32 7.0
    ['cf 0000010000000000', 2 ** 40], // uint64
    ['cb 4270000000000000', 2 ** 40], // float64
    ['d3 0000010000000000', 2 ** 40], // int64
    ['cf 001fffffffffffff', 2 ** 53 - 1],
    ['cb 433fffffffffffff', 2 ** 53 - 1],
  ]
  for (const [valueHex, expected] of cases) t.same(decodeOk(typeOf('PING'), ping(valueHex)), { type: 'PING', nonce: expected }, valueHex)
  const negZero = decodeOk(typeOf('PING'), ping('cb 8000000000000000'))
  t.ok(negZero.type === 'PING' && Object.is(negZero.nonce, 0), '-0.0 normalises to 0')
  for (const bad of [
    'cb 3ff8000000000000',
    'cf 0020000000000000',
    'cb 4340000000000000',
    'cf ffffffffffffffff',
    'ff',
    'd3 ffffffffffffffff',
    'cb 7ff8000000000000',
    'c0',
    'c3',
    'a1 37',
  ]) {
    expectReject(t, typeOf('PING'), ping(bad), 'INVALID', /^PING: nonce: expected u64/)
  }
  // Large ints we encode ourselves come out as float64, which every decoder must accept.
  t.equal(
    encodeMessage(MAGIC, { type: 'PING', nonce: 2 ** 40 })
      .subarray(14)
      .toString('hex'),
    '81a56e6f6e6365cb4270000000000000',
  )
})

t.test('schema violations are INVALID and name the field path', async (t) => {
  const hello = SAMPLES[0]! as Extract<Message, { type: 'HELLO' }>
  const helloWith = (patch: Record<string, unknown>): Buffer => {
    const { type: _type, ...fields } = hello
    return packPlain({ ...fields, ...patch })
  }
  expectReject(t, typeOf('HELLO'), helloWith({ listenPort: 70_000 }), 'INVALID', /^HELLO: listenPort: expected u16, got number 70000$/)
  expectReject(t, typeOf('HELLO'), helloWith({ version: '1' }), 'INVALID', /version: expected u32, got string/)
  expectReject(t, typeOf('HELLO'), helloWith({ genesis: fill(31, 0) }), 'INVALID', /genesis: expected bytes32, got bytes\(len 31\)/)
  expectReject(t, typeOf('HELLO'), helloWith({ genesis: fill(33, 0) }), 'INVALID', /genesis: expected bytes32/)
  expectReject(t, typeOf('HELLO'), helloWith({ nodeId: 'ab'.repeat(32) }), 'INVALID', /nodeId: expected bytes32, got string/)
  expectReject(t, typeOf('HELLO'), helloWith({ agent: 'a'.repeat(129) }), 'INVALID', /agent: expected string≤128/)
  t.ok(decodeOk(typeOf('HELLO'), helloWith({ agent: 'a'.repeat(128) })), '128 bytes is within the limit')
  // 33 two-byte characters: 33 code units, but 66 UTF-8 bytes > 64.
  expectReject(t, typeOf('HELLO'), helloWith({ network: 'é'.repeat(33) }), 'INVALID', /network: expected string≤64, got 66 bytes/)
  expectReject(t, typeOf('HELLO'), helloWith({ bestHeight: -1 }), 'INVALID', /bestHeight: expected u64/)

  const { nodeId: _nodeId, type: _type, ...missing } = hello
  expectReject(t, typeOf('HELLO'), packPlain(missing), 'INVALID', /^HELLO: nodeId: missing field \(bytes32\)$/)
  expectReject(t, typeOf('HELLO'), helloWith({ extra: 1 }), 'INVALID', /^HELLO: extra: unknown field$/)
  expectReject(t, typeOf('PING'), packPlain({ nonce: 1, 'a b': 2 }), 'INVALID', /^PING: "a b": unknown field$/)
  expectReject(t, typeOf('PING'), packPlain({}), 'INVALID', /nonce: missing field/)
  expectReject(t, typeOf('PING'), packPlain([7]), 'INVALID', /^PING: \(root\): expected map, got array\(len 1\)$/)
  expectReject(t, typeOf('PING'), packPlain(7), 'INVALID', /\(root\): expected map/)
  expectReject(t, typeOf('PING'), packPlain(null), 'INVALID', /\(root\): expected map, got null/)
  expectReject(t, typeOf('DISCONNECT'), packPlain({ code: 'x'.repeat(33), reason: '' }), 'INVALID', /code: expected string≤32/)
  expectReject(t, typeOf('DISCONNECT'), packPlain({ code: 'x', reason: 'r'.repeat(257) }), 'INVALID', /reason: expected string≤256/)
})

t.test('array, nested object and bytes limits', async (t) => {
  const addr = (i: number) => ({ host: `10.0.0.${i % 256}`, port: 8000 + (i % 100), lastSeen: i })
  const addrs = Array.from({ length: 1000 }, (_, i) => addr(i))
  t.equal(decodeOk(typeOf('ADDR'), packPlain({ addrs })).type, 'ADDR', '1000 addresses are fine')
  expectReject(
    t,
    typeOf('ADDR'),
    packPlain({ addrs: [...addrs, addr(1000)] }),
    'INVALID',
    /^ADDR: addrs: expected array≤1000 of map, got array\(len 1001\)$/,
  )
  const badPort = addrs.slice(0, 5).map((a, i) => (i === 3 ? { ...a, port: 70_000 } : a))
  expectReject(t, typeOf('ADDR'), packPlain({ addrs: badPort }), 'INVALID', /^ADDR: addrs\[3\]\.port: expected u16, got number 70000$/)
  const extra = addrs.slice(0, 2).map((a, i) => (i === 1 ? { ...a, services: 1 } : a))
  expectReject(t, typeOf('ADDR'), packPlain({ addrs: extra }), 'INVALID', /addrs\[1\]\.services: unknown field/)
  expectReject(t, typeOf('ADDR'), packPlain({ addrs: [[1, 2, 3]] }), 'INVALID', /addrs\[0\]: expected map, got array/)
  expectReject(t, typeOf('ADDR'), packPlain({ addrs: [{ host: 'h', port: 1 }] }), 'INVALID', /addrs\[0\]\.lastSeen: missing field/)

  expectReject(t, typeOf('TX'), packPlain({ tx: fill(1025, 0) }), 'INVALID', /tx: expected bytes≤1024, got bytes\(len 1025\)/)
  expectReject(t, typeOf('TX'), packPlain({ tx: [1, 2, 3] }), 'INVALID', /tx: expected bytes≤1024, got array/)
  expectReject(t, typeOf('TX'), packPlain({ tx: '00' }), 'INVALID', /tx: expected bytes≤1024, got string/)
  t.equal(decodeOk(typeOf('TX'), packPlain({ tx: fill(1024, 0) })).type, 'TX')

  const locator = Array.from({ length: 65 }, () => fill(32, 9))
  expectReject(t, typeOf('GET_BLOCKS'), packPlain({ locator, max: 1 }), 'INVALID', /locator: expected array≤64 of bytes32/)
  expectReject(
    t,
    typeOf('GET_BLOCKS'),
    packPlain({ locator: [fill(32, 0), fill(31, 0)], max: 1 }),
    'INVALID',
    /locator\[1\]: expected bytes32/,
  )
  expectReject(t, typeOf('GET_BLOCKS'), packPlain({ locator: [], max: 0 }), 'INVALID', /max: expected u32 in 1\.\.500, got number 0/)
  expectReject(t, typeOf('GET_BLOCKS'), packPlain({ locator: [], max: 501 }), 'INVALID', /max: expected u32 in 1\.\.500/)
  t.same(decodeOk(typeOf('GET_BLOCKS'), packPlain({ locator: [], max: 1 })), { type: 'GET_BLOCKS', locator: [], max: 1 })

  const blocks = Array.from({ length: 501 }, () => Buffer.alloc(1))
  expectReject(t, typeOf('BLOCKS'), packPlain({ blocks }), 'INVALID', /blocks: expected array≤500/)
  expectReject(
    t,
    typeOf('BLOCKS'),
    packPlain({ blocks: [Buffer.alloc(1), 5] }),
    'INVALID',
    /blocks\[1\]: expected bytes≤4194304, got number 5/,
  )
})

t.test('unknown type numbers', async (t) => {
  for (const type of [0x00, 0x0a, 0x7f, 0xff]) {
    expectReject(
      t,
      type,
      packPlain({ nonce: 1 }),
      'UNKNOWN_TYPE',
      new RegExp(`unknown message type 0x${type.toString(16).padStart(2, '0')}`),
    )
  }
})

t.test('bytes outside the msgpack profile are MALFORMED', async (t) => {
  const PING = typeOf('PING')
  const cases: Array<[string, string, RegExp]> = [
    ['empty payload', '', /empty payload/],
    ['truncated map', '81 a5 6e6f', /truncated/],
    ['truncated value', '81 a5 6e6f6e6365', /truncated/],
    ['trailing bytes', '81 a5 6e6f6e6365 07 00', /1 trailing bytes/],
    ['reserved 0xc1', '81 a5 6e6f6e6365 c1', /reserved token 0xc1/],
    ['timestamp ext -1 (fixext 4)', '81 a5 6e6f6e6365 d6 ff 00000000', /ext type -1/],
    ['timestamp ext -1 (ext 8)', '81 a5 6e6f6e6365 c7 0c ff 000000000000000000000000', /ext type -1/],
    ['timestamp as the whole payload', 'd7 ff 0000000000000000', /ext type -1/],
    ['msgpackr "undefined" ext 0', '81 a5 6e6f6e6365 d4 00 00', /ext type 0/],
    ['msgpackr Set ext', '81 a5 6e6f6e6365 c7 00 73', /ext type 115/],
    ['ext 32 header', '81 a5 6e6f6e6365 c9 00000001 01 00', /ext type 1 /],
    ['integer map key', '81 01 07', /map key at byte 1 is not a string/],
    ['nil map key', '81 c0 07', /not a string/],
    ['binary map key', '81 c4 05 6e6f6e6365 07', /not a string/],
    ['__proto__ key', '81 a9 5f5f70726f746f5f5f 81 a5 6e6f6e6365 07', /"__proto__"/],
    ['nested __proto__ key', '81 a5 6e6f6e6365 81 a9 5f5f70726f746f5f5f 07', /"__proto__"/],
    ['duplicate key', '82 a5 6e6f6e6365 01 a5 6e6f6e6365 02', /duplicate map key/],
    ['invalid UTF-8 key', '81 a2 c328 07', /invalid UTF-8 in map key/],
    ['invalid UTF-8 value', '82 a5 6e6f6e6365 07 a1 78 a2 c328', /invalid UTF-8 in string/],
    ['array count beyond the payload', '81 a5 6e6f6e6365 dd ffffffff', /truncated/],
    ['map count beyond the payload', 'df ffffffff', /truncated/],
    ['bin length beyond the payload', '81 a5 6e6f6e6365 c6 7fffffff 00', /truncated/],
    ['str length beyond the payload', '81 a5 6e6f6e6365 db 7fffffff 00', /truncated/],
  ]
  for (const [name, bytes, pattern] of cases) {
    t.test(name, async (t) => expectReject(t, PING, hex(bytes), 'MALFORMED', pattern))
  }
})

t.test('a msgpackr record that plain msgpackr would decode to a valid PING is rejected', async (t) => {
  // d4 72 40 = define record 0x40 with keys ["nonce"], then its values: {nonce: 7}.
  const record = hex('d4 72 40 91 a5 6e6f6e6365 07')
  t.same(new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(record), { nonce: 7 }, 'msgpackr alone accepts it')
  expectReject(t, typeOf('PING'), record, 'MALFORMED', /ext type 114/)
  // And a record as produced by msgpackr's default packer.
  const recordPacked = new Packr({ useRecords: true }).pack({ nonce: 7 })
  expectReject(t, typeOf('PING'), recordPacked, 'MALFORMED', /ext type 114/)
})

t.test('nesting depth is bounded', async (t) => {
  const nested = (depth: number): unknown => (depth === 0 ? 0 : [nested(depth - 1)])
  t.doesNotThrow(() => unpackStrict(packPlain(nested(MAX_MSGPACK_DEPTH))))
  t.throws(() => unpackStrict(packPlain(nested(MAX_MSGPACK_DEPTH + 1))), { code: 'MALFORMED' })
  // Deep input fails cleanly instead of overflowing the stack.
  const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0])])
  expectReject(t, typeOf('BLOCKS'), deep, 'MALFORMED', /nesting deeper than 16/)
})

t.test('outbound messages are validated and size-checked', async (t) => {
  t.throws(() => encodeMessage(MAGIC, { type: 'HELLO', ...(SAMPLES[0] as object), listenPort: 70_000 } as Message), {
    name: 'MessageError',
    code: 'INVALID',
    message: 'HELLO: listenPort: expected u16, got number 70000',
  })
  t.throws(() => encodeMessage(MAGIC, { type: 'PING', nonce: 1, extra: true } as unknown as Message), {
    code: 'INVALID',
    message: /extra: unknown field/,
  })
  t.throws(() => encodeMessage(MAGIC, { type: 'NOPE' } as unknown as Message), { code: 'UNKNOWN_TYPE' })
  t.throws(() => encodeMessage(MAGIC, { type: 'TX', tx: 'abcd' } as unknown as Message), { code: 'INVALID' })
  const nullProto = Object.assign(Object.create(null) as object, { type: 'PING', nonce: 5 }) as Message
  t.same(p2pCatalogue.decode(new FrameDecoder({ magic: MAGIC, maxPayloadBytes: 100 }).push(encodeMessage(MAGIC, nullProto))[0]!), {
    type: 'PING',
    nonce: 5,
  })
  // Uint8Array (not Buffer) is fine and comes back as Buffer.
  const viaU8 = p2pCatalogue.decode(
    new FrameDecoder({ magic: MAGIC, maxPayloadBytes: 100 }).push(
      encodeMessage(MAGIC, { type: 'TX', tx: new Uint8Array([1, 2]) as Buffer }),
    )[0]!,
  )
  t.same(viaU8, { type: 'TX', tx: Buffer.from([1, 2]) })

  const big: Message = { type: 'BLOCKS', blocks: [fill(4 << 20, 1), fill(4 << 20, 2), fill(4 << 20, 3)] }
  let tooLarge: unknown = null
  try {
    encodeMessage(MAGIC, big)
  } catch (error) {
    tooLarge = error
  }
  t.ok(tooLarge instanceof FrameError && tooLarge.code === 'FRAME_TOO_LARGE', 'FrameError FRAME_TOO_LARGE')
  t.equal(encodeMessage(MAGIC, big, 16 << 20).length > 12 << 20, true, 'the cap is the caller’s to raise')
})

t.test('defineCatalogue is reusable for other links and checks its spec', async (t) => {
  const tunnel = defineCatalogue(
    { DATA: { type: 0x10, schema: s.object({ packet: s.bytes({ max: 2000 }), note: s.optional(s.string({ max: 8 })) }) } },
    { maxPayloadBytes: 4096 },
  )
  const wire = tunnel.encode(0x626b7631, { type: 'DATA', packet: fill(3, 4) })
  const [f] = new FrameDecoder({ magic: 0x626b7631, maxPayloadBytes: 4096 }).push(wire)
  t.same(tunnel.decode(f!), { type: 'DATA', packet: fill(3, 4) }, 'optional field absent')
  t.same(tunnel.decode(frame(0x10, packPlain({ packet: fill(1, 1), note: 'hi' }))), { type: 'DATA', packet: fill(1, 1), note: 'hi' })
  t.equal(tunnel.tryDecode(frame(0x01, packPlain({ nonce: 1 }))).ok, false, 'P2P types mean nothing here')
  const one = s.object({ a: s.u8() })
  t.throws(
    () => defineCatalogue({ A: { type: 1, schema: one }, B: { type: 1, schema: one } }, { maxPayloadBytes: 10 }),
    /already used by A/,
  )
  t.throws(() => defineCatalogue({ A: { type: 256, schema: one } }, { maxPayloadBytes: 10 }), /u8/)
  t.throws(() => defineCatalogue({ A: { type: 2, schema: s.object({ type: s.u8() }) } }, { maxPayloadBytes: 10 }), /reserved/)
})

// ---------------------------------------------------------------------------
// Property tests

/** Cuts a string to at most `max` UTF-8 bytes on a code point boundary. */
function fitUtf8(value: string, max: number): string {
  let out = ''
  let bytes = 0
  for (const ch of value) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    out += ch
    bytes += n
  }
  return out
}

const str = (max: number) => fc.string({ unit: 'binary', maxLength: max }).map((v) => fitUtf8(v, max))
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b))
const hash = bytes(32, 32)
const u64 = fc.maxSafeNat()

// Plain-prototype records so decoded messages compare with deepStrictEqual.
const rec = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(shape, { noNullPrototype: true })

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  rec({
    type: fc.constant('HELLO' as const),
    version: fc.integer({ min: 0, max: 0xffffffff }),
    network: str(64),
    genesis: hash,
    nodeId: hash,
    listenHost: str(64),
    listenPort: fc.integer({ min: 0, max: 0xffff }),
    bestHeight: u64,
    bestHash: hash,
    agent: str(128),
  }),
  rec({ type: fc.constant('DISCONNECT' as const), code: str(32), reason: str(256) }),
  rec({ type: fc.constant('PING' as const), nonce: u64 }),
  rec({ type: fc.constant('PONG' as const), nonce: u64 }),
  rec({
    type: fc.constant('ADDR' as const),
    addrs: fc.array(rec({ host: str(64), port: fc.integer({ min: 0, max: 0xffff }), lastSeen: u64 }), { maxLength: 20 }),
  }),
  rec({ type: fc.constant('TX' as const), tx: bytes(0, 1024) }),
  rec({ type: fc.constant('BLOCK' as const), block: bytes(0, 3000) }),
  rec({ type: fc.constant('GET_BLOCKS' as const), locator: fc.array(hash, { maxLength: 64 }), max: fc.integer({ min: 1, max: 500 }) }),
  rec({ type: fc.constant('BLOCKS' as const), blocks: fc.array(bytes(0, 200), { maxLength: 10 }) }),
)

t.test('property: every valid message round trips, and re-encodes to the same bytes', async (t) => {
  fc.assert(
    fc.property(messageArb, (msg) => {
      const wire = encodeMessage(MAGIC, msg)
      const [f] = new FrameDecoder({ magic: MAGIC, maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES }).push(wire)
      const decoded = p2pCatalogue.decode(f!)
      deepStrictEqual(decoded, msg)
      deepStrictEqual(encodeMessage(MAGIC, decoded), wire)
    }),
    { numRuns: 500 },
  )
  t.pass('property held')
})

/** Runs decodeMessage and tryDecodeMessage on one frame; false if either breaks its contract. */
function contractHolds(f: Frame): boolean {
  let thrown: unknown = null
  try {
    p2pCatalogue.decode(f)
  } catch (error) {
    thrown = error
  }
  if (thrown !== null && !(thrown instanceof MessageError)) throw thrown
  const result = tryDecodeMessage(f)
  if (result.ok !== (thrown === null)) return false
  return result.ok || result.error instanceof ProtocolError
}

const typeArb = fc.oneof(fc.constantFrom(...Object.values(MESSAGE_TYPES)), fc.integer({ min: 0, max: 255 }))

t.test('property: random bytes as a payload of any type never escape tryDecodeMessage', async (t) => {
  fc.assert(
    fc.property(typeArb, fc.uint8Array({ maxLength: 400 }), (type, payload) => contractHolds(frame(type, payload))),
    { numRuns: 3000 },
  )
  t.pass('property held')
})

t.test('property: mutated valid messages never escape tryDecodeMessage', async (t) => {
  const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
  fc.assert(
    fc.property(messageArb, mutation, fc.nat(), (msg, edits, cut) => {
      const payload = Buffer.from(encodeMessage(MAGIC, msg).subarray(14))
      for (const [at, byte] of edits) if (payload.length > 0) payload[at % payload.length] = byte
      const type = typeOf(msg.type)
      return contractHolds(frame(type, payload)) && contractHolds(frame(type, payload.subarray(0, cut % (payload.length + 1))))
    }),
    { numRuns: 2000 },
  )
  t.pass('property held')
})

t.test('property: anything a permissive msgpackr can produce is rejected or valid, never thrown', async (t) => {
  const packers = [
    new Packr({ useRecords: true }),
    new Packr({ structuredClone: true, moreTypes: true }),
    new Packr({ useRecords: false, bundleStrings: true }),
  ]
  const value = fc.oneof(
    fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withNullPrototype: true,
      withSparseArray: true,
      withBoxedValues: true,
    }),
    messageArb.map(({ type: _type, ...fields }) => fields),
  )
  fc.assert(
    fc.property(typeArb, value, fc.nat({ max: packers.length - 1 }), (type, v, which) => {
      let payload: Buffer
      try {
        payload = packers[which]!.pack(v)
      } catch {
        return true // msgpackr cannot encode this value; nothing to test
      }
      return contractHolds(frame(type, payload))
    }),
    { numRuns: 2000 },
  )
  t.pass('property held')
})

function hasProtoKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey)
  if (typeof v !== 'object' || v === null) return false
  return Object.keys(v).some((k) => k === '__proto__' || hasProtoKey((v as Record<string, unknown>)[k]))
}

t.test('property: the strict profile decodes what packPlain encodes', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      const bytes = packPlain(v)
      if (hasProtoKey(v)) {
        // The one JSON shape the profile refuses, whatever the nesting.
        try {
          unpackStrict(bytes)
        } catch (error) {
          return error instanceof MessageError && error.code === 'MALFORMED'
        }
        return false
      }
      deepStrictEqual(unpackStrict(bytes), JSON.parse(JSON.stringify(v)))
      return true
    }),
    { numRuns: 500 },
  )
  t.pass('property held')
})
