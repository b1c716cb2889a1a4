// Canonical transaction bytes: round trip, exact layout, every decode error,
// id and signing message binding every field and the network.
import t from 'tap'
import fc from 'fast-check'
import type { CodecError } from '../../../../protocol/wire/codec-error.js'
import {
  TX_BYTES,
  TX_UNSIGNED_BYTES,
  TX_VERSION,
  ZERO_ADDRESS,
  ZERO_SIGNATURE,
  decodeTx,
  encodeTx,
  isRewardForm,
  txId,
  txSigningMessage,
  type Transaction,
} from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair, verify } from '../../../../protocol/chain/keys.js'
import { checkTransferSanity } from '../../../../node/chain/validation.js'
import { testNetwork, transfer } from '../../../../bench/lib/fixtures.js'

const MAX = Number.MAX_SAFE_INTEGER
const u64 = fc.oneof(fc.integer({ min: 0, max: MAX }), fc.constantFrom(0, 1, 0xffffffff, 0x1_0000_0000, MAX))
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b))
const txArb: fc.Arbitrary<Transaction> = fc.record({
  from: bytes(33),
  to: bytes(33),
  amount: u64,
  nonce: u64,
  timestamp: u64,
  signature: bytes(64),
})

const sample = (): Transaction => ({
  from: Buffer.alloc(33, 2),
  to: Buffer.alloc(33, 3),
  amount: 5,
  nonce: 7,
  timestamp: 1_700_000_000_000,
  signature: Buffer.alloc(64, 9),
})

const codec = (code: CodecError['code']) => ({ name: 'CodecError', code })

t.test('encode/decode round trip (property)', async (t) => {
  fc.assert(
    fc.property(txArb, (tx) => {
      const enc = encodeTx(tx)
      const dec = decodeTx(enc)
      return (
        enc.length === TX_BYTES &&
        dec.from.equals(tx.from) &&
        dec.to.equals(tx.to) &&
        dec.amount === tx.amount &&
        dec.nonce === tx.nonce &&
        dec.timestamp === tx.timestamp &&
        dec.signature.equals(tx.signature) &&
        encodeTx(dec).equals(enc)
      )
    }),
  )
  t.pass('round trips')
})

t.test('exact layout: 155 bytes, version, fields big-endian at fixed offsets', async (t) => {
  const tx = { ...sample(), amount: 0x0102030405, nonce: 0x1fffffffffffff, timestamp: 258 }
  const enc = encodeTx(tx)
  t.equal(TX_BYTES, 155)
  t.equal(TX_UNSIGNED_BYTES, 91)
  t.equal(enc.length, 155)
  t.equal(enc[0], TX_VERSION)
  t.same(enc.subarray(1, 34), tx.from)
  t.same(enc.subarray(34, 67), tx.to)
  t.equal(enc.subarray(67, 75).toString('hex'), '0000000102030405')
  t.equal(enc.subarray(75, 83).toString('hex'), '001fffffffffffff')
  t.equal(enc.subarray(83, 91).toString('hex'), '0000000000000102')
  t.same(enc.subarray(91), tx.signature)
})

t.test('decode refuses wrong lengths', async (t) => {
  const enc = encodeTx(sample())
  t.throws(() => decodeTx(enc.subarray(0, 154)), codec('BAD_LENGTH'), '154 bytes')
  t.throws(() => decodeTx(Buffer.concat([enc, Buffer.from([0])])), codec('BAD_LENGTH'), '156 bytes')
  t.throws(() => decodeTx(Buffer.alloc(0)), codec('BAD_LENGTH'), 'empty')
})

t.test('decode refuses other versions', async (t) => {
  for (const v of [0, 2, 255]) {
    const enc = encodeTx(sample())
    enc[0] = v
    t.throws(() => decodeTx(enc), codec('BAD_VERSION'), `version ${v}`)
  }
})

t.test('decode refuses u64 fields above 2^53-1, accepts 2^53-1', async (t) => {
  for (const [name, off] of [
    ['amount', 67],
    ['nonce', 75],
    ['timestamp', 83],
  ] as const) {
    const enc = encodeTx({ ...sample(), [name]: MAX })
    t.equal(decodeTx(enc)[name], MAX, `${name} = 2^53-1 decodes`)
    enc.writeUInt32BE(0x200000, off) // 2^53
    t.throws(() => decodeTx(enc), codec('BAD_INTEGER'), `${name} = 2^53`)
    enc.writeUInt32BE(0xffffffff, off)
    t.throws(() => decodeTx(enc), codec('BAD_INTEGER'), `${name} = 2^64-1`)
  }
})

