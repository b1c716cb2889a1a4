// Canonical block bytes and the transaction root.
import t from 'tap'
import fc from 'fast-check'
import type { CodecError } from '../../../../protocol/wire/codec-error.js'
import {
  BLOCK_VERSION,
  HEADER_BYTES,
  HEADER_PREFIX_BYTES,
  blockHash,
  decodeBlock,
  decodeHeader,
  encodeBlock,
  encodeHeader,
  encodeHeaderPrefix,
  encodedBlockSize,
  type Block,
  type BlockHeader,
} from '../../../../protocol/chain/block-codec.js'
import { TX_BYTES, encodeTx, type Transaction } from '../../../../protocol/chain/tx-codec.js'
import { merkleRoot } from '../../../../protocol/chain/merkle.js'
import { sha256 } from '../../../../protocol/wire/hash.js'

const MAX = Number.MAX_SAFE_INTEGER
const codec = (code: CodecError['code']) => ({ name: 'CodecError', code })
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b))
const u64 = fc.integer({ min: 0, max: MAX })

const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  height: fc.integer({ min: 0, max: 0xffffffff }),
  prevHash: bytes(32),
  timestamp: u64,
  txRoot: bytes(32),
  miner: bytes(33),
  target: bytes(32),
  proofType: fc.constant('pow' as const),
  nonce: u64,
})
const txArb: fc.Arbitrary<Transaction> = fc.record({
  from: bytes(33),
  to: bytes(33),
  amount: u64,
  nonce: u64,
  timestamp: u64,
  signature: bytes(64),
})
const blockArb: fc.Arbitrary<Block> = fc.record({ header: headerArb, txs: fc.array(txArb, { maxLength: 6 }) })

const sampleHeader = (): BlockHeader => ({
  height: 3,
  prevHash: Buffer.alloc(32, 1),
  timestamp: 1_700_000_000_000,
  txRoot: Buffer.alloc(32, 2),
  miner: Buffer.alloc(33, 3),
  target: Buffer.alloc(32, 0xff),
  proofType: 'pow',
  nonce: 42,
})
const sampleTx = (n: number): Transaction => ({
  from: Buffer.alloc(33, 4),
  to: Buffer.alloc(33, 5),
  amount: n + 1,
  nonce: n,
  timestamp: 9,
  signature: Buffer.alloc(64, 6),
})

t.test('block round trip (property)', async (t) => {
  fc.assert(
    fc.property(blockArb, (block) => {
      const enc = encodeBlock(block)
      const dec = decodeBlock(enc)
      return (
        enc.length === encodedBlockSize(block.txs.length) &&
        encodeBlock(dec).equals(enc) &&
        blockHash(dec.header).equals(blockHash(block.header)) &&
        dec.txs.length === block.txs.length
      )
    }),
  )
  t.pass('round trips')
})

t.test('header layout: 151 bytes, nonce last', async (t) => {
  const h = sampleHeader()
  const enc = encodeHeader(h)
  t.equal(HEADER_BYTES, 151)
  t.equal(enc.length, 151)
  t.equal(enc[0], BLOCK_VERSION)
  t.equal(enc.readUInt32BE(1), 3)
  t.same(enc.subarray(5, 37), h.prevHash)
  t.equal(enc.readBigUInt64BE(37), BigInt(h.timestamp))
  t.same(enc.subarray(45, 77), h.txRoot)
  t.same(enc.subarray(77, 110), h.miner)
  t.same(enc.subarray(110, 142), h.target)
  t.equal(enc[142], 0, 'pow is proof type 0')
  t.equal(enc.readBigUInt64BE(143), 42n)
  t.same(encodeHeaderPrefix(h), enc.subarray(0, HEADER_PREFIX_BYTES), 'the prefix is the header without the nonce')
  t.same(blockHash(h), sha256(enc))
  t.same(decodeHeader(enc), h)
})

t.test('block layout: header, u32 count, 155-byte transactions', async (t) => {
  const block = { header: sampleHeader(), txs: [sampleTx(0), sampleTx(1)] }
  const enc = encodeBlock(block)
  t.equal(enc.length, 151 + 4 + 2 * 155)
  t.equal(encodedBlockSize(2), enc.length)
  t.equal(enc.readUInt32BE(151), 2)
  t.same(enc.subarray(155, 155 + TX_BYTES), encodeTx(block.txs[0]!))
  t.same(enc.subarray(155 + TX_BYTES), encodeTx(block.txs[1]!))
  t.equal(decodeBlock(encodeBlock({ header: sampleHeader(), txs: [] })).txs.length, 0, 'an empty list decodes (validation refuses it)')
})

