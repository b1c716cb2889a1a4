// Canonical block bytes (header version 2: a variable proof) and the transaction root.
import t from 'tap'
import fc from 'fast-check'
import type { CodecError } from '../../../../protocol/wire/codec-error.js'
import {
  BLOCK_VERSION,
  HEADER_FIXED_BYTES,
  MAX_HEADER_BYTES,
  MAX_PROOF_BYTES,
  PROOF_TYPES,
  blockHash,
  decodeBlock,
  decodeHeader,
  encodeBlock,
  encodeHeader,
  encodedBlockSize,
  headerLength,
  headerSize,
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
const proofTypes = Object.keys(PROOF_TYPES) as Array<keyof typeof PROOF_TYPES>

const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  height: fc.integer({ min: 0, max: 0xffffffff }),
  prevHash: bytes(32),
  timestamp: u64,
  txRoot: bytes(32),
  miner: bytes(33),
  target: bytes(32),
  proofType: fc.constantFrom(...proofTypes),
  proof: fc.uint8Array({ minLength: 0, maxLength: MAX_PROOF_BYTES }).map((b) => Buffer.from(b)),
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

/** An 8-byte proof holding `n` as a u64, the `work` engine's nonce. */
const nonceProof = (n: number): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}
const sampleHeader = (): BlockHeader => ({
  height: 3,
  prevHash: Buffer.alloc(32, 1),
  timestamp: 1_700_000_000_000,
  txRoot: Buffer.alloc(32, 2),
  miner: Buffer.alloc(33, 3),
  target: Buffer.alloc(32, 0xff),
  proofType: 'pow',
  proof: nonceProof(42),
})
const sampleTx = (n: number): Transaction => ({
  from: Buffer.alloc(33, 4),
  to: Buffer.alloc(33, 5),
  amount: n + 1,
  nonce: n,
  timestamp: 9,
  signature: Buffer.alloc(64, 6),
})

t.test('block round trip with proofs of 0..255 bytes and every proof type (property)', async (t) => {
  fc.assert(
    fc.property(blockArb, (block) => {
      const enc = encodeBlock(block)
      const dec = decodeBlock(enc)
      return (
        enc.length === encodedBlockSize(block.txs.length, block.header.proof.length) &&
        headerLength(enc) === headerSize(block.header.proof.length) &&
        encodeBlock(dec).equals(enc) &&
        dec.header.proof.equals(block.header.proof) &&
        dec.header.proofType === block.header.proofType &&
        blockHash(dec.header).equals(blockHash(block.header)) &&
        dec.txs.length === block.txs.length
      )
    }),
  )
  t.pass('round trips')
})

t.test('header round trip keeps every field (property)', async (t) => {
  fc.assert(
    fc.property(headerArb, (h) => {
      const enc = encodeHeader(h)
      const dec = decodeHeader(enc)
      return (
        enc.length === headerSize(h.proof.length) &&
        dec.height === h.height &&
        dec.timestamp === h.timestamp &&
        dec.prevHash.equals(h.prevHash) &&
        dec.txRoot.equals(h.txRoot) &&
        dec.miner.equals(h.miner) &&
        dec.target.equals(h.target) &&
        dec.proofType === h.proofType &&
        dec.proof.equals(h.proof)
      )
    }),
  )
  t.pass('round trips')
})

t.test('header layout: 145 fixed bytes, then the u16 proof length and the proof; 153 bytes for a work nonce', async (t) => {
  const h = sampleHeader()
  const enc = encodeHeader(h)
  t.equal(BLOCK_VERSION, 2)
  t.equal(HEADER_FIXED_BYTES, 145)
  t.equal(MAX_PROOF_BYTES, 255)
  t.equal(MAX_HEADER_BYTES, 400)
  t.equal(headerSize(8), 153)
  t.equal(enc.length, 153)
  t.equal(enc[0], 2, 'version 2')
  t.equal(enc.readUInt32BE(1), 3)
  t.same(enc.subarray(5, 37), h.prevHash)
  t.equal(enc.readBigUInt64BE(37), BigInt(h.timestamp))
  t.same(enc.subarray(45, 77), h.txRoot)
  t.same(enc.subarray(77, 110), h.miner)
  t.same(enc.subarray(110, 142), h.target)
  t.equal(enc[142], 0, 'pow is proof type 0')
  t.equal(enc.readUInt16BE(143), 8, 'proof length')
  t.equal(enc.readBigUInt64BE(145), 42n, 'the proof is last: a miner varies it behind a fixed prefix')
  t.same(enc.subarray(145), h.proof)
  t.same(blockHash(h), sha256(enc))
  t.same(decodeHeader(enc), h)
  t.same(PROOF_TYPES, { pow: 0, pom: 1, pos: 2, empty: 3 }, 'proof type codes')
  for (const [name, code] of Object.entries(PROOF_TYPES)) {
    const e = encodeHeader({ ...h, proofType: name as keyof typeof PROOF_TYPES })
    t.equal(e[142], code, `${name} is proof type ${code}`)
  }
  const empty = encodeHeader({ ...h, proof: Buffer.alloc(0) })
  t.equal(empty.length, 145, 'an empty proof: the fixed bytes only')
  t.equal(empty.readUInt16BE(143), 0)
  t.same(decodeHeader(empty).proof, Buffer.alloc(0))
  const longest = encodeHeader({ ...h, proof: Buffer.alloc(255, 7) })
  t.equal(longest.length, 400)
  t.equal(longest.readUInt16BE(143), 255)
})

