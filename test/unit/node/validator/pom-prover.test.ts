// PomProver: builds a sorted table of the records of nonces 0 … N-1 with its
// threads, and answers a challenge at once with the nearest record, if it is
// within the target.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { proofRecord, RECORD_ENTRY_BYTES, RECORD_HASH_BYTES } from '../../../../protocol/chain/proof-record.js'
import { formatSize, MIN_TABLE_BYTES, type PomProgress, PomProver, pomBuildLine } from '../../../../node/validator/pom-prover.js'
import { isSortedTable } from '../../../../node/validator/sorted-table.js'

const fingerprint = randomBytes(16)
const publicKey = Buffer.concat([Buffer.from([3]), randomBytes(32)])
const MEMORY = 1 << 20
const N = MEMORY / RECORD_ENTRY_BYTES
const far = () => ({ deadline: Date.now() + 60_000 })
const code = (c: string) => ({ name: 'ProverError', code: c })
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))

const progress: PomProgress[] = []
const prover = new PomProver({ fingerprint, publicKey, memoryBytes: MEMORY, threads: 2, onProgress: (p) => progress.push(p) })
t.teardown(() => prover.close())

t.test('find before the table is built is refused', async (t) => {
  await t.rejects(prover.find(randomBytes(32), 1n << 192n, far()), code('NOT_READY'))
  t.equal(prover.storedRecords, 0)
})

t.test('ready builds a sorted table of exactly the records of nonces 0 … N-1', async (t) => {
  await Promise.all([prover.ready(), prover.ready()]) // one build for both
  await prover.ready()
  const table = prover.entries!
  t.equal(table.length, MEMORY)
  t.equal(prover.storedRecords, N)
  t.ok(isSortedTable(table), 'sorted by record, then nonce')
  const seen = new Uint8Array(N)
  const buf = Buffer.from(table.buffer, table.byteOffset, table.length)
  for (let o = 0; o < MEMORY; o += RECORD_ENTRY_BYTES) {
    const nonce = buf.readUInt32BE(o + 24) * 2 ** 32 + buf.readUInt32BE(o + 28)
    if (nonce >= N || seen[nonce]) return t.fail(`nonce ${nonce} is out of range or repeated`)
    seen[nonce] = 1
  }
  t.pass('every nonce 0 … N-1 once')
  for (let i = 0; i < 500; i++) {
    const o = Math.floor(Math.random() * N) * RECORD_ENTRY_BYTES
    const nonce = buf.readUInt32BE(o + 28)
    if (!proofRecord(fingerprint, publicKey, nonce).equals(buf.subarray(o, o + RECORD_HASH_BYTES)))
      return t.fail(`entry at ${o} is not nonce ${nonce}'s record`)
  }
  t.pass('500 sampled entries hold their nonce’s record')
})

t.test('the build reports its timings and progress', async (t) => {
  const stats = prover.buildStats!
  t.equal(stats.records, N)
  t.equal(stats.bytes, MEMORY)
  t.ok(stats.genMs > 0 && stats.partitionMs >= 0 && stats.sortMs >= 0)
  t.equal(stats.orgMs, stats.partitionMs + stats.sortMs)
  t.equal(stats.totalMs, stats.genMs + stats.orgMs)
  t.ok(stats.mbPerSec > 0)
  t.match(pomBuildLine(stats), /^gen\/org 1MB hashes \(\d+\.\d{3} sec ~ \d+\.\d{2} MB\/s\)$/)
  t.same(
    progress.filter((p) => p.done === N),
    [
      { phase: 'gen', done: N, total: N },
      { phase: 'org', done: N, total: N },
    ],
  )
  t.equal(prover.hashRate, 0, 'no hashing once built')
})

