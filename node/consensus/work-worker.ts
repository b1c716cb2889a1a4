// Worker-thread entry for the nonce search (started by work-search.ts). Each job
// message scans a nonce range and answers once, tagged with the job's
// generation. The main thread stops a job by changing the shared generation
// word; the loop polls it every CHECK_EVERY hashes, so a stop takes effect
// within about a millisecond without needing this thread's event loop.
import { parentPort, workerData } from 'node:worker_threads'
import { hash as oneShotHash } from 'node:crypto'
import { hashMeetsTarget } from './pow.js'
import type { PowJobMessage, PowReplyMessage, PowWorkerData } from './work-search.js'

// ~1 ms of hashing between polls of the shared generation word and flushes of
// the shared hash counter: stops are prompt and the polling cost is negligible.
const CHECK_EVERY = 1024
const TWO_POW_32 = 0x1_0000_0000

if (parentPort === null) throw new Error('work-worker.ts must be started as a worker thread')
const port = parentPort
const { generation, hashCounter } = workerData as PowWorkerData

// Hashing: one-shot crypto.hash() with a 'binary' (latin1, one char per
// byte) digest. A Buffer digest allocates and collects a Buffer per hash,
// which costs more than the hash; a Hash object (createHash, or a midstate's
// copy()) dominates a 3-block SHA-256. bench:pow prints the comparison.
function scan(job: PowJobMessage): PowReplyMessage {
  const { gen, start, end } = job
  const target = Buffer.from(job.target.buffer, job.target.byteOffset, job.target.byteLength)
  const prefixLength = job.prefix.length
  const buf = Buffer.allocUnsafe(prefixLength + 8)
  buf.set(job.prefix, 0)
  const loOffset = prefixLength + 4
  buf.writeUInt32BE(Math.floor(start / TWO_POW_32), prefixLength)
  const target0 = target.readUInt32BE(0)

  let hashes = 0
  let nonce = start
  while (nonce < end) {
    if (Atomics.load(generation, 0) !== gen) return { gen, kind: 'stopped', hashes }
    const chunkEnd = Math.min(end, nonce + CHECK_EVERY)
    const chunkStart = nonce
    for (; nonce < chunkEnd; nonce++) {
      const lo = nonce >>> 0 // ToUint32 is exact modulo 2^32 for safe integers
      // The high word only changes when the low word wraps.
      if (lo === 0) buf.writeUInt32BE(nonce / TWO_POW_32, prefixLength)
      buf.writeUInt32BE(lo, loOffset)
      const h = oneShotHash('sha256', buf, 'binary')
      // Fast path on the first 4 bytes; nearly every hash is rejected here.
      const h0 = ((h.charCodeAt(0) << 24) | (h.charCodeAt(1) << 16) | (h.charCodeAt(2) << 8) | h.charCodeAt(3)) >>> 0
      if (h0 > target0) continue
      const digest = Buffer.from(h, 'latin1')
      if (h0 < target0 || hashMeetsTarget(digest, target)) {
        hashes += nonce - chunkStart + 1
        Atomics.add(hashCounter, 0, BigInt(nonce - chunkStart + 1))
        return { gen, kind: 'found', nonce, hash: digest, hashes }
      }
    }
    hashes += chunkEnd - chunkStart
    Atomics.add(hashCounter, 0, BigInt(chunkEnd - chunkStart))
  }
  return { gen, kind: 'exhausted', hashes }
}

port.on('message', (job: PowJobMessage) => {
  port.postMessage(scan(job))
})
