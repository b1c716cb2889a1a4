// Building a vault (format: pos-vault.ts), resumable at every checkpoint.
//
// Fill: consecutive nonces are hashed (pos-hashing.ts) and each entry goes
// to its bucket's cup buffer in memory; a full cup is one write at its place
// in the bucket's region; a full bucket drops further entries. Every round of
// about buckets × cupSize nonces ends in a checkpoint: all cup buffers
// written, data synced, then the progress record (next nonce, per-bucket
// counts) committed. A build that dies resumes from the last checkpoint: the
// entries a bucket holds are always the first ones (by nonce) that fall into
// it, so a resumed build writes exactly what a clean one would.
//
// Sort: bucket by bucket, read the region, sort it in memory (pos-sort.ts),
// write it to its final region, sync, commit. Then the spare region is cut
// off and the vault is 'done'.
//
// Passes (pos-plan.ts chooses them when a group of whole bucket regions fits
// `memoryBytes` and hashing is fast enough): for each group of buckets, hash
// nonces from 0 keeping the first `capacity` entries of each of its buckets in
// memory (the same entries a fill keeps), sort each bucket, write it once to
// its final region, sync, commit (phase 'pass', buckets done). An interrupted
// pass is hashed again. Memory: the group's regions (at most memoryBytes),
// plus one bucket's sort scratch and two output buffers as in the sort phase.
//
// Memory: the fill phase holds buckets × cupSize × 32 bytes of cup buffers
// plus (hash threads + 1) chunks of CHUNK_NONCES × 32 bytes in flight; the
// sort phase holds two regions (one sorting, one being read) plus about 14
// bytes per entry (pos-sort.ts) plus two 4 MiB output buffers. pos-vault.ts
// checkParams bounds both: cup buffers at most 1 GiB, a region at most
// 512 MiB (so the sort phase at most about 1.3 GiB).
import { promises as fsp } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { errno } from '../../lib/files.js'
import { RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'
import { MAX_SAFE_U64, toHex } from '../../protocol/wire/bytes.js'
import { RecordHasher } from '../../protocol/chain/proof-record.js'
import { entrySource, type EntrySource } from './pos-hashing.js'
import { etaSeconds, RateMeter, type BuildProgress } from './pos-progress.js'
import { fillEntries } from './pos-hashing.js'
import { groupBucketsFor, planBuild, type BuildPlan } from './pos-plan.js'
import { gatherEntries, sortedOrder } from './pos-sort.js'
import { VaultFile } from './pos-vault-file.js'
import { bucketOf, regionOffset, VaultFormatError, vaultLayout, type VaultIdentity, type VaultParams } from './pos-vault.js'

const E = RECORD_ENTRY_BYTES
/** Nonces per hashing request: big enough to amortise a worker round trip, small enough to keep the pipeline fed. */
export const CHUNK_NONCES = 16_384
const SORT_OUTPUT_BYTES = 4 * 1024 * 1024
const PROGRESS_EVERY_MS = 250
const YIELD_EVERY_MS = 20
/** Default memory for the bucket regions a single-write pass holds. */
export const DEFAULT_BUILD_MEMORY_BYTES = 256 * 1024 * 1024
/** Assumed disk write speed when the caller gives none (a SATA SSD). */
export const DEFAULT_WRITE_BYTES_PER_SECOND = 500e6

export interface BuildVaultOptions {
  path: string
  identity: VaultIdentity
  params: VaultParams
  /** Hash worker threads; 0 hashes in this thread between event-loop turns. Default 1. */
  threadsHash?: number
  /** Called at every fill checkpoint and after every sorted bucket, and at most every 250 ms in between. */
  onProgress?: (p: BuildProgress) => void
  /** Stops the build at the next chunk; the fill phase writes a checkpoint first. */
  signal?: AbortSignal
  /** Free bytes of the file system holding `dir` (default: fs.statfs). */
  freeBytes?: (dir: string) => Promise<number>
  /** Nonces per hashing request (default CHUNK_NONCES). */
  chunkNonces?: number
  /** Where entries come from (default: pos-hashing.ts entrySource); benchmarks swap it to time the I/O alone. */
  makeSource?: (id: VaultIdentity, threads: number) => EntrySource
  /** Memory for the bucket regions of a single-write pass (default 256 MiB); 0 always builds in two phases (fill, sort). */
  memoryBytes?: number
  /** The disk's write speed, for choosing passes or two phases (default DEFAULT_WRITE_BYTES_PER_SECOND). */
  writeBytesPerSecond?: number
}

export class VaultSpaceError extends Error {
  override name = 'VaultSpaceError'
  constructor(
    readonly path: string,
    readonly needed: number,
    readonly available: number,
  ) {
    super(
      `not enough disk space for the vault ${path}: it needs ${needed} bytes (${gib(needed)} GiB) more, ` +
        `the file system has ${available} bytes (${gib(available)} GiB) free`,
    )
  }
}

/** An existing file at the vault path that is not this identity's vault with these parameters. */
export class VaultMismatchError extends Error {
  override name = 'VaultMismatchError'
}

const gib = (n: number): string => (n / 1024 ** 3).toFixed(2)

async function statfsFree(dir: string): Promise<number> {
  const s = await fsp.statfs(dir)
  return s.bavail * s.bsize
}

function describe(p: VaultParams, id: VaultIdentity): string {
  return `fingerprint ${toHex(id.fingerprint)}, key ${toHex(id.publicKey)}, ${p.buckets} buckets × ${p.cupsPerBucket} cups × ${p.cupSize} records`
}

/** Opens the vault at `path` for building if it is ours, or creates it; refuses anything else. */
async function openForBuild(opts: BuildVaultOptions): Promise<VaultFile> {
  const path = resolve(opts.path)
  const layout = vaultLayout(opts.params)
  const freeBytes = opts.freeBytes ?? statfsFree
  let file: VaultFile
  try {
    file = await VaultFile.open(path, true)
  } catch (err) {
    if (errno(err) !== 'ENOENT') {
      if (err instanceof VaultFormatError)
        throw new VaultMismatchError(`${path} exists and is not a usable vault (${err.message}); refusing to overwrite it`)
      throw err
    }
    const available = await freeBytes(dirname(path))
    if (available < layout.buildBytes) throw new VaultSpaceError(path, layout.buildBytes, available)
    return VaultFile.create(path, opts.params, opts.identity)
  }
  const h = file.header
  const same =
    h.fingerprint.equals(opts.identity.fingerprint) &&
    h.publicKey.equals(opts.identity.publicKey) &&
    h.buckets === opts.params.buckets &&
    h.cupSize === opts.params.cupSize &&
    h.cupsPerBucket === opts.params.cupsPerBucket
  if (!same) {
    await file.close()
    throw new VaultMismatchError(
      `${path} is the vault of ${describe(h, h)}, not of ${describe(opts.params, opts.identity)}; ` +
        'refusing to use or overwrite it (move it away or give another vault path)',
    )
  }
  if (file.progress.phase !== 'done') {
    const needed = layout.buildBytes - (await file.allocatedBytes())
    const available = await freeBytes(dirname(path))
    if (needed > 0 && available < needed) {
      await file.close()
      throw new VaultSpaceError(path, needed, available)
    }
  }
  return file
}

/**
 * Leaves a finished vault of `identity` with `params` at `path`: builds it,
 * resumes an unfinished one, or accepts a finished one as it is.
 */
export async function buildVault(opts: BuildVaultOptions): Promise<void> {
  const file = await openForBuild(opts)
  try {
    const builder = new VaultBuilder(file, opts)
    const p = file.progress
    const fresh = p.phase === 'fill' && p.nextNonce === 0 && p.counts.every((c) => c === 0)
    // A resumed pass build goes on in passes (of one bucket at least), whatever the budget now.
    if (p.phase === 'pass' || (fresh && chooseBuild(file.layout, opts).method === 'passes')) await builder.passes()
    if (file.progress.phase === 'fill') await builder.fill()
    if (file.progress.phase === 'sort') await builder.sort()
  } finally {
    await file.close()
  }
}

/** Entry bytes hashed per second by `threads` hash threads (0: this thread), timed briefly here. */
function hashBytesPerSecond(id: VaultIdentity, threads: number): number {
  const hasher = new RecordHasher(id.fingerprint, id.publicKey)
  const n = 4096
  const out = Buffer.allocUnsafe(n * E)
  fillEntries(hasher, 0, 256, out) // warm up
  const started = performance.now()
  fillEntries(hasher, 0, n, out)
  const ms = Math.max(performance.now() - started, 1e-3)
  return ((n * E) / ms) * 1000 * Math.max(1, threads)
}

/** The plan buildVault follows for a fresh vault with these options. */
export function chooseBuild(layout: ReturnType<typeof vaultLayout>, opts: BuildVaultOptions): BuildPlan {
  const memoryBytes = opts.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES
  const writeBytesPerSecond = opts.writeBytesPerSecond ?? DEFAULT_WRITE_BYTES_PER_SECOND
  // One pass needs no speeds; more passes are worth it only when hashing outruns the disk.
  const quick = planBuild(layout, { memoryBytes, hashBytesPerSecond: 0, writeBytesPerSecond })
  if (quick.method === 'passes' || memoryBytes < layout.regionBytes) return quick
  return planBuild(layout, {
    memoryBytes,
    hashBytesPerSecond: hashBytesPerSecond(opts.identity, opts.threadsHash ?? 1),
    writeBytesPerSecond,
  })
}

/** 32-bit words of an entries buffer (copied once if the buffer is not 4-byte aligned). */
function wordsOf(entries: Buffer): Uint32Array {
  const aligned = entries.byteOffset % 4 === 0 ? entries : Buffer.from(entries)
  return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2)
}