t.test('decodeBlock refuses bad lengths and counts', async (t) => {
  const enc = encodeBlock({ header: sampleHeader(), txs: [sampleTx(0), sampleTx(1)] })
  t.throws(() => decodeBlock(enc.subarray(0, 154)), codec('BAD_LENGTH'), 'shorter than header + count')
  t.throws(() => decodeBlock(Buffer.alloc(0)), codec('BAD_LENGTH'), 'empty')
  t.throws(() => decodeBlock(enc.subarray(0, enc.length - 1)), codec('BAD_LENGTH'), 'truncated transaction')
  t.throws(() => decodeBlock(Buffer.concat([enc, Buffer.alloc(1)])), codec('BAD_LENGTH'), 'trailing byte')
  const more = Buffer.from(enc)
  more.writeUInt32BE(3, 151)
  t.throws(() => decodeBlock(more), codec('BAD_LENGTH'), 'count above the transactions present')
  const fewer = Buffer.from(enc)
  fewer.writeUInt32BE(1, 151)
  t.throws(() => decodeBlock(fewer), codec('BAD_LENGTH'), 'count below the transactions present')
  const huge = Buffer.from(enc.subarray(0, 155))
  huge.writeUInt32BE(0xffffffff, 151)
  t.throws(() => decodeBlock(huge), codec('BAD_LENGTH'), 'count 2^32-1 with no bytes behind it')
})

t.test('decodeBlock checks maxBytes before parsing anything', async (t) => {
  const enc = encodeBlock({ header: sampleHeader(), txs: [sampleTx(0)] })
  t.equal(decodeBlock(enc, enc.length).txs.length, 1, 'exactly at the limit')
  t.throws(() => decodeBlock(enc, enc.length - 1), codec('BAD_LENGTH'), 'one byte over')
  const garbage = Buffer.alloc(10_000, 0xff)
  t.throws(() => decodeBlock(garbage, 1000), { name: 'CodecError', code: 'BAD_LENGTH', message: /limit of 1000/ }, 'oversized garbage')
})

t.test('decode refuses bad version, big integers, unknown proof type, bad inner tx', async (t) => {
  const block = { header: sampleHeader(), txs: [sampleTx(0)] }
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(encodeBlock(block))
    f(b)
    return b
  }
  t.throws(() => decodeBlock(mutate((b) => (b[0] = 2))), codec('BAD_VERSION'), 'block version 2')
  t.throws(() => decodeBlock(mutate((b) => (b[0] = 0))), codec('BAD_VERSION'), 'block version 0')
  t.throws(() => decodeBlock(mutate((b) => b.writeUInt32BE(0x200000, 37))), codec('BAD_INTEGER'), 'timestamp 2^53')
  t.throws(() => decodeBlock(mutate((b) => b.writeUInt32BE(0x200000, 143))), codec('BAD_INTEGER'), 'nonce 2^53')
  for (const p of [1, 2, 255]) t.throws(() => decodeBlock(mutate((b) => (b[142] = p))), codec('BAD_FIELD'), `proof type byte ${p}`)
  t.throws(() => decodeBlock(mutate((b) => (b[155] = 9))), codec('BAD_VERSION'), 'transaction version 9')
  t.throws(() => decodeBlock(mutate((b) => b.writeUInt32BE(0xffffffff, 155 + 67))), codec('BAD_INTEGER'), 'transaction amount 2^64-1')
  const maxNonce = decodeHeader(encodeHeader({ ...sampleHeader(), nonce: MAX, timestamp: MAX, height: 0xffffffff }))
  t.equal(maxNonce.nonce, MAX)
  t.equal(maxNonce.height, 0xffffffff)
})