t.test('headerLength reads the proof length; null when the fixed bytes are not all there', async (t) => {
  const enc = encodeHeader(sampleHeader())
  t.equal(headerLength(enc), 153)
  t.equal(headerLength(encodeBlock({ header: sampleHeader(), txs: [sampleTx(0)] })), 153, 'at the start of a block')
  t.equal(headerLength(enc.subarray(0, 145)), 153, 'the fixed bytes suffice')
  t.equal(headerLength(enc.subarray(0, 144)), null, 'one byte short of the proof length')
  t.equal(headerLength(enc.subarray(0, 143)), null)
  t.equal(headerLength(Buffer.alloc(0)), null, 'empty')
  const big = Buffer.from(enc)
  big.writeUInt16BE(0xffff, 143)
  t.equal(headerLength(big), 145 + 0xffff, 'an announced length is reported as is; decodeHeader bounds it')
})

t.test('block layout: header, u32 count, 155-byte transactions', async (t) => {
  const block = { header: sampleHeader(), txs: [sampleTx(0), sampleTx(1)] }
  const enc = encodeBlock(block)
  t.equal(enc.length, 153 + 4 + 2 * 155)
  t.equal(encodedBlockSize(2, 8), enc.length)
  t.equal(encodedBlockSize(0, 0), 149)
  t.equal(enc.readUInt32BE(153), 2)
  t.same(enc.subarray(157, 157 + TX_BYTES), encodeTx(block.txs[0]!))
  t.same(enc.subarray(157 + TX_BYTES), encodeTx(block.txs[1]!))
  t.equal(decodeBlock(encodeBlock({ header: sampleHeader(), txs: [] })).txs.length, 0, 'an empty list decodes (validation refuses it)')
  const long = encodeBlock({ header: { ...sampleHeader(), proof: Buffer.alloc(200, 9) }, txs: [sampleTx(0)] })
  t.equal(long.length, 345 + 4 + 155)
  t.equal(long.readUInt32BE(345), 1, 'the count follows the proof, wherever it ends')
  t.same(decodeBlock(long).header.proof, Buffer.alloc(200, 9))
})

t.test('decodeBlock refuses bad lengths and counts', async (t) => {
  const enc = encodeBlock({ header: sampleHeader(), txs: [sampleTx(0), sampleTx(1)] })
  t.throws(() => decodeBlock(enc.subarray(0, 156)), codec('BAD_LENGTH'), 'shorter than header + count')
  t.throws(() => decodeBlock(enc.subarray(0, 150)), codec('BAD_LENGTH'), 'cut inside the proof')
  t.throws(() => decodeBlock(enc.subarray(0, 144)), codec('BAD_LENGTH'), 'cut inside the fixed bytes')
  t.throws(() => decodeBlock(Buffer.alloc(0)), codec('BAD_LENGTH'), 'empty')
  t.throws(() => decodeBlock(enc.subarray(0, enc.length - 1)), codec('BAD_LENGTH'), 'truncated transaction')
  t.throws(() => decodeBlock(Buffer.concat([enc, Buffer.alloc(1)])), codec('BAD_LENGTH'), 'trailing byte')
  t.throws(() => decodeBlock(Buffer.concat([enc, Buffer.alloc(TX_BYTES)])), codec('BAD_LENGTH'), 'one transaction too many')
  const more = Buffer.from(enc)
  more.writeUInt32BE(3, 153)
  t.throws(() => decodeBlock(more), codec('BAD_LENGTH'), 'count above the transactions present')
  const fewer = Buffer.from(enc)
  fewer.writeUInt32BE(1, 153)
  t.throws(() => decodeBlock(fewer), codec('BAD_LENGTH'), 'count below the transactions present')
  const huge = Buffer.from(enc.subarray(0, 157))
  huge.writeUInt32BE(0xffffffff, 153)
  t.throws(() => decodeBlock(huge), codec('BAD_LENGTH'), 'count 2^32-1 with no bytes behind it')
  // A proof length that moves the header's end moves the count: the bytes no longer add up.
  for (const n of [0, 7, 9, 255, 0xffff]) {
    const b = Buffer.from(enc)
    b.writeUInt16BE(n, 143)
    t.throws(() => decodeBlock(b), codec('BAD_LENGTH'), `proof length ${n} announced for 8 bytes`)
  }
})

