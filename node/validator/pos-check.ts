// Checking a vault: its parameters, first and last records, the order and
// bucket of every entry (one sequential pass), and a re-hash of a sample of
// entries. Damaged data is reported, never thrown; only a file that cannot be
// read as a vault at all (pos-vault.ts VaultFormatError, or a file-system
// error) makes checkVault throw.
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, RecordHasher } from '../../protocol/chain/proof-record.js'
import { readU64, toHex } from '../../protocol/wire/bytes.js'
import { compareEntries } from './pos-sort.js'
import { VaultFile } from './pos-vault-file.js'
import { bucketOf, regionOffset, type VaultParams, type VaultPhase } from './pos-vault.js'

const E = RECORD_ENTRY_BYTES
const READ_BYTES = 4 * 1024 * 1024
/** Positions listed per kind of problem; the counts stay exact. */
const MAX_LISTED = 10
const SHOWN_RECORDS = 5

export interface CheckOptions {
  /** Entries to re-hash; at least the vault's record count re-hashes all of them. Default 1000. */
  sample?: number
  /** Uniform in [0, 1); picks the sampled entries (default Math.random). */
  random?: () => number
  /** Bytes scanned so far, of `total`. */
  onProgress?: (done: number, total: number) => void
}

export interface EntryLine {
  bucket: number
  index: number
  /** 48 hex digits. */
  record: string
  /** null when the stored nonce is beyond 2^53 (damaged). */
  nonce: number | null
}

/** Where one kind of problem was found: how many, and the first few positions. */
export interface ProblemTally {
  count: number
  at: Array<{ bucket: number; index: number }>
}

export interface VaultCheckReport {
  path: string
  version: number
  params: VaultParams & { records: number; dataBytes: number; fileBytes: number }
  fingerprint: string
  publicKey: string
  phase: VaultPhase
  first: EntryLine[]
  last: EntryLine[]
  /** Entries smaller than the one before them in their bucket. */
  orderViolations: ProblemTally & { buckets: number[] }
  /** Entries whose record's top bits name another bucket. */
  misplaced: ProblemTally
  /** Entries whose nonce does not fit 2^53 (cannot be a nonce the builder wrote). */
  badNonces: ProblemTally
  /** Re-hashed entries whose stored record is not the hash of identity and nonce. */
  sample: { checked: number; wrongRecords: ProblemTally }
  ok: boolean
  problems: string[]
}

const tally = (): ProblemTally => ({ count: 0, at: [] })
function note(t: ProblemTally, bucket: number, index: number): void {
  t.count++
  if (t.at.length < MAX_LISTED) t.at.push({ bucket, index })
}

function lineOf(bytes: Buffer, off: number, bucket: number, index: number): EntryLine {
  return { bucket, index, record: toHex(bytes.subarray(off, off + RECORD_HASH_BYTES)), nonce: readU64(bytes, off + RECORD_HASH_BYTES) }
}

export async function checkVault(path: string, opts: CheckOptions = {}): Promise<VaultCheckReport> {
  const file = await VaultFile.open(path, false)
  try {
    return await check(file, opts)
  } finally {
    await file.close()
  }
}