t.test('encode refuses malformed fields instead of writing garbage', async (t) => {
  const cases: Array<[string, Partial<Transaction>, CodecError['code']]> = [
    ['short from', { from: Buffer.alloc(32) }, 'BAD_FIELD'],
    ['long to', { to: Buffer.alloc(34) }, 'BAD_FIELD'],
    ['short signature', { signature: Buffer.alloc(63) }, 'BAD_FIELD'],
    ['negative amount', { amount: -1 }, 'BAD_INTEGER'],
    ['fractional nonce', { nonce: 1.5 }, 'BAD_INTEGER'],
    ['nonce 2^53', { nonce: 2 ** 53 }, 'BAD_INTEGER'],
    ['NaN timestamp', { timestamp: NaN }, 'BAD_INTEGER'],
  ]
  for (const [label, patch, code] of cases) {
    t.throws(() => encodeTx({ ...sample(), ...patch }), codec(code), label)
    if (!('signature' in patch))
      t.throws(() => txSigningMessage('net', { ...sample(), ...patch }), codec(code), `${label} (signing message)`)
  }
})

t.test('decoded fields are copies, not views of the input', async (t) => {
  const enc = encodeTx(sample())
  const dec = decodeTx(enc)
  enc.fill(0xee, 1)
  t.same(dec.from, Buffer.alloc(33, 2))
  t.same(dec.signature, Buffer.alloc(64, 9))
})

t.test('txId changes with every field, signature included (property)', async (t) => {
  const fields = ['from', 'to', 'amount', 'nonce', 'timestamp', 'signature'] as const
  fc.assert(
    fc.property(txArb, fc.constantFrom(...fields), fc.nat(), (tx, field, r) => {
      const changed: Transaction = { ...tx }
      if (field === 'amount' || field === 'nonce' || field === 'timestamp') changed[field] = (tx[field] + 1 + (r % 1000)) % (MAX + 1)
      else {
        const b = Buffer.from(tx[field])
        b[r % b.length] = b[r % b.length]! ^ 1
        changed[field] = b
      }
      return !txId(changed).equals(txId(tx)) && txId({ ...tx }).equals(txId(tx))
    }),
  )
  t.pass('ids differ')
})

t.test('signing message: tag, network id, unsigned bytes; binds every unsigned field', async (t) => {
  const tx = sample()
  const msg = txSigningMessage('bkc-test', tx)
  t.equal(msg.subarray(0, 9).toString('ascii'), 'bkc-tx-v1')
  t.equal(msg[9], 8)
  t.equal(msg.subarray(10, 18).toString('utf8'), 'bkc-test')
  t.same(msg.subarray(18), encodeTx(tx).subarray(0, TX_UNSIGNED_BYTES))
  t.same(txSigningMessage('bkc-test', { ...tx, signature: Buffer.alloc(64, 1) }), msg, 'the signature is not signed')
  t.notSame(txSigningMessage('bkc-test', { ...tx, amount: 6 }), msg)
  t.notSame(txSigningMessage('bkc-tes', tx), msg)
  // A length prefix keeps "ab"+tx and "a"+"b…" apart.
  t.notSame(txSigningMessage('a', tx).subarray(9), txSigningMessage('ab', tx).subarray(9))
  t.throws(() => txSigningMessage('x'.repeat(256), tx), codec('BAD_FIELD'), 'network id of 256 bytes')
  t.equal(txSigningMessage('x'.repeat(255), tx).length, 9 + 1 + 255 + 91)
})

t.test('a signature made for one network fails on another', async (t) => {
  const alice = generateKeyPair()
  const bob = generateKeyPair()
  const main = testNetwork({ networkId: 'bkc-main' })
  const other = testNetwork({ networkId: 'bkc-other' })
  const tx = transfer(main, alice, bob.address, 10, 0)
  t.ok(verify(alice.address, txSigningMessage('bkc-main', tx), tx.signature))
  t.notOk(verify(alice.address, txSigningMessage('bkc-other', tx), tx.signature))
  t.doesNotThrow(() => checkTransferSanity(tx, main.networkId))
  t.throws(() => checkTransferSanity(tx, other.networkId), { name: 'ValidationError', code: 'BAD_SIGNATURE' })
})

t.test('reward form is exactly a zero sender', async (t) => {
  t.ok(isRewardForm({ ...sample(), from: ZERO_ADDRESS, signature: ZERO_SIGNATURE }))
  t.ok(isRewardForm({ ...sample(), from: Buffer.alloc(33) }), 'zero sender with a signature is still reward form (then refused)')
  const almost = Buffer.alloc(33)
  almost[32] = 1
  t.notOk(isRewardForm({ ...sample(), from: almost }))
})
