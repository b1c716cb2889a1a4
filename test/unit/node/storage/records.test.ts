// The chain store's fixed-size records: what the node writes reads back
// exactly, and bytes it cannot have written are a typed error naming the
// record, never a default value.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { CorruptRecordError, decodeAccount, decodeUndo, encodeAccount, encodeUndo } from '../../../../node/storage/records.js'
import type { BlockUndo } from '../../../../node/chain/state.js'

const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const account = fc.record({ balance: u53, nonce: u53 })
const address = fc.uint8Array({ minLength: 33, maxLength: 33 }).map((b) => Buffer.from(b).toString('hex'))

/** 16 account bytes with the given big-endian u64 words (as bigints, so any u64 fits). */
function rawAccount(balance: bigint, nonce: bigint): Buffer {
  const b = Buffer.alloc(16)
  b.writeBigUInt64BE(balance, 0)
  b.writeBigUInt64BE(nonce, 8)
  return b
}

/** The error `fn` throws, or undefined. */
function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

function throwsCorrupt(t: Test, fn: () => unknown, record: string, what: string): void {
  const err = caught(fn)
  t.ok(err instanceof CorruptRecordError, `${what}: CorruptRecordError (${String(err)})`)
  t.equal((err as CorruptRecordError).record, record, `${what}: names the record`)
  t.match((err as Error).message, record, `${what}: the message names it too`)
}

t.test('every account with safe-integer balance and nonce round-trips', async (t) => {
  fc.assert(
    fc.property(account, (a) => {
      const bytes = encodeAccount(a)
      return bytes.length === 16 && JSON.stringify(decodeAccount(bytes)) === JSON.stringify(a)
    }),
  )
  t.same(decodeAccount(encodeAccount({ balance: Number.MAX_SAFE_INTEGER, nonce: 0 })), { balance: Number.MAX_SAFE_INTEGER, nonce: 0 })
})

t.test('a stored balance or nonce above 2^53-1 is a CorruptRecordError naming the record, not 0', async (t) => {
  const above = fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: 2n ** 64n - 1n })
  fc.assert(
    fc.property(above, fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }), (big, ok) => {
      for (const bytes of [rawAccount(big, ok), rawAccount(ok, big)]) {
        try {
          decodeAccount(bytes, 'account 02ff')
          return false
        } catch (err) {
          if (!(err instanceof CorruptRecordError) || err.record !== 'account 02ff') return false
        }
      }
      return true
    }),
  )
  throwsCorrupt(
    t,
    () => decodeAccount(rawAccount(2n ** 63n, 0n), 'account 03aa'),
    'account 03aa',
    'a balance with the top bit set (negative as i64)',
  )
  throwsCorrupt(t, () => decodeAccount(rawAccount(0n, 2n ** 64n - 1n), 'account 03aa'), 'account 03aa', 'an all-ones nonce')
  throwsCorrupt(t, () => decodeAccount(rawAccount(2n ** 53n, 1n)), 'account record', 'the default record name when none is given')
})

t.test('truncated or oversized account bytes are a CorruptRecordError', async (t) => {
  const good = encodeAccount({ balance: 20, nonce: 3 })
  for (const len of [0, 1, 8, 15]) throwsCorrupt(t, () => decodeAccount(good.subarray(0, len), 'account x'), 'account x', `${len} bytes`)
  throwsCorrupt(t, () => decodeAccount(Buffer.concat([good, Buffer.from([0])]), 'account x'), 'account x', '17 bytes')
})

t.test('encodeAccount refuses values it could not read back', async (t) => {
  for (const bad of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => encodeAccount({ balance: bad, nonce: 0 }), RangeError, `balance ${bad}`)
    t.throws(() => encodeAccount({ balance: 0, nonce: bad }), RangeError, `nonce ${bad}`)
  }
})

t.test('undo data round-trips; damaged undo bytes are a CorruptRecordError', async (t) => {
  const undo: fc.Arbitrary<BlockUndo> = fc.array(fc.tuple(address, fc.option(account, { nil: null })), { maxLength: 20 })
  fc.assert(fc.property(undo, (u) => JSON.stringify(decodeUndo(encodeUndo(u))) === JSON.stringify(u)))

  const good = encodeUndo([['02'.padEnd(66, '1'), { balance: 5, nonce: 1 }]])
  throwsCorrupt(t, () => decodeUndo(good.subarray(0, good.length - 1), 'undo U'), 'undo U', 'one byte short')
  throwsCorrupt(t, () => decodeUndo(Buffer.alloc(2), 'undo U'), 'undo U', 'shorter than the count')
  const badFlag = Buffer.from(good)
  badFlag[4 + 33] = 7
  throwsCorrupt(t, () => decodeUndo(badFlag, 'undo U'), 'undo U', 'an existence flag other than 0 or 1')
  const hugeBalance = Buffer.from(good)
  hugeBalance.fill(0xff, 4 + 34, 4 + 42)
  const err = caught(() => decodeUndo(hugeBalance, 'undo U'))
  t.ok(err instanceof CorruptRecordError, `an out-of-range account inside undo data is a CorruptRecordError (${String(err)})`)
  t.match((err as CorruptRecordError).record, /^undo U \(entry 0, account 02/, 'naming the undo record and the entry')
})
