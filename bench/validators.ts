// The DataSys Coin validators' provers: proof-of-work records/s with 1 and 2
// threads (median of 5 finds of 2 s that cannot succeed), the proof-of-memory
// table build at two sizes (hashing, then the in-place sort), and the time of
// one lookup (median over 10,000 random challenges). Runs in about a minute
// and a half while records are hashed with @noble/hashes.
// The 2/1-thread ratio is only meaningful on an otherwise idle machine; the
// 'cpu' column shows how many cores the threads actually got.
//   npm run bench:validators
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { PomProver, pomBuildLine } from '../node/validator/pom-prover.js'
import { PowProver } from '../node/validator/pow-prover.js'
import { SortedTable } from '../node/validator/sorted-table.js'

const RUNS = 5
const RUN_MS = 2000
const POM_THREADS = 2
const POM_SIZES_MIB = [64, 256]
const LOOKUPS = 10_000
const IMPOSSIBLE = 1n
const ANY = 1n << 192n

const fingerprint = randomBytes(16)
const publicKey = Buffer.concat([Buffer.from([2]), randomBytes(32)])
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function powRate(threads: number): Promise<number> {
  const prover = new PowProver({ fingerprint, publicKey, threads })
  try {
    await prover.ready()
    await prover.find(randomBytes(32), IMPOSSIBLE, { deadline: Date.now() + 300 }) // threads up, JIT warm
    const rates: number[] = []
    const cpuBefore = process.cpuUsage()
    const wallBefore = performance.now()
    for (let run = 0; run < RUNS; run++) {
      const before = prover.recordsHashed
      const start = performance.now()
      await prover.find(randomBytes(32), IMPOSSIBLE, { deadline: Date.now() + RUN_MS })
      // Threads count per batch of 256: the last partial batch is left out, a negligible share.
      rates.push(((prover.recordsHashed - before) * 1000) / (performance.now() - start))
    }
    const cpu = process.cpuUsage(cpuBefore)
    const cores = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)
    console.log(
      `  ${threads} thread${threads > 1 ? 's' : ' '}: median ${fmt(median(rates)).padStart(10)} records/s   ` +
        `runs: ${rates.map(fmt).join(', ')}   cpu: ${cores.toFixed(2)} cores (${fmt(median(rates) / cores)} records/s per core)`,
    )
    return median(rates)
  } finally {
    await prover.close()
  }
}

async function pomBuild(mib: number): Promise<void> {
  const prover = new PomProver({ fingerprint, publicKey, memoryBytes: mib * 2 ** 20, threads: POM_THREADS })
  try {
    await prover.ready()
    const s = prover.buildStats!
    const sec = (ms: number): string => (ms / 1000).toFixed(2).padStart(6)
    console.log(
      `  ${String(mib).padStart(4)} MiB, ${fmt(s.records).padStart(10)} records: gen ${sec(s.genMs)} s (${fmt((s.records * 1000) / s.genMs)} records/s)` +
        `   org ${sec(s.orgMs)} s (split ${sec(s.partitionMs)} s, sort ${sec(s.sortMs)} s)   total ${sec(s.totalMs)} s, ${s.mbPerSec.toFixed(2)} MB/s`,
    )
    console.log(`        ${pomBuildLine(s)}`)
    lookups(new SortedTable(prover.entries!))
    await lookupsViaFind(prover)
  } finally {
    await prover.close()
  }
}

function lookups(table: SortedTable): void {
  const challenges = Array.from({ length: LOOKUPS }, () => randomBytes(32))
  for (const c of challenges.slice(0, 1000)) table.nearest(c) // warm up
  const times = challenges.map((c) => {
    const start = process.hrtime.bigint()
    table.nearest(c)
    return Number(process.hrtime.bigint() - start) / 1000
  })
  console.log(`        SortedTable.nearest: median ${median(times).toFixed(2)} µs over ${fmt(LOOKUPS)} random challenges`)
}

async function lookupsViaFind(prover: PomProver): Promise<void> {
  const challenges = Array.from({ length: LOOKUPS }, () => randomBytes(32))
  const times: number[] = []
  for (const c of challenges) {
    const start = process.hrtime.bigint()
    await prover.find(c, ANY, { deadline: Date.now() + 1000 })
    times.push(Number(process.hrtime.bigint() - start) / 1000)
  }
  console.log(`        PomProver.find (awaited): median ${median(times).toFixed(2)} µs`)
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${availableParallelism()} CPUs`)
  console.log(`PowProver, ${RUNS} finds of ${RUN_MS} ms with an impossible target:`)
  const one = await powRate(1)
  const two = await powRate(2)
  console.log(`  2-thread / 1-thread: ${(two / one).toFixed(2)}`)
  console.log(`PomProver table build, ${POM_THREADS} threads:`)
  for (const mib of POM_SIZES_MIB) await pomBuild(mib)
}

await main()
