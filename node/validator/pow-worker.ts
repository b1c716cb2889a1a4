// Worker-thread entry of the proof-of-work prover (started by pow-prover.ts).
// Each find message hashes a nonce range in batches and answers once, tagged
// with the find's generation. Between batches the loop polls the shared
// generation word, so a stop takes effect without this thread's event loop.
import { parentPort, workerData } from 'node:worker_threads'
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, RecordHasher, recordDistance } from '../../protocol/chain/proof-record.js'
import { fillEntries } from './pom-table.js'
import { top52 } from './pow-filter.js'
import type { PowFindMessage, PowFindReply, PowWorkerData } from './pow-prover.js'

// Small enough that a stop lands within a fraction of a millisecond even
// with a slow hash; large enough that polling and counting cost nothing.
const BATCH = 256
const BATCH_BIG = BigInt(BATCH)

if (parentPort === null) throw new Error('pow-worker.ts must be started as a worker thread')
const port = parentPort
const { fingerprint, publicKey, generation, hashCounter } = workerData as PowWorkerData
const hasher = new RecordHasher(fingerprint, publicKey)
const batch = new Uint8Array(BATCH * RECORD_ENTRY_BYTES)

function scan(job: PowFindMessage): PowFindReply {
  const { gen, challenge, target, limit, end } = job
  const c52 = top52(challenge, 0)
  for (let nonce = job.start; nonce < end; nonce += BATCH) {
    if (Atomics.load(generation, 0) !== gen) return { gen, kind: 'stopped' }
    const count = Math.min(BATCH, end - nonce)
    fillEntries(hasher, nonce, count, batch, 0)
    for (let i = 0, o = 0; i < count; i++, o += RECORD_ENTRY_BYTES) {
      const d = top52(batch, o) - c52
      if (d > limit || d < -limit) continue
      const record = batch.subarray(o, o + RECORD_HASH_BYTES)
      if (recordDistance(record, challenge) < target) {
        Atomics.add(hashCounter, 0, BigInt(i + 1))
        return { gen, kind: 'found', nonce: nonce + i, record: new Uint8Array(record) }
      }
    }
    Atomics.add(hashCounter, 0, count === BATCH ? BATCH_BIG : BigInt(count))
  }
  return { gen, kind: 'exhausted' }
}

port.on('message', (job: PowFindMessage) => {
  port.postMessage(scan(job))
})
