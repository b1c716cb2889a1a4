// Worker-thread entry of the proof-of-memory table build (started by
// pom-prover.ts): runs one step of pom-table.ts on its part of the shared
// table per message and answers when done. Progress goes to shared counters.
import { parentPort, workerData } from 'node:worker_threads'
import { RECORD_ENTRY_BYTES, RecordHasher } from '../../protocol/chain/proof-record.js'
import { fillEntries, partitionEntries, sortEntries } from './pom-table.js'
import type { PomTask, PomTaskReply, PomWorkerData } from './pom-prover.js'

/** Entries between progress updates. */
const FILL_CHUNK = 4096

if (parentPort === null) throw new Error('pom-worker.ts must be started as a worker thread')
const port = parentPort
const { table, progress, fingerprint, publicKey } = workerData as PomWorkerData
const entries = new Uint8Array(table)
const hasher = new RecordHasher(fingerprint, publicKey)

function run(task: PomTask): PomTaskReply {
  switch (task.kind) {
    case 'fill':
      for (let n = task.from; n < task.to; n += FILL_CHUNK) {
        const count = Math.min(FILL_CHUNK, task.to - n)
        fillEntries(hasher, n, count, entries, n * RECORD_ENTRY_BYTES)
        Atomics.add(progress, 0, BigInt(count))
      }
      return { kind: 'filled' }
    case 'partition':
      return { kind: 'partitioned', bounds: partitionEntries(entries, task.from, task.to, 0) }
    case 'sort':
      for (let b = 0; b + 1 < task.bounds.length; b++) {
        sortEntries(entries, task.bounds[b]!, task.bounds[b + 1]!, task.depth)
        Atomics.add(progress, 1, BigInt(task.bounds[b + 1]! - task.bounds[b]!))
      }
      return { kind: 'sorted' }
  }
}

port.on('message', (task: PomTask) => {
  port.postMessage(run(task))
})
