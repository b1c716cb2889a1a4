// Proof-of-space vault: build speed against the disk's own sequential write
// speed (1 MiB writes + fsync, same size, same directory, interleaved with
// the builds in this run) for both build paths (two phases: fill then sort;
// single-write passes within --memory), the fill phase with 0/1/2 hash threads, the
// record hashing rate that bounds the fill, and lookup latency over 1000
// random challenges. Files go to a temp dir that is removed at the end.
//   npm run bench:pos -- [--size 256M] [--threads 2] [--compare-size 32M] [--memory 256M] [--rounds 3] [--dir DIR]
import { randomBytes, randomFillSync } from 'node:crypto'
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { parseSize } from '../cli/validator/flags.js'
import { RECORD_ENTRY_BYTES, RecordHasher } from '../protocol/chain/proof-record.js'
import { buildVault, chooseBuild } from '../node/validator/pos-build.js'
import { fillEntries, type EntrySource } from '../node/validator/pos-hashing.js'
import { writeU64 } from '../protocol/wire/bytes.js'
import { VaultReader } from '../node/validator/pos-lookup.js'
import { paramsForDisk, vaultLayout, type VaultParams } from '../node/validator/pos-vault.js'

const MIB = 1024 * 1024
const LOOKUPS = 1000
const COMPARE_ROUNDS = 3
const identity = { fingerprint: randomBytes(16), publicKey: Buffer.concat([Buffer.from([2]), randomBytes(32)]) }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!
const mbps = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000)

function parseArgs(argv: string[]): { size: number; threads: number; compareSize: number; memory: number; rounds: number; dir: string } {
  const out = { size: 256 * MIB, threads: 2, compareSize: 32 * MIB, memory: 256 * MIB, rounds: 3, dir: tmpdir() }
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--size') out.size = parseSize('size')(value)
    else if (flag === '--compare-size') out.compareSize = parseSize('compare-size')(value)
    else if (flag === '--threads') out.threads = Number(value)
    else if (flag === '--memory') out.memory = parseSize('memory')(value)
    else if (flag === '--rounds') out.rounds = Number(value)
    else if (flag === '--dir') out.dir = value
    else throw new Error(`unknown flag ${flag}; flags: --size 256M --threads 2 --compare-size 32M --memory 256M --rounds 3 --dir DIR`)
  }
  return out
}

/** MiB/s writing `bytes` to a new file with 1 MiB writes, then fsync. */
async function sequentialWrite(path: string, bytes: number): Promise<number> {
  const buf = randomBytes(MIB)
  const started = performance.now()
  const h = await fsp.open(path, 'wx')
  try {
    for (let done = 0; done < bytes; done += MIB) await h.write(buf, 0, Math.min(MIB, bytes - done), done)
    await h.sync()
  } finally {
    await h.close()
  }
  const ms = performance.now() - started
  await fsp.unlink(path)
  return mbps(bytes, ms)
}

interface BuildTimes {
  fillMs: number
  sortMs: number
  totalMs: number
  hashesPerSecond: number
  /** The longest the event loop waited during the build. */
  maxStallMs: number
}

/** Random entries instead of records: the builder's I/O path alone, as if hashing were free. */
function randomSource(): EntrySource {
  return {
    depth: 2,
    fill: async (start, count) => {
      const out = randomFillSync(Buffer.allocUnsafeSlow(count * RECORD_ENTRY_BYTES))
      for (let i = 0; i < count; i++) writeU64(out, start + i, i * RECORD_ENTRY_BYTES + 24)
      return out
    },
    close: async () => {},
  }
}

async function timedBuild(
  path: string,
  params: VaultParams,
  threadsHash: number,
  makeSource?: () => EntrySource,
  memoryBytes = 0,
): Promise<BuildTimes> {
  let fillEnd = 0
  let hashes = 0
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const started = performance.now()
  await buildVault({
    path,
    identity,
    params,
    threadsHash,
    makeSource,
    memoryBytes,
    onProgress: (p) => {
      if (p.phase === 'fill') {
        fillEnd = performance.now()
        hashes = Math.max(hashes, p.hashesPerSecond)
      }
    },
  })
  const end = performance.now()
  delay.disable()
  return { fillMs: fillEnd - started, sortMs: end - fillEnd, totalMs: end - started, hashesPerSecond: hashes, maxStallMs: delay.max / 1e6 }
}

