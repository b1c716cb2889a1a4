// Reading a finished vault: the nearest record to a challenge by binary
// search over the challenge's bucket (a few positioned reads), and single
// entries for checks.
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, recordDistance } from '../../protocol/chain/proof-record.js'
import { readU64 } from '../../protocol/wire/bytes.js'
import { VaultFile } from './pos-vault-file.js'
import { bucketOf, regionOffset, VaultFormatError, type VaultHeader, type VaultLayout } from './pos-vault.js'

const E = RECORD_ENTRY_BYTES
/** Below this many entries the search reads them all in one read instead of halving further. */
const SCAN_ENTRIES = 128

export interface VaultEntry {
  nonce: number
  /** 24 bytes. */
  record: Buffer
}

export interface NearestRecord extends VaultEntry {
  distance: bigint
}

function decodeEntry(bytes: Buffer, offset: number, where: string): VaultEntry {
  const nonce = readU64(bytes, offset + RECORD_HASH_BYTES)
  if (nonce === null) throw new VaultFormatError('CORRUPT_DATA', `${where}: the nonce is beyond 2^53 (damaged vault)`)
  return { nonce, record: Buffer.from(bytes.subarray(offset, offset + RECORD_HASH_BYTES)) }
}

export class VaultReader {
  private readonly scratch = Buffer.alloc(SCAN_ENTRIES * E)

  private constructor(private readonly file: VaultFile) {}

  /** Opens a finished vault; an unfinished one is refused. */
  static async open(path: string): Promise<VaultReader> {
    const file = await VaultFile.open(path, false)
    if (file.progress.phase !== 'done') {
      await file.close()
      throw new VaultFormatError('UNFINISHED', `${path} is not finished (its build is in the ${file.progress.phase} phase)`)
    }
    return new VaultReader(file)
  }

  get header(): VaultHeader {
    return this.file.header
  }

  get layout(): VaultLayout {
    return this.file.layout
  }

  /** Entries in the vault. */
  get records(): number {
    return this.layout.buckets * this.layout.capacity
  }

  /** Entry `index` of `bucket`. */
  entry(bucket: number, index: number): VaultEntry {
    this.checkPosition(bucket, index, 1)
    this.file.readSync(this.scratch, E, regionOffset(this.layout, bucket) + index * E)
    return decodeEntry(this.scratch, 0, `bucket ${bucket} entry ${index}`)
  }

  /** `count` consecutive entries of `bucket` from `index`. */
  entries(bucket: number, index: number, count: number): VaultEntry[] {
    this.checkPosition(bucket, index, count)
    const buf = Buffer.alloc(count * E)
    this.file.readSync(buf, buf.length, regionOffset(this.layout, bucket) + index * E)
    return Array.from({ length: count }, (_, i) => decodeEntry(buf, i * E, `bucket ${bucket} entry ${index + i}`))
  }

  /** The raw bytes of `count` entries of `bucket` from `index`, into `out`. */
  async readEntries(bucket: number, index: number, count: number, out: Buffer): Promise<void> {
    this.checkPosition(bucket, index, count)
    await this.file.read(out, count * E, regionOffset(this.layout, bucket) + index * E)
  }

  first(bucket: number): VaultEntry {
    return this.entry(bucket, 0)
  }

  last(bucket: number): VaultEntry {
    return this.entry(bucket, this.layout.capacity - 1)
  }

  /**
   * The record nearest to `challenge` (its first 24 bytes) by |record −
   * challenge|: the neighbours of the challenge's place in its bucket, or
   * across the boundary into the bucket below or above. A tie goes to the
   * smaller record.
   */
  nearest(challenge: Uint8Array): NearestRecord {
    if (challenge.length < RECORD_HASH_BYTES)
      throw new RangeError(`a challenge has at least ${RECORD_HASH_BYTES} bytes, got ${challenge.length}`)
    const c = Buffer.from(challenge.buffer, challenge.byteOffset, RECORD_HASH_BYTES)
    const L = this.layout
    const b = bucketOf(c, L.bucketBits)
    const at = this.lowerBound(b, c)
    // Every bucket of a finished vault is full, so the neighbours across a boundary are its first and last entries.
    const below = at > 0 ? this.entry(b, at - 1) : b > 0 ? this.last(b - 1) : null
    const above = at < L.capacity ? this.entry(b, at) : b + 1 < L.buckets ? this.first(b + 1) : null
    const candidates = [below, above].filter((e): e is VaultEntry => e !== null)
    let best: NearestRecord | null = null
    for (const e of candidates) {
      const distance = recordDistance(e.record, c)
      if (best === null || distance < best.distance) best = { ...e, distance }
    }
    return best!
  }

  /** The index of the first entry of `bucket` whose record is ≥ c (capacity when none is). */
  private lowerBound(bucket: number, c: Buffer): number {
    const base = regionOffset(this.layout, bucket)
    let lo = 0
    let hi = this.layout.capacity
    const probe = this.scratch
    // Each halving reads one record; the loop ends after log2(capacity) of them.
    while (hi - lo > SCAN_ENTRIES) {
      const mid = lo + Math.floor((hi - lo) / 2)
      this.file.readSync(probe, RECORD_HASH_BYTES, base + mid * E)
      if (probe.compare(c, 0, RECORD_HASH_BYTES, 0, RECORD_HASH_BYTES) < 0) lo = mid + 1
      else hi = mid
    }
    const n = hi - lo
    if (n === 0) return lo
    this.file.readSync(probe, n * E, base + lo * E)
    for (let i = 0; i < n; i++) {
      if (probe.compare(c, 0, RECORD_HASH_BYTES, i * E, i * E + RECORD_HASH_BYTES) >= 0) return lo + i
    }
    return hi
  }

  private checkPosition(bucket: number, index: number, count: number): void {
    const L = this.layout
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= L.buckets)
      throw new RangeError(`bucket ${bucket} is not in 0..${L.buckets - 1}`)
    if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || count < 0 || index + count > L.capacity) {
      throw new RangeError(`entries ${index}..${index + count - 1} are not in 0..${L.capacity - 1}`)
    }
  }

  async close(): Promise<void> {
    await this.file.close()
  }
}