class VaultBuilder {
  private readonly layout
  private readonly bytesMeter = new RateMeter()
  private readonly hashMeter = new RateMeter()
  private lastEmit = 0

  constructor(
    private readonly file: VaultFile,
    private readonly opts: BuildVaultOptions,
  ) {
    this.layout = file.layout
  }

  private emit(phase: BuildProgress['phase'], done: number, force: boolean): void {
    const now = performance.now()
    if (!force && now - this.lastEmit < PROGRESS_EVERY_MS) return
    this.lastEmit = now
    const total = this.layout.buckets * this.layout.regionBytes
    const bytesPerSecond = this.bytesMeter.rate
    this.opts.onProgress?.({
      phase,
      done,
      total,
      bytesPerSecond,
      etaSeconds: etaSeconds(total - done, bytesPerSecond),
      hashesPerSecond: phase === 'fill' ? this.hashMeter.rate : 0,
    })
  }

  private checkAborted(): void {
    const s = this.opts.signal
    if (s?.aborted) throw s.reason instanceof Error ? s.reason : new Error('vault build aborted')
  }

  async fill(): Promise<void> {
    const L = this.layout
    const { buckets, cupSize, capacity, bucketBits } = L
    const start = this.file.progress
    const counts = start.counts.slice()
    const pending = new Uint32Array(buckets)
    const cupBytes = cupSize * E
    const cups = Buffer.allocUnsafeSlow(L.fillBufferBytes)
    const cupWords = new Uint32Array(cups.buffer, cups.byteOffset, cups.length >>> 2)
    let full = 0
    for (let b = 0; b < buckets; b++) if (counts[b] === capacity) full++
    let next = start.nextNonce
    let stored = counts.reduce((a, c) => a + c, 0)
    const roundNonces = buckets * cupSize
    const chunk = Math.max(1, Math.min(this.opts.chunkNonces ?? CHUNK_NONCES, roundNonces))
    // A uniform hash fills every bucket after about buckets × capacity nonces;
    // many times that means the records are not uniform, and the build stops.
    const nonceLimit = Math.min(MAX_SAFE_U64, start.nextNonce + 8 * buckets * capacity + 1_000_000)

    const writeCup = async (b: number): Promise<void> => {
      const n = pending[b]!
      if (n === 0) return
      await this.file.write(cups.subarray(b * cupBytes, b * cupBytes + n * E), n * E, regionOffset(L, b + 1) + (counts[b]! - n) * E)
      pending[b] = 0
    }
    const checkpoint = async (phase: 'fill' | 'sort'): Promise<void> => {
      for (let b = 0; b < buckets; b++) await writeCup(b)
      await this.file.sync()
      await this.file.commit({ phase, nextNonce: next, bucketsSorted: 0, counts })
    }

    const source = (this.opts.makeSource ?? entrySource)(this.opts.identity, this.opts.threadsHash ?? 1)
    const queue: Array<{ start: number; count: number; entries: Promise<Buffer> }> = []
    let issued = next
    let hashed = 0
    let lastYield = performance.now()
    this.bytesMeter.add(stored * E)
    this.hashMeter.add(0)
    try {
      let roundStart = next
      while (full < buckets) {
        if (this.opts.signal?.aborted) {
          await checkpoint('fill')
          this.checkAborted()
        }
        while (queue.length < source.depth && issued < nonceLimit) {
          const count = Math.min(chunk, nonceLimit - issued)
          const entries = source.fill(issued, count)
          entries.catch(() => {}) // awaited below, or dropped when the build stops
          queue.push({ start: issued, count, entries })
          issued += count
        }
        const job = queue.shift()
        if (job === undefined)
          throw new Error(`hashed ${nonceLimit - start.nextNonce} nonces without filling every bucket: the records are not uniform`)
        const entries = await job.entries
        const words = wordsOf(entries)
        let end = job.start + job.count
        for (let i = 0, off = 0; i < job.count; i++, off += E) {
          const b = bucketOf(entries, bucketBits, off)
          const c = counts[b]!
          if (c === capacity) continue
          const p = pending[b]!
          const to = (b * cupBytes + p * E) >>> 2
          for (let w = 0, from = off >>> 2; w < 8; w++) cupWords[to + w] = words[from + w]!
          counts[b] = c + 1
          pending[b] = p + 1
          stored++
          if (p + 1 === cupSize) await writeCup(b)
          if (c + 1 === capacity && ++full === buckets) {
            end = job.start + i + 1
            break
          }
        }
        next = end
        hashed += end - job.start
        let now = performance.now()
        // A source that answers at once (in-thread, or a fast hash) never lets the event loop in; give it a turn.
        if (now - lastYield > YIELD_EVERY_MS) {
          await new Promise<void>((r) => setImmediate(r))
          lastYield = now = performance.now()
        }
        this.bytesMeter.add(stored * E, now)
        this.hashMeter.add(hashed, now)
        if (full === buckets) break
        if (next - roundStart >= roundNonces) {
          await checkpoint('fill')
          roundStart = next
          this.emit('fill', stored * E, true)
        } else {
          this.emit('fill', stored * E, false)
        }
      }
      await checkpoint('sort')
      this.emit('fill', stored * E, true)
    } finally {
      await source.close()
    }
  }

