// PowProver: threads hash nonces until a record falls within the target of
// the challenge; a deadline, an abort, a newer find or close ends the search
// with null, promptly.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { proofRecord, recordDistance } from '../../../../protocol/chain/proof-record.js'
import { PowProver } from '../../../../node/validator/pow-prover.js'

const fingerprint = randomBytes(16)
const publicKey = Buffer.concat([Buffer.from([2]), randomBytes(32)])
// Each record is within 2^185 of a challenge with chance about 2^-6: found in a few batches.
const EASY = 1n << 185n
const IMPOSSIBLE = 1n
const code = (c: string) => ({ name: 'ProverError', code: c })
const far = () => ({ deadline: Date.now() + 60_000 })

/** Liveness bound only (not a speed assertion): rejects if the promise hangs. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, hang]).finally(() => clearTimeout(timer))
}

const prover = new PowProver({ fingerprint, publicKey, threads: 2 })
t.teardown(() => prover.close())

t.test('find returns a nonce whose record is within the target', async (t) => {
  await prover.ready()
  t.equal(prover.kind, 'pow')
  t.equal(prover.storedRecords, 0)
  for (let i = 0; i < 5; i++) {
    const challenge = randomBytes(32)
    const found = await within(prover.find(challenge, EASY, far()), 30_000, 'an easy find')
    if (found === null) return t.fail('an easy target was not met')
    t.same(found.record, proofRecord(fingerprint, publicKey, found.nonce), 'the record is the nonce’s')
    t.equal(found.distance, recordDistance(found.record, challenge))
    t.ok(found.distance < EASY, 'within the target')
    t.ok(Number.isSafeInteger(found.nonce) && found.nonce >= 0)
  }
})

t.test('an impossible target gives null at the deadline, and the threads are counted', async (t) => {
  const deadline = Date.now() + 300
  const found = await within(prover.find(randomBytes(32), IMPOSSIBLE, { deadline }), 10_000, 'a find with a deadline')
  t.equal(found, null)
  t.ok(Date.now() >= deadline, 'not before the deadline')
  t.ok(prover.hashRate > 0, 'hashRate counts what the threads hashed')
  t.ok(prover.recordsHashed > 0)
})

t.test('an abort ends a find with null', async (t) => {
  const ac = new AbortController()
  const pending = prover.find(randomBytes(32), IMPOSSIBLE, { ...far(), signal: ac.signal })
  setTimeout(() => ac.abort(), 100)
  t.equal(await within(pending, 10_000, 'an aborted find'), null)
  t.equal(await prover.find(randomBytes(32), EASY, { ...far(), signal: AbortSignal.abort() }), null, 'already aborted')
  t.equal(await prover.find(randomBytes(32), EASY, { deadline: Date.now() - 1 }), null, 'deadline already past')
  t.equal(await prover.find(randomBytes(32), 0n, far()), null, 'nothing is within 0')
})

t.test('a new find supersedes a pending one, which resolves null', async (t) => {
  const first = prover.find(randomBytes(32), IMPOSSIBLE, far())
  await new Promise((r) => setTimeout(r, 50))
  const challenge = randomBytes(32)
  const second = prover.find(challenge, EASY, far())
  t.equal(await within(first, 10_000, 'the superseded find'), null)
  const found = await within(second, 30_000, 'the newer find')
  t.ok(found !== null && recordDistance(found.record, challenge) < EASY, 'the newer find searches its own challenge')
})

t.test('a one-thread prover finds too', async (t) => {
  const one = new PowProver({ fingerprint, publicKey, threads: 1 })
  try {
    const challenge = randomBytes(32)
    const found = await within(one.find(challenge, EASY, far()), 30_000, 'a one-thread find')
    if (found === null) return t.fail('an easy target was not met')
    t.same(found.record, proofRecord(fingerprint, publicKey, found.nonce))
    t.ok(found.distance < EASY)
  } finally {
    await one.close()
  }
})

t.test('close ends a pending find with null, twice is fine, and later calls are refused', async (t) => {
  const p = new PowProver({ fingerprint, publicKey, threads: 2 })
  const pending = p.find(randomBytes(32), IMPOSSIBLE, far())
  await p.close()
  t.equal(await pending, null)
  await p.close()
  t.equal(p.hashRate, 0)
  await t.rejects(p.find(randomBytes(32), EASY, far()), code('CLOSED'))
  await t.rejects(p.ready(), code('CLOSED'))
})

t.test('bad options are refused with a clear error', async (t) => {
  const ok = { fingerprint, publicKey, threads: 1 }
  for (const threads of [0, -1, 1.5, 257, Number.NaN]) {
    t.throws(
      () => new PowProver({ ...ok, threads }),
      { ...code('INVALID_OPTIONS'), message: /threads must be an integer/ },
      `threads ${threads}`,
    )
  }
  t.throws(() => new PowProver({ ...ok, fingerprint: randomBytes(15) }), {
    ...code('INVALID_OPTIONS'),
    message: /fingerprint must be 16 bytes/,
  })
  t.throws(() => new PowProver({ ...ok, publicKey: randomBytes(32) }), {
    ...code('INVALID_OPTIONS'),
    message: /publicKey must be 33 bytes/,
  })
  t.throws(() => new PowProver(null as never), code('INVALID_OPTIONS'))
})

t.test('bad find arguments are refused', async (t) => {
  await t.rejects(prover.find(randomBytes(8), EASY, far()), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), -5n, far()), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), EASY, { deadline: Number.NaN }), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), EASY, { ...far(), signal: {} as AbortSignal }), code('INVALID_ARGUMENT'))
})