t.test('encode refuses headers it cannot represent, including any proof type but pow', async (t) => {
  const cases: Array<[string, Partial<BlockHeader>, CodecError['code']]> = [
    ['height 2^32', { height: 2 ** 32 }, 'BAD_INTEGER'],
    ['height -1', { height: -1 }, 'BAD_INTEGER'],
    ['timestamp 2^53', { timestamp: 2 ** 53 }, 'BAD_INTEGER'],
    ['nonce 2^53', { nonce: 2 ** 53 }, 'BAD_INTEGER'],
    ['nonce 0.5', { nonce: 0.5 }, 'BAD_INTEGER'],
    ['short prevHash', { prevHash: Buffer.alloc(31) }, 'BAD_FIELD'],
    ['short txRoot', { txRoot: Buffer.alloc(31) }, 'BAD_FIELD'],
    ['34-byte miner', { miner: Buffer.alloc(34) }, 'BAD_FIELD'],
    ['short target', { target: Buffer.alloc(31) }, 'BAD_FIELD'],
  ]
  for (const [label, patch, code] of cases) t.throws(() => encodeHeader({ ...sampleHeader(), ...patch }), codec(code), label)
  // Names inherited from Object.prototype are not proof types: they must not encode as pow (or anything).
  for (const name of ['space', 'memory', 'POW', '', 'toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty']) {
    const h = { ...sampleHeader(), proofType: name } as unknown as BlockHeader
    t.throws(() => encodeHeader(h), codec('BAD_FIELD'), `proof type "${name}"`)
    t.throws(() => blockHash(h), codec('BAD_FIELD'), `hash of proof type "${name}"`)
  }
})

t.test('block hash changes with every header field (property)', async (t) => {
  const fields = ['height', 'prevHash', 'timestamp', 'txRoot', 'miner', 'target', 'nonce'] as const
  fc.assert(
    fc.property(headerArb, fc.constantFrom(...fields), fc.nat(), (h, field, r) => {
      const c: BlockHeader = { ...h }
      if (field === 'height') c.height = (h.height + 1) % 2 ** 32
      else if (field === 'timestamp' || field === 'nonce') c[field] = (h[field] + 1) % (MAX + 1)
      else {
        const b = Buffer.from(h[field])
        b[r % b.length] = b[r % b.length]! ^ 0x80
        c[field] = b
      }
      return !blockHash(c).equals(blockHash(h))
    }),
  )
  t.pass('hashes differ')
})

// ---- transaction root ----
const id = (n: number) => sha256(Buffer.from([n]))
const leaf = (x: Buffer) => sha256(Buffer.from([0]), x)
const node = (l: Buffer, r: Buffer) => sha256(Buffer.from([1]), l, r)

t.test('merkle root: known structure', async (t) => {
  const [a, b, c, d] = [id(1), id(2), id(3), id(4)]
  t.same(merkleRoot([]), sha256(), 'empty list: sha256 of nothing')
  t.same(merkleRoot([a]), leaf(a), 'one leaf is hashed with the 0x00 prefix, not used raw')
  t.notSame(merkleRoot([a]), a)
  t.same(merkleRoot([a, b]), node(leaf(a), leaf(b)))
  t.same(merkleRoot([a, b, c]), node(node(leaf(a), leaf(b)), leaf(c)), 'odd leaf carried up, not paired with itself')
  t.same(merkleRoot([a, b, c, d]), node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d))))
  t.same(merkleRoot([a, b, c, d, a]), node(node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d))), leaf(a)))
  t.notSame(merkleRoot([a, b, c]), merkleRoot([a, b, c, c]), 'CVE-2012-2459 shape')
  t.notSame(merkleRoot([a, b]), merkleRoot([b, a]), 'order matters')
  // An inner node's bytes used as a leaf id do not give the parent's root.
  t.notSame(merkleRoot([node(leaf(a), leaf(b))]), merkleRoot([a, b]))
})

t.test('merkle root: different id lists give different roots (property)', async (t) => {
  const ids = fc.array(fc.integer({ min: 0, max: 5 }).map(id), { maxLength: 9 })
  const key = (l: Buffer[]) => l.map((x) => x.toString('hex')).join(',')
  fc.assert(
    fc.property(ids, ids, (x, y) => (key(x) === key(y)) === merkleRoot(x).equals(merkleRoot(y))),
    { numRuns: 500 },
  )
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 255 }).map(id), { minLength: 1, maxLength: 12 }),
      (l) => !merkleRoot(l).equals(merkleRoot([...l, l[l.length - 1]!])) && !merkleRoot(l).equals(merkleRoot(l.slice(0, -1))),
    ),
  )
  t.pass('roots differ')
})