t.test('find returns the nearest record when it is within the target, else null', async (t) => {
  const table = Buffer.from(prover.entries!)
  const records: bigint[] = []
  for (let o = 0; o < MEMORY; o += RECORD_ENTRY_BYTES) records.push(big(table.subarray(o, o + RECORD_HASH_BYTES)))
  const challenges = [Buffer.alloc(32), Buffer.alloc(32, 0xff), table.subarray(0, 24), ...Array.from({ length: 30 }, () => randomBytes(32))]
  for (const challenge of challenges) {
    const c = big(challenge.subarray(0, 24))
    let nearest = 1n << 200n
    for (const r of records) {
      const d = r > c ? r - c : c - r
      if (d < nearest) nearest = d
    }
    const found = await prover.find(challenge, 1n << 192n, far())
    if (found === null || found.distance !== nearest) return t.fail(`challenge ${challenge.toString('hex')}: not the nearest`)
    if (!proofRecord(fingerprint, publicKey, found.nonce).equals(found.record)) return t.fail('the record is not the nonce’s')
    if ((await prover.find(challenge, nearest, far())) !== null) return t.fail('a target equal to the distance must miss')
    const hit = await prover.find(challenge, nearest + 1n, far())
    if (hit?.distance !== nearest) return t.fail('a target just above the distance must hit')
  }
  t.pass(`${challenges.length} challenges, the ends of the table included`)
  t.equal(await prover.find(randomBytes(32), 0n, far()), null, 'nothing is within 0')
  t.equal(await prover.find(randomBytes(32), 1n << 192n, { deadline: Date.now() - 1 }), null, 'past the deadline')
  t.equal(await prover.find(randomBytes(32), 1n << 192n, { deadline: Date.now() + 1000, signal: AbortSignal.abort() }), null, 'aborted')
})

t.test('bad find arguments are refused', async (t) => {
  await t.rejects(prover.find(randomBytes(23), 1n, far()), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), -1n, far()), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), 5 as unknown as bigint, far()), code('INVALID_ARGUMENT'))
  await t.rejects(prover.find(randomBytes(32), 1n, {} as never), code('INVALID_ARGUMENT'))
})

t.test('bad options are refused with a clear error', async (t) => {
  const ok = { fingerprint, publicKey, memoryBytes: MEMORY, threads: 1 }
  t.throws(() => new PomProver({ ...ok, memoryBytes: MEMORY + 1 }), {
    ...code('INVALID_OPTIONS'),
    message: /multiple|whole number of 32-byte entries/,
  })
  t.throws(() => new PomProver({ ...ok, memoryBytes: MIN_TABLE_BYTES - 32 }), { ...code('INVALID_OPTIONS'), message: /at least 32768/ })
  t.throws(() => new PomProver({ ...ok, memoryBytes: Number.NaN }), code('INVALID_OPTIONS'))
  t.throws(() => new PomProver({ ...ok, threads: 0 }), { ...code('INVALID_OPTIONS'), message: /threads/ })
  t.throws(() => new PomProver({ ...ok, fingerprint: fingerprint.subarray(1) }), { ...code('INVALID_OPTIONS'), message: /fingerprint/ })
  t.throws(() => new PomProver({ ...ok, memoryBytes: 2 ** 52 }), { ...code('NO_MEMORY'), message: /more than this machine's RAM/ })
  t.doesNotThrow(() => new PomProver({ ...ok, memoryBytes: MIN_TABLE_BYTES }))
})

t.test('close stops a build in progress, and twice is fine', async (t) => {
  const p = new PomProver({ fingerprint, publicKey, memoryBytes: 64 << 20, threads: 2 })
  const building = t.rejects(p.ready(), code('CLOSED'))
  await new Promise((r) => setTimeout(r, 200))
  await p.close()
  await building
  await p.close()
  await t.rejects(p.ready(), code('CLOSED'))
  await t.rejects(p.find(randomBytes(32), 1n, far()), code('CLOSED'))
  t.equal(p.storedRecords, 0)
})

t.test('sizes are written as DSC writes them', async (t) => {
  t.equal(formatSize(2 ** 30), '1GB')
  t.equal(formatSize(256 * 2 ** 20), '256MB')
  t.equal(formatSize(32 * 1024), '32KB')
  t.equal(formatSize(1.5 * 2 ** 20 + 32), '1.5MB')
})
