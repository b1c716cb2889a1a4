// Proof-record hashing on one thread: records per second of RecordHasher
// (hashInto, and fillEntries writing 32-byte table/vault entries), of the
// generic blake3Small on the 57-byte input, and of two libraries on the same
// input: @noble/hashes (what proof records used before) and hash-wasm (a
// reused hasher: init/update/digest). Every contender's records are checked
// against proofRecord first, so speed is never reported for wrong hashes.
// Rounds are interleaved across contenders so that machine noise spreads over
// all of them; medians of the rounds, ratios against noble from the same run.
//
//   node dist/bench/blake3.js [--runs 5] [--scale 1]
import { randomBytes } from 'node:crypto'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { createBLAKE3 } from 'hash-wasm'
import {
  FINGERPRINT_BYTES,
  PUBLIC_KEY_BYTES,
  proofRecord,
  RECORD_ENTRY_BYTES,
  RECORD_HASH_BYTES,
  RecordHasher,
  recordInput,
} from '../protocol/chain/proof-record.js'
import { blake3Small } from '../protocol/wire/blake3.js'
import { writeU64 } from '../protocol/wire/bytes.js'
import { fmtInt, fmtRatio, intFlag, median, printHeader, printTable, timeSync } from './lib/harness.js'

const RUNS = intFlag('runs', 5)
const SCALE = intFlag('scale', 1)
/** One proof-of-space cup: 32,768 entries, a 1 MiB write. */
const CUP_ENTRIES = 32_768
const NONCE_OFFSET = FINGERPRINT_BYTES + PUBLIC_KEY_BYTES
const CHECK_NONCES = [0, 1, 255, 256, 0xffff_ffff, 0x1_0000_0000, 123_456_789_012, Number.MAX_SAFE_INTEGER]

interface Contender {
  name: string
  /** Records per round: sized so each round takes roughly 100-300 ms. */
  records: number
  /** Hashes records for nonces [first, first + count) and returns a byte of the last, so nothing is optimised away. */
  run(first: number, count: number): number
  /** The 24-byte record of one nonce, for the correctness check. */
  one(nonce: number): Buffer
  rates: number[]
}

async function main(): Promise<void> {
  const fingerprint = randomBytes(FINGERPRINT_BYTES)
  const publicKey = Buffer.concat([Buffer.from([0x02]), randomBytes(PUBLIC_KEY_BYTES - 1)])
  const hasher = new RecordHasher(fingerprint, publicKey)
  const input = recordInput(fingerprint, publicKey, 0)
  const out = Buffer.alloc(RECORD_HASH_BYTES)
  const cup = Buffer.alloc(CUP_ENTRIES * RECORD_ENTRY_BYTES)
  const wasm = await createBLAKE3()

  const viaInput = (hash: (bytes: Buffer) => Uint8Array) => ({
    run(first: number, count: number): number {
      for (let n = first; n < first + count; n++) {
        writeU64(input, n, NONCE_OFFSET)
        out.set(hash(input).subarray(0, RECORD_HASH_BYTES))
      }
      return out[0]!
    },
    one(nonce: number): Buffer {
      writeU64(input, nonce, NONCE_OFFSET)
      return Buffer.from(hash(input).subarray(0, RECORD_HASH_BYTES))
    },
  })

  const contenders: Contender[] = [
    {
      name: 'RecordHasher.hashInto (ours, used)',
      records: 2_000_000 * SCALE,
      run(first, count) {
        for (let n = first; n < first + count; n++) hasher.hashInto(n, out)
        return out[0]!
      },
      one(nonce) {
        hasher.hashInto(nonce, out)
        return Buffer.from(out)
      },
      rates: [],
    },
    {
      name: 'RecordHasher.fillEntries, 1 MiB cups (ours, used)',
      records: 64 * CUP_ENTRIES * SCALE,
      run(first, count) {
        for (let n = first; n < first + count; n += CUP_ENTRIES) hasher.fillEntries(n, CUP_ENTRIES, cup)
        return cup[0]!
      },
      one(nonce) {
        hasher.fillEntries(nonce, 1, cup)
        if (cup.readBigUInt64BE(RECORD_HASH_BYTES) !== BigInt(nonce)) throw new Error(`fillEntries wrote the wrong nonce for ${nonce}`)
        return Buffer.from(cup.subarray(0, RECORD_HASH_BYTES))
      },
      rates: [],
    },
    { name: 'blake3Small on the 57-byte input (ours, generic)', records: 1_000_000 * SCALE, ...viaInput(blake3Small), rates: [] },
    {
      name: 'hash-wasm createBLAKE3, reused hasher',
      records: 200_000 * SCALE,
      ...viaInput((bytes) => wasm.init().update(bytes).digest('binary')),
      rates: [],
    },
    { name: '@noble/hashes blake3', records: 30_000 * SCALE, ...viaInput((bytes) => nobleBlake3(bytes)), rates: [] },
  ]

  for (const c of contenders) {
    for (const nonce of CHECK_NONCES) {
      if (!c.one(nonce).equals(proofRecord(fingerprint, publicKey, nonce))) throw new Error(`${c.name}: wrong record for nonce ${nonce}`)
    }
  }

  printHeader(
    'BLAKE3 proof records (57-byte input, first 24 bytes), one thread',
    `${RUNS} interleaved rounds, nonces from 10^12 (the nonce's high word is live)`,
  )
  let sink = 0
  for (const c of contenders) sink ^= c.run(0, Math.min(c.records, CUP_ENTRIES * 4)) // warm-up: let V8 optimise before timing
  let first = 1_000_000_000_000 // nonces above 2^32, so the high word is live
  for (let r = 0; r < RUNS; r++) {
    for (const c of contenders) {
      const ms = timeSync(() => {
        sink ^= c.run(first, c.records)
      })
      c.rates.push((c.records / ms) * 1000)
      first += c.records
    }
  }

  const noble = median(contenders.at(-1)!.rates)
  printTable(
    ['contender', 'records/round', 'records/s (median)', 'min', 'max', 'vs noble'],
    contenders.map((c) => [
      c.name,
      fmtInt(c.records),
      fmtInt(median(c.rates)),
      fmtInt(Math.min(...c.rates)),
      fmtInt(Math.max(...c.rates)),
      fmtRatio(median(c.rates) / noble),
    ]),
  )
  if (sink === 0x1_0000) console.log('') // keeps `sink` live
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