  /** Builds the buckets not yet done in single-write passes (see the top of this file). */
  async passes(): Promise<void> {
    const L = this.layout
    const { buckets, capacity } = L
    const p = this.file.progress
    let done = p.phase === 'pass' ? p.bucketsSorted : 0
    for (let b = 0; b < buckets; b++) {
      if (p.counts[b] !== (b < done ? capacity : 0))
        throw new VaultFormatError(
          'CORRUPT_PROGRESS',
          `vault progress says ${done} buckets built in passes, but bucket ${b} holds ${p.counts[b]}`,
        )
    }
    const perPass = Math.max(1, groupBucketsFor(L, this.opts.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES))
    const passes = Math.ceil((buckets - done) / perPass)
    const g = Math.ceil((buckets - done) / Math.max(1, passes))
    const group = Buffer.allocUnsafeSlow(Math.min(g, buckets - done) * L.regionBytes)
    const counts = new Uint32Array(buckets)
    counts.fill(capacity, 0, done)
    const source = (this.opts.makeSource ?? entrySource)(this.opts.identity, this.opts.threadsHash ?? 1)
    this.bytesMeter.add(done * L.regionBytes)
    try {
      while (done < buckets) {
        const n = Math.min(g, buckets - done)
        await this.collectGroup(source, done, n, group)
        await this.writeGroup(done, n, group)
        counts.fill(capacity, done, done + n)
        done += n
        await this.file.sync()
        // The last pass leaves the state of a finished sort phase; sort() then cuts the spare region off.
        await this.file.commit({ phase: done === buckets ? 'sort' : 'pass', nextNonce: 0, bucketsSorted: done, counts })
        this.emit('sort', done * L.regionBytes, true)
      }
    } finally {
      await source.close()
    }
  }