function hashRate(): number {
  const hasher = new RecordHasher(identity.fingerprint, identity.publicKey)
  const n = 200_000
  const out = Buffer.alloc(n * RECORD_ENTRY_BYTES)
  fillEntries(hasher, 0, 10_000, out) // warm up
  const started = performance.now()
  fillEntries(hasher, 0, n, out)
  return (n * 1000) / (performance.now() - started)
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const dir = mkdtempSync(join(args.dir, 'bkc-bench-pos-'))
  try {
    const params = paramsForDisk(args.size)
    const L = vaultLayout(params)
    const dataBytes = L.finalBytes - L.dataOffset
    console.log(`node ${process.version}, ${availableParallelism()} CPUs, vaults in ${dir}`)
    const rate = hashRate()
    console.log(
      `record hashing, this thread: ${(rate / 1e6).toFixed(2)} M records/s = ${mbps(rate * RECORD_ENTRY_BYTES, 1000).toFixed(1)} MB/s of entries`,
    )

    const compare = paramsForDisk(args.compareSize)
    const fills: Record<number, number[]> = { 0: [], 1: [], 2: [] }
    for (let round = 0; round < COMPARE_ROUNDS; round++) {
      for (const threads of [0, 1, 2]) {
        const path = join(dir, `compare-${threads}.vault`)
        const t = await timedBuild(path, compare, threads)
        rmSync(path)
        fills[threads]!.push(mbps(args.compareSize, t.fillMs))
      }
    }
    console.log(`fill phase of a ${args.compareSize / MIB} MiB vault by hash threads (median of ${COMPARE_ROUNDS}, interleaved):`)
    for (const threads of [0, 1, 2]) {
      console.log(`  threads_hash ${threads}${threads === 0 ? ' (main thread)' : ''}: ${median(fills[threads]!).toFixed(1)} MB/s`)
    }

    // Rounds of: sequential write, two-phase build, single-write build; ratios are taken within a round.
    const vault = join(dir, 'bench.vault')
    const rows: Array<{ seq: number; two: BuildTimes; one: BuildTimes }> = []
    for (let round = 0; round < args.rounds; round++) {
      const seq = await sequentialWrite(join(dir, 'seq.bin'), L.finalBytes)
      const two = await timedBuild(vault, params, args.threads, undefined, 0)
      rmSync(vault)
      const one = await timedBuild(vault, params, args.threads, undefined, args.memory)
      if (round + 1 < args.rounds) rmSync(vault)
      rows.push({ seq, two, one })
    }
    const plan = chooseBuild(L, { path: vault, identity, params, threadsHash: args.threads, memoryBytes: args.memory })
    console.log(
      `vault of ${dataBytes / MIB} MiB (${params.buckets} buckets × ${params.cupsPerBucket} cups × ${params.cupSize}), threads_hash ${args.threads}, ` +
        `median of ${args.rounds} interleaved rounds:`,
    )
    console.log(`  sequential write, 1 MiB + fsync: ${median(rows.map((r) => r.seq)).toFixed(1)} MB/s`)
    const report = (name: string, pick: (r: (typeof rows)[number]) => BuildTimes): void => {
      const t = { fillMs: median(rows.map((r) => pick(r).fillMs)), sortMs: median(rows.map((r) => pick(r).sortMs)) }
      const build = median(rows.map((r) => mbps(dataBytes, pick(r).totalMs)))
      const ratio = median(rows.map((r) => (100 * mbps(dataBytes, pick(r).totalMs)) / r.seq))
      const stall = Math.max(...rows.map((r) => pick(r).maxStallMs))
      console.log(
        `  ${name}: hashing ${(t.fillMs / 1000).toFixed(1)} s, sort+write ${(t.sortMs / 1000).toFixed(1)} s, ` +
          `build ${build.toFixed(1)} MB/s = ${ratio.toFixed(1)}% of sequential write; longest event-loop stall ${stall.toFixed(0)} ms`,
      )
    }
    report('two phases (fill, sort)', (r) => r.two)
    report(`single-write, memory ${args.memory / MIB} MiB (plan: ${plan.method}, ${plan.passes} pass(es))`, (r) => r.one)
    console.log(`  single-write / two phases: ${median(rows.map((r) => r.two.totalMs / r.one.totalMs)).toFixed(2)}×`)
    const seq = median(rows.map((r) => r.seq))
    console.log(
      `  two phases / hashing bound (${args.threads || 1} thread(s)): ${((100 * median(rows.map((r) => mbps(dataBytes, r.two.totalMs)))) / mbps(rate * RECORD_ENTRY_BYTES * Math.max(1, args.threads), 1000)).toFixed(1)}%`,
    )

    const ioPath = join(dir, 'io.vault')
    const io = await timedBuild(ioPath, params, 0, randomSource)
    rmSync(ioPath)
    const ioBuild = mbps(dataBytes, io.totalMs)
    console.log(`the same vault from random entries (hashing left out: the builder's I/O path alone):`)
    console.log(
      `  fill ${(io.fillMs / 1000).toFixed(1)} s (${mbps(dataBytes, io.fillMs).toFixed(1)} MB/s), sort ${(io.sortMs / 1000).toFixed(1)} s`,
    )
    console.log(
      `  build ${ioBuild.toFixed(1)} MB/s = ${((100 * ioBuild) / seq).toFixed(1)}% of sequential write (it writes every byte twice: fill, then sort)`,
    )
    console.log(`  longest event-loop stall ${io.maxStallMs.toFixed(0)} ms`)

    const reader = await VaultReader.open(vault)
    try {
      const times: number[] = []
      for (let i = 0; i < LOOKUPS; i++) {
        const c = randomBytes(32)
        const started = performance.now()
        reader.nearest(c)
        times.push(performance.now() - started)
      }
      console.log(
        `  lookup (${LOOKUPS} random challenges, page cache warm from the build): median ${median(times).toFixed(3)} ms, p99 ${quantile(times, 0.99).toFixed(3)} ms`,
      )
    } finally {
      await reader.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