t.test('decodeBlock of any truncation or extension of a valid block is refused (property)', async (t) => {
  fc.assert(
    fc.property(blockArb, fc.nat(), fc.integer({ min: 1, max: 400 }), (block, r, extra) => {
      const enc = encodeBlock(block)
      const cut = r % enc.length
      const isLength = (f: () => unknown) => {
        try {
          f()
          return false
        } catch (err) {
          return (err as CodecError).name === 'CodecError' && (err as CodecError).code === 'BAD_LENGTH'
        }
      }
      return isLength(() => decodeBlock(enc.subarray(0, cut))) && isLength(() => decodeBlock(Buffer.concat([enc, Buffer.alloc(extra)])))
    }),
    { numRuns: 200 },
  )
  t.pass('refused')
})

t.test('decodeBlock checks maxBytes before parsing anything', async (t) => {
  const enc = encodeBlock({ header: sampleHeader(), txs: [sampleTx(0)] })
  t.equal(decodeBlock(enc, enc.length).txs.length, 1, 'exactly at the limit')
  t.throws(() => decodeBlock(enc, enc.length - 1), codec('BAD_LENGTH'), 'one byte over')
  const garbage = Buffer.alloc(10_000, 0xff)
  t.throws(() => decodeBlock(garbage, 1000), { name: 'CodecError', code: 'BAD_LENGTH', message: /limit of 1000/ }, 'oversized garbage')
})

t.test('decodeHeader refuses a proof length that disagrees with the bytes, and a proof above 255 bytes', async (t) => {
  const enc = encodeHeader(sampleHeader())
  for (const n of [0, 7, 9, 255]) {
    const b = Buffer.from(enc)
    b.writeUInt16BE(n, 143)
    t.throws(() => decodeHeader(b), codec('BAD_LENGTH'), `proof length ${n} announced, 8 bytes present`)
  }
  t.throws(() => decodeHeader(enc.subarray(0, 152)), codec('BAD_LENGTH'), 'a proof byte missing')
  t.throws(() => decodeHeader(Buffer.concat([enc, Buffer.alloc(1)])), codec('BAD_LENGTH'), 'a byte behind the proof')
  t.throws(() => decodeHeader(enc.subarray(0, 144)), codec('BAD_LENGTH'), 'shorter than the fixed bytes')
  t.throws(() => decodeHeader(Buffer.alloc(0)), codec('BAD_LENGTH'), 'empty')
  for (const n of [256, 0xffff]) {
    const b = Buffer.alloc(145 + n, 1)
    enc.copy(b, 0, 0, 143)
    b.writeUInt16BE(n, 143)
    t.throws(() => decodeHeader(b), { name: 'CodecError', code: 'BAD_LENGTH', message: /proof longer than 255/ }, `a ${n}-byte proof`)
    const block = Buffer.concat([b, Buffer.alloc(4)])
    t.throws(
      () => decodeBlock(block),
      { name: 'CodecError', code: 'BAD_LENGTH', message: /proof longer than 255/ },
      `a block with a ${n}-byte proof`,
    )
  }
})