  /** Hashes nonces from 0 until buckets first..first+n-1 are full, keeping their entries in `group` (bucket after bucket). */
  private async collectGroup(source: EntrySource, first: number, n: number, group: Buffer): Promise<void> {
    const { capacity, bucketBits, buckets } = this.layout
    const counts = new Uint32Array(n)
    const words = new Uint32Array(group.buffer, group.byteOffset, group.length >>> 2)
    const chunk = Math.max(1, Math.min(this.opts.chunkNonces ?? CHUNK_NONCES, buckets * capacity))
    const nonceLimit = 8 * buckets * capacity + 1_000_000
    const queue: Array<Promise<Buffer>> = []
    const base = first * this.layout.regionBytes
    let issued = 0
    let hashed = 0
    let stored = 0
    let full = 0
    let lastYield = performance.now()
    this.hashMeter.reset()
    this.hashMeter.add(0)
    while (full < n) {
      this.checkAborted()
      while (queue.length < source.depth && issued < nonceLimit) {
        const count = Math.min(chunk, nonceLimit - issued)
        const entries = source.fill(issued, count)
        entries.catch(() => {}) // awaited below, or dropped when the pass is complete
        queue.push(entries)
        issued += count
      }
      const job = queue.shift()
      if (job === undefined)
        throw new Error(`hashed ${nonceLimit} nonces without filling buckets ${first}..${first + n - 1}: the records are not uniform`)
      const entries = await job
      const from = wordsOf(entries)
      const count = entries.length / E
      for (let i = 0, off = 0; i < count; i++, off += E) {
        const b = bucketOf(entries, bucketBits, off) - first
        if (b < 0 || b >= n) continue
        const c = counts[b]!
        if (c === capacity) continue
        const to = (b * capacity + c) * 8
        for (let w = 0, f = off >>> 2; w < 8; w++) words[to + w] = from[f + w]!
        counts[b] = c + 1
        stored++
        if (c + 1 === capacity && ++full === n) break
      }
      hashed += count
      let now = performance.now()
      if (now - lastYield > YIELD_EVERY_MS) {
        await new Promise<void>((r) => setImmediate(r))
        lastYield = now = performance.now()
      }
      this.bytesMeter.add(base + stored * E, now)
      this.hashMeter.add(hashed, now)
      this.emit('fill', base + stored * E, full === n)
    }
  }

