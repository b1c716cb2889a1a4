// Proof-of-work throughput: the hashing strategies compared in-thread, then
// PowSearcher with 1 and 2 threads (median of 5 runs of ~2 s), and what that
// means in seconds per block. Runs in about 25 s.
// The 2/1-thread ratio is only meaningful on an otherwise idle machine; the
// 'cpu' column shows how many cores the threads actually got.
//   npx tsc -p tsconfig.json && node dist/bench/pow.js
import { createHash, hash as oneShotHash, randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { headerSize } from '../protocol/chain/block-codec.js'
import { WORK_PROOF_BYTES } from '../node/consensus/work.js'
import { PowSearcher } from '../node/consensus/work-search.js'
import { targetFromLeadingZeroBits, workForTarget } from '../node/consensus/pow.js'

const RUNS = 5
const RUN_MS = 2000
const STRATEGY_ROUNDS = 5
const STRATEGY_MS = 120
const IMPOSSIBLE = Buffer.alloc(32)

const HEADER_PREFIX_BYTES = headerSize(WORK_PROOF_BYTES) - WORK_PROOF_BYTES
const prefix = randomBytes(HEADER_PREFIX_BYTES)
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Hashes per second of one way to hash prefix‖nonce, in this thread. */
function strategyRate(hashOnce: (nonce: number) => unknown): number {
  let n = 0
  const start = performance.now()
  let now = start
  while (now - start < STRATEGY_MS) {
    for (let i = 0; i < 1000; i++) hashOnce(n++)
    now = performance.now()
  }
  return (n * 1000) / (now - start)
}

function compareStrategies(): void {
  const buf = Buffer.alloc(HEADER_PREFIX_BYTES + 8)
  prefix.copy(buf)
  const nonce = Buffer.alloc(8)
  const midstate = createHash('sha256').update(prefix)
  const lo = HEADER_PREFIX_BYTES + 4
  const strategies: [string, (n: number) => unknown][] = [
    [
      "one-shot crypto.hash, 'binary' (used)",
      (n) => {
        buf.writeUInt32BE(n >>> 0, lo)
        return oneShotHash('sha256', buf, 'binary')
      },
    ],
    [
      "one-shot crypto.hash, 'buffer'",
      (n) => {
        buf.writeUInt32BE(n >>> 0, lo)
        return oneShotHash('sha256', buf, 'buffer')
      },
    ],
    [
      "createHash().update(buf), 'binary'",
      (n) => {
        buf.writeUInt32BE(n >>> 0, lo)
        return createHash('sha256').update(buf).digest('binary')
      },
    ],
    [
      "midstate hash.copy(), 'binary'",
      (n) => {
        nonce.writeUInt32BE(n >>> 0, 4)
        return midstate.copy().update(nonce).digest('binary')
      },
    ],
    [
      'midstate hash.copy(), Buffer',
      (n) => {
        nonce.writeUInt32BE(n >>> 0, 4)
        return midstate.copy().update(nonce).digest()
      },
    ],
  ]
  for (const [, f] of strategies) strategyRate(f) // warm up the JIT
  // Interleaved rounds, so a burst of load elsewhere does not favour one.
  const rates = strategies.map((): number[] => [])
  for (let round = 0; round < STRATEGY_ROUNDS; round++) strategies.forEach(([, f], i) => rates[i]!.push(strategyRate(f)))
  console.log(`hashing strategies, ${HEADER_PREFIX_BYTES}-byte prefix, this thread (median of ${STRATEGY_ROUNDS}):`)
  strategies.forEach(([name], i) => console.log(`  ${name.padEnd(38)} ${fmt(median(rates[i]!)).padStart(12)} H/s`))
}

async function searcherRate(threads: number): Promise<number> {
  const searcher = new PowSearcher({ threads })
  try {
    // Warm-up: starts the threads and lets the JIT settle.
    await searcher.search({ prefix, target: IMPOSSIBLE, startNonce: 0, maxMs: 300 })
    const rates: number[] = []
    const cpuBefore = process.cpuUsage() // all threads of the process
    const wallBefore = performance.now()
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now()
      const r = await searcher.search({ prefix, target: IMPOSSIBLE, startNonce: run * 1e9, maxMs: RUN_MS })
      rates.push((r.hashes * 1000) / (performance.now() - start))
    }
    const cpu = process.cpuUsage(cpuBefore)
    // Cores actually obtained: below the thread count means other load took CPU.
    const cores = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)
    console.log(
      `  ${threads} thread${threads > 1 ? 's' : ' '}: median ${fmt(median(rates)).padStart(10)} H/s   ` +
        `runs: ${rates.map(fmt).join(', ')}   cpu: ${cores.toFixed(2)} cores (${fmt(median(rates) / cores)} H/s per core)`,
    )
    return median(rates)
  } finally {
    await searcher.close()
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${availableParallelism()} CPUs`)
  compareStrategies()
  console.log(`PowSearcher, ${RUNS} runs of ${RUN_MS} ms:`)
  const one = await searcherRate(1)
  const two = await searcherRate(2)
  console.log(`  2-thread / 1-thread: ${(two / one).toFixed(2)}`)
  console.log('expected seconds per block:')
  for (const bits of [16, 18, 20, 22]) {
    const work = Number(workForTarget(targetFromLeadingZeroBits(bits)))
    console.log(
      `  ${String(bits).padStart(2)} zero bits (${fmt(work).padStart(9)} hashes): ${(work / one).toFixed(3).padStart(8)} s at 1 thread, ${(work / two).toFixed(3).padStart(8)} s at 2`,
    )
  }
}

await main()
