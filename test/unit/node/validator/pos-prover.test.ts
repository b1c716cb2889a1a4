// PosProver: ready() builds or opens the vault, find() answers with the
// nearest record when it is within the target, and close() is final.
import t from 'tap'
import { proofRecord, recordDistance } from '../../../../protocol/chain/proof-record.js'
import { PosProver, type PosProverOptions } from '../../../../node/validator/pos-prover.js'
import type { BuildProgress } from '../../../../node/validator/pos-progress.js'
import { IDENTITY, OTHER_IDENTITY, TINY, vaultPath } from './pos-fixtures.js'

const proverOptions = (vaultPath: string, extra: Partial<PosProverOptions> = {}): PosProverOptions => ({
  vaultPath,
  fingerprint: IDENTITY.fingerprint,
  publicKey: IDENTITY.publicKey,
  ...TINY,
  threadsHash: 0,
  ...extra,
})
const farFuture = { deadline: Date.now() + 60_000 }

t.test('ready builds the vault; find answers within the target only', async (t) => {
  const path = vaultPath(t)
  const phases = new Set<string>()
  const prover = new PosProver(proverOptions(path, { onProgress: (p: BuildProgress) => phases.add(p.phase) }))
  t.teardown(() => prover.close())
  t.equal(prover.kind, 'pos')
  await t.rejects(prover.find(Buffer.alloc(32), 1n, farFuture), /not ready: await ready\(\) first/)
  await Promise.all([prover.ready(), prover.ready()])
  t.same([...phases].sort(), ['done', 'fill', 'sort'])
  t.equal(prover.storedRecords, 4096)
  t.equal(prover.hashRate, 0, 'no hashing once built')
  const challenge = Buffer.alloc(32, 0x42)
  const best = await prover.find(challenge, 2n ** 192n, farFuture)
  t.ok(best)
  t.ok(best!.record.equals(proofRecord(IDENTITY.fingerprint, IDENTITY.publicKey, best!.nonce)))
  t.equal(best!.distance, recordDistance(best!.record, challenge))
  t.same(await prover.find(challenge, best!.distance + 1n, farFuture), best, 'just within the target')
  t.equal(await prover.find(challenge, best!.distance, farFuture), null, 'distance must be below the target')
  const ac = new AbortController()
  ac.abort()
  t.equal(await prover.find(challenge, 2n ** 192n, { ...farFuture, signal: ac.signal }), null, 'an aborted search finds nothing')
})

t.test('a second prover opens the finished vault without rebuilding', async (t) => {
  const path = vaultPath(t)
  const first = new PosProver(proverOptions(path))
  await first.ready()
  await first.close()
  let calls = 0
  const second = new PosProver(proverOptions(path, { onProgress: () => calls++ }))
  await second.ready()
  t.equal(calls, 0)
  t.equal(second.storedRecords, 4096)
  await second.close()
  await second.close()
  await t.rejects(second.ready(), /closed/)
  await t.rejects(second.find(Buffer.alloc(32), 1n, farFuture), /closed/)
})

t.test("another identity's vault is refused", async (t) => {
  const path = vaultPath(t)
  const mine = new PosProver(proverOptions(path))
  await mine.ready()
  await mine.close()
  const theirs = new PosProver(proverOptions(path, { fingerprint: OTHER_IDENTITY.fingerprint }))
  await t.rejects(theirs.ready(), /refusing to use or overwrite it/)
  await theirs.close()
})

t.test('close during the build stops it at a checkpoint; a new prover resumes', async (t) => {
  const path = vaultPath(t)
  let prover: PosProver | null = null
  let closing: Promise<void> | null = null
  prover = new PosProver(
    proverOptions(path, {
      onProgress: (p) => {
        if (p.phase === 'fill' && closing === null) closing = prover!.close()
      },
    }),
  )
  await t.rejects(prover.ready(), /closed/)
  await closing
  const again = new PosProver(proverOptions(path))
  await again.ready()
  t.equal(again.storedRecords, 4096)
  await again.close()
})

t.test('bad identities are refused at construction', async (t) => {
  t.throws(() => new PosProver(proverOptions('/nonexistent', { fingerprint: Buffer.alloc(15) })), /fingerprint must be 16 bytes/)
  t.throws(() => new PosProver(proverOptions('/nonexistent', { publicKey: Buffer.alloc(32) })), /public key must be 33 bytes/)
})