  /** Sorts each bucket of `group` and writes it to its final region; each output chunk is written while the next is gathered. */
  private async writeGroup(first: number, n: number, group: Buffer): Promise<void> {
    const L = this.layout
    const R = L.regionBytes
    const outBytes = Math.min(SORT_OUTPUT_BYTES, R)
    const outs = [Buffer.allocUnsafeSlow(outBytes), Buffer.allocUnsafeSlow(outBytes)]
    const perWrite = outBytes / E
    let writing: Promise<void> | null = null
    let j = 0
    try {
      for (let k = 0; k < n; k++) {
        this.checkAborted()
        const region = group.subarray(k * R, (k + 1) * R)
        // Sorting this bucket overlaps the last write of the one before.
        const order = sortedOrder(region, L.capacity, L.bucketBits)
        for (let e = 0; e < L.capacity; e += perWrite, j++) {
          const m = Math.min(perWrite, L.capacity - e)
          const out = outs[j % 2]!
          gatherEntries(region, order, e, e + m, out)
          await writing
          writing = this.file.write(out, m * E, regionOffset(L, first + k) + e * E)
          writing.catch(() => {}) // awaited before the next write
        }
        this.bytesMeter.add((first + k) * R + R)
        this.emit('sort', (first + k) * R + R, false)
      }
      await writing
    } finally {
      await writing?.catch(() => {})
    }
  }