t.test('decode refuses bad version, big integers, unknown proof type, bad inner tx', async (t) => {
  const block = { header: sampleHeader(), txs: [sampleTx(0)] }
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(encodeBlock(block))
    f(b)
    return b
  }
  t.throws(() => decodeBlock(mutate((b) => (b[0] = 1))), codec('BAD_VERSION'), 'block version 1: the fixed 151-byte header')
  t.throws(() => decodeHeader(mutate((b) => (b[0] = 1)).subarray(0, 153)), codec('BAD_VERSION'), 'header version 1')
  t.throws(() => decodeBlock(mutate((b) => (b[0] = 3))), codec('BAD_VERSION'), 'block version 3')
  t.throws(() => decodeBlock(mutate((b) => (b[0] = 0))), codec('BAD_VERSION'), 'block version 0')
  // A version-1 block as it was: 151-byte header with the nonce last, then the count.
  const v1 = Buffer.concat([mutate((b) => (b[0] = 1)).subarray(0, 143), Buffer.alloc(8), Buffer.alloc(4)])
  t.throws(() => decodeBlock(v1), codec('BAD_VERSION'), 'a whole version-1 block with no transactions')
  t.throws(() => decodeBlock(mutate((b) => b.writeUInt32BE(0x200000, 37))), codec('BAD_INTEGER'), 'timestamp 2^53')
  for (const p of [4, 5, 255]) t.throws(() => decodeBlock(mutate((b) => (b[142] = p))), codec('BAD_FIELD'), `proof type byte ${p}`)
  t.throws(() => decodeBlock(mutate((b) => (b[157] = 9))), codec('BAD_VERSION'), 'transaction version 9')
  t.throws(() => decodeBlock(mutate((b) => b.writeUInt32BE(0xffffffff, 157 + 67))), codec('BAD_INTEGER'), 'transaction amount 2^64-1')
  // The codec does not read the proof: an 8-byte proof of 2^64-1 decodes (the work engine refuses it).
  const maxed = decodeHeader(encodeHeader({ ...sampleHeader(), proof: Buffer.alloc(8, 0xff), timestamp: MAX, height: 0xffffffff }))
  t.same(maxed.proof, Buffer.alloc(8, 0xff))
  t.equal(maxed.timestamp, MAX)
  t.equal(maxed.height, 0xffffffff)
})

t.test('encode refuses headers it cannot represent, including unknown proof types and proofs above 255 bytes', async (t) => {
  const cases: Array<[string, Partial<BlockHeader>, CodecError['code']]> = [
    ['height 2^32', { height: 2 ** 32 }, 'BAD_INTEGER'],
    ['height -1', { height: -1 }, 'BAD_INTEGER'],
    ['timestamp 2^53', { timestamp: 2 ** 53 }, 'BAD_INTEGER'],
    ['short prevHash', { prevHash: Buffer.alloc(31) }, 'BAD_FIELD'],
    ['short txRoot', { txRoot: Buffer.alloc(31) }, 'BAD_FIELD'],
    ['34-byte miner', { miner: Buffer.alloc(34) }, 'BAD_FIELD'],
    ['short target', { target: Buffer.alloc(31) }, 'BAD_FIELD'],
    ['256-byte proof', { proof: Buffer.alloc(256) }, 'BAD_FIELD'],
    ['65536-byte proof', { proof: Buffer.alloc(65536) }, 'BAD_FIELD'],
    ['proof not a Buffer', { proof: 'ab' as unknown as Buffer }, 'BAD_FIELD'],
    ['proof missing', { proof: undefined as unknown as Buffer }, 'BAD_FIELD'],
  ]
  for (const [label, patch, code] of cases) t.throws(() => encodeHeader({ ...sampleHeader(), ...patch }), codec(code), label)
  t.throws(
    () => encodeBlock({ header: { ...sampleHeader(), proof: Buffer.alloc(256) }, txs: [] }),
    codec('BAD_FIELD'),
    'block with a 256-byte proof',
  )
  t.equal(encodeHeader({ ...sampleHeader(), proof: Buffer.alloc(255) }).length, 400, '255 bytes is the most')
  // Names inherited from Object.prototype are not proof types: they must not encode as pow (or anything).
  for (const name of ['space', 'memory', 'POW', '', 'toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty']) {
    const h = { ...sampleHeader(), proofType: name } as unknown as BlockHeader
    t.throws(() => encodeHeader(h), codec('BAD_FIELD'), `proof type "${name}"`)
    t.throws(() => blockHash(h), codec('BAD_FIELD'), `hash of proof type "${name}"`)
  }
})

t.test('block hash changes with every header field, the proof type and each proof byte (property)', async (t) => {
  const fields = ['height', 'prevHash', 'timestamp', 'txRoot', 'miner', 'target', 'proofType', 'proof', 'proofLength'] as const
  fc.assert(
    fc.property(headerArb, fc.constantFrom(...fields), fc.nat(), (h, field, r) => {
      const c: BlockHeader = { ...h }
      if (field === 'height') c.height = (h.height + 1) % 2 ** 32
      else if (field === 'timestamp') c.timestamp = (h.timestamp + 1) % (MAX + 1)
      else if (field === 'proofType') c.proofType = proofTypes[(proofTypes.indexOf(h.proofType) + 1) % proofTypes.length]!
      else if (field === 'proofLength') {
        // One byte more or less: a proof that is a prefix of another hashes apart.
        c.proof = h.proof.length === MAX_PROOF_BYTES ? h.proof.subarray(0, -1) : Buffer.concat([h.proof, Buffer.alloc(1)])
      } else if (field === 'proof' && h.proof.length === 0) c.proof = Buffer.alloc(1)
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