async function check(file: VaultFile, opts: CheckOptions): Promise<VaultCheckReport> {
  const h = file.header
  const L = file.layout
  const progress = file.progress
  const records = L.buckets * L.capacity
  const report: VaultCheckReport = {
    path: file.path,
    version: h.version,
    params: {
      buckets: L.buckets,
      cupSize: L.cupSize,
      cupsPerBucket: L.cupsPerBucket,
      records,
      dataBytes: records * E,
      fileBytes: L.finalBytes,
    },
    fingerprint: toHex(h.fingerprint),
    publicKey: toHex(h.publicKey),
    phase: progress.phase,
    first: [],
    last: [],
    orderViolations: { ...tally(), buckets: [] },
    misplaced: tally(),
    badNonces: tally(),
    sample: { checked: 0, wrongRecords: tally() },
    ok: false,
    problems: [],
  }
  if (progress.phase !== 'done') {
    const stored = progress.counts.reduce((a, c) => a + c, 0)
    const detail =
      progress.phase === 'fill' ? `${stored} of ${records} records stored` : `${progress.bucketsSorted} of ${L.buckets} buckets sorted`
    report.problems.push(`the vault's build is not finished (phase ${progress.phase}: ${detail}); run the validator to resume it`)
    return report
  }

  const hasher = new RecordHasher(h.fingerprint, h.publicKey)
  const record = Buffer.alloc(RECORD_HASH_BYTES)
  const sampleSize = Math.max(0, Math.floor(opts.sample ?? 1000))
  const hashAll = sampleSize >= records
  /** Re-hashes the entry at `off` of `bytes`, noting it when its record is wrong. */
  const rehash = (bytes: Buffer, off: number, bucket: number, index: number): void => {
    const nonce = readU64(bytes, off + RECORD_HASH_BYTES)
    report.sample.checked++
    if (nonce === null) return // counted as a bad nonce by the scan
    hasher.hashInto(nonce, record, 0)
    if (!record.equals(bytes.subarray(off, off + RECORD_HASH_BYTES))) note(report.sample.wrongRecords, bucket, index)
  }

  // One pass over every bucket: order, bucket prefix, nonce range (and the re-hash of all when asked).
  const buf = Buffer.allocUnsafeSlow(Math.min(READ_BYTES, L.regionBytes) + E)
  const perRead = Math.floor((buf.length - E) / E)
  const total = records * E
  for (let b = 0; b < L.buckets; b++) {
    let violations = 0
    for (let k = 0; k < L.capacity; k += perRead) {
      const n = Math.min(perRead, L.capacity - k)
      // Slot 0 keeps the previous read's last entry, so order is checked across reads.
      await file.read(buf.subarray(E), n * E, regionOffset(L, b) + k * E)
      for (let i = 0; i < n; i++) {
        const off = E + i * E
        const index = k + i
        if (index > 0 && compareEntries(buf, off - E, off) > 0) {
          violations++
          note(report.orderViolations, b, index)
        }
        if (bucketOf(buf, L.bucketBits, off) !== b) note(report.misplaced, b, index)
        if (readU64(buf, off + RECORD_HASH_BYTES) === null) note(report.badNonces, b, index)
        if (hashAll) rehash(buf, off, b, index)
        const g = b * L.capacity + index
        if (g < SHOWN_RECORDS) report.first.push(lineOf(buf, off, b, index))
        if (g >= records - SHOWN_RECORDS) report.last.push(lineOf(buf, off, b, index))
      }
      buf.copy(buf, 0, n * E, n * E + E)
      opts.onProgress?.((b * L.capacity + k + n) * E, total)
    }
    if (violations > 0) report.orderViolations.buckets.push(b)
  }

  if (!hashAll) {
    const random = opts.random ?? Math.random
    const one = Buffer.alloc(E)
    for (let s = 0; s < sampleSize; s++) {
      const g = Math.min(records - 1, Math.floor(random() * records))
      const b = Math.floor(g / L.capacity)
      const index = g % L.capacity
      await file.read(one, E, regionOffset(L, b) + index * E)
      rehash(one, 0, b, index)
    }
  }

  const where = (t: ProblemTally): string =>
    t.at.map((p) => `bucket ${p.bucket} #${p.index}`).join(', ') + (t.count > t.at.length ? `, … (${t.count - t.at.length} more)` : '')
  const ov = report.orderViolations
  if (ov.count > 0) report.problems.push(`${ov.count} entries out of order in ${ov.buckets.length} buckets: ${where(ov)}`)
  if (report.misplaced.count > 0) report.problems.push(`${report.misplaced.count} entries in the wrong bucket: ${where(report.misplaced)}`)
  if (report.badNonces.count > 0)
    report.problems.push(`${report.badNonces.count} entries with an impossible nonce: ${where(report.badNonces)}`)
  const wrong = report.sample.wrongRecords
  if (wrong.count > 0)
    report.problems.push(`${wrong.count} of ${report.sample.checked} re-hashed entries are not the record of their nonce: ${where(wrong)}`)
  report.ok = report.problems.length === 0
  return report
}