  private async commitSorted(b: number): Promise<void> {
    const R = this.layout.regionBytes
    await this.file.sync()
    await this.file.commit({ ...this.file.progress, bucketsSorted: b + 1 })
    this.bytesMeter.add((b + 1) * R)
    this.emit('sort', (b + 1) * R, true)
  }

  async sort(): Promise<void> {
    const L = this.layout
    const p = this.file.progress
    for (let b = 0; b < L.buckets; b++) {
      if (p.counts[b] !== L.capacity)
        throw new VaultFormatError(
          'CORRUPT_PROGRESS',
          `vault progress says sort, but bucket ${b} holds ${p.counts[b]} of ${L.capacity} records`,
        )
    }
    this.bytesMeter.reset()
    this.bytesMeter.add(p.bucketsSorted * L.regionBytes)
    this.lastEmit = 0
    // A pipeline: the next region is read and the last bucket synced and
    // committed while this one sorts; each output chunk is written while the
    // next is gathered. Sorted bucket b goes to region b, which holds the
    // unsorted copy of bucket b - 1, so b - 1 must be committed first.
    const R = L.regionBytes
    const regions = [Buffer.allocUnsafeSlow(R), L.buckets - p.bucketsSorted > 1 ? Buffer.allocUnsafeSlow(R) : null]
    const outBytes = Math.min(SORT_OUTPUT_BYTES, R)
    const outs = [Buffer.allocUnsafeSlow(outBytes), Buffer.allocUnsafeSlow(outBytes)]
    const perWrite = outBytes / E
    const readRegion = (b: number, buf: Buffer): Promise<void> => {
      const r = this.file.read(buf, R, regionOffset(L, b + 1))
      r.catch(() => {}) // awaited in its turn
      return r
    }
    let reading: Promise<void> | null = p.bucketsSorted < L.buckets ? readRegion(p.bucketsSorted, regions[0]!) : null
    let committing: Promise<void> | null = null
    try {
      for (let b = p.bucketsSorted, i = 0; b < L.buckets; b++, i++) {
        if (this.opts.signal?.aborted) {
          await committing
          this.checkAborted()
        }
        const region = regions[i % 2]!
        await reading
        reading = b + 1 < L.buckets ? readRegion(b + 1, regions[(i + 1) % 2]!) : null
        const order = sortedOrder(region, L.capacity, L.bucketBits)
        await committing
        let writing: Promise<void> | null = null
        for (let k = 0, j = 0; k < L.capacity; k += perWrite, j++) {
          const n = Math.min(perWrite, L.capacity - k)
          const out = outs[j % 2]!
          gatherEntries(region, order, k, k + n, out)
          await writing
          writing = this.file.write(out, n * E, regionOffset(L, b) + k * E)
        }
        await writing
        committing = this.commitSorted(b)
        committing.catch(() => {}) // awaited before the next bucket's writes
      }
      await committing
    } finally {
      await reading?.catch(() => {})
      await committing?.catch(() => {})
    }
    await this.file.truncateToFinal()
    await this.file.commit({ ...this.file.progress, phase: 'done' })
    const total = L.buckets * L.regionBytes
    this.opts.onProgress?.({ phase: 'done', done: total, total, bytesPerSecond: 0, etaSeconds: 0, hashesPerSecond: 0 })
  }
}
