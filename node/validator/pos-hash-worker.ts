// Worker-thread entry of the vault builder's hashing (started by
// pos-hashing.ts): each request is a range of nonces, answered with their
// entries in a transferred buffer.
import { parentPort, workerData } from 'node:worker_threads'
import { RECORD_ENTRY_BYTES, RecordHasher } from '../../protocol/chain/proof-record.js'
import { fillEntries, type HashReply, type HashRequest, type HashWorkerData } from './pos-hashing.js'

if (parentPort === null) throw new Error('pos-hash-worker.ts must be started as a worker thread')
const port = parentPort
const { fingerprint, publicKey } = workerData as HashWorkerData
const hasher = new RecordHasher(fingerprint, publicKey)

port.on('message', (req: HashRequest) => {
  let reply: HashReply
  try {
    const out = Buffer.alloc(req.count * RECORD_ENTRY_BYTES)
    fillEntries(hasher, req.start, req.count, out)
    reply = { id: req.id, entries: out }
    port.postMessage(reply, [out.buffer as ArrayBuffer])
  } catch (err) {
    reply = { id: req.id, error: (err as Error).message }
    port.postMessage(reply)
  }
})
