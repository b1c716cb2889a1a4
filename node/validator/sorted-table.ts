// Lookups in a table of proof-record entries (record 24 ‖ u64be nonce 8)
// sorted by record then nonce, which is plain byte order of the 32-byte
// entries. The nearest record to a challenge is one of the two entries around
// the challenge's insertion point: a binary search and two distances.
import { RECORD_ENTRY_BYTES, RECORD_HASH_BYTES, recordDistance } from '../../protocol/chain/proof-record.js'

export interface TableEntry {
  /** Position in the table. */
  index: number
  nonce: number
  /** The record: 24 bytes (a copy). */
  record: Buffer
  /** |record − challenge| as in recordDistance. */
  distance: bigint
}

/** Byte order of `length` bytes of two entries, from byte `from` of each: < 0, 0 or > 0. */
export function compareEntryBytes(
  a: Uint8Array,
  aOffset: number,
  b: Uint8Array,
  bOffset: number,
  from = 0,
  length = RECORD_ENTRY_BYTES,
): number {
  for (let k = from; k < length; k++) {
    const d = a[aOffset + k]! - b[bOffset + k]!
    if (d !== 0) return d
  }
  return 0
}

/** True when the entries are in non-decreasing byte order (and whole entries). */
export function isSortedTable(entries: Uint8Array): boolean {
  if (entries.length % RECORD_ENTRY_BYTES !== 0) return false
  for (let o = RECORD_ENTRY_BYTES; o < entries.length; o += RECORD_ENTRY_BYTES) {
    if (compareEntryBytes(entries, o - RECORD_ENTRY_BYTES, entries, o) > 0) return false
  }
  return true
}

/** A view over sorted entries (`entries`); it does not copy them and trusts their order (see isSortedTable). */
export class SortedTable {
  readonly size: number

  constructor(readonly entries: Uint8Array) {
    if (!(entries instanceof Uint8Array) || entries.length % RECORD_ENTRY_BYTES !== 0) {
      throw new RangeError(`a table must be whole ${RECORD_ENTRY_BYTES}-byte entries`)
    }
    this.size = entries.length / RECORD_ENTRY_BYTES
  }

  /** The first index whose record is ≥ key[0..24], or size when there is none. */
  lowerBound(key: Uint8Array): number {
    checkKey(key)
    let lo = 0
    let hi = this.size
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2)
      if (compareEntryBytes(this.entries, mid * RECORD_ENTRY_BYTES, key, 0, 0, RECORD_HASH_BYTES) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  recordAt(index: number): Buffer {
    const o = this.offsetOf(index)
    return Buffer.from(this.entries.subarray(o, o + RECORD_HASH_BYTES))
  }

  nonceAt(index: number): number {
    const o = this.offsetOf(index) + RECORD_HASH_BYTES
    const e = this.entries
    const hi = ((e[o]! << 24) | (e[o + 1]! << 16) | (e[o + 2]! << 8) | e[o + 3]!) >>> 0
    const lo = ((e[o + 4]! << 24) | (e[o + 5]! << 16) | (e[o + 6]! << 8) | e[o + 7]!) >>> 0
    if (hi > 0x1fffff) throw new RangeError(`entry ${index} has a nonce above 2^53-1`)
    return hi * 0x1_0000_0000 + lo
  }

  /** The entry whose record is nearest the challenge (its first 24 bytes); null for an empty table. */
  nearest(challenge: Uint8Array): TableEntry | null {
    const at = this.lowerBound(challenge)
    if (this.size === 0) return null
    // Below `at` every record is smaller than the challenge, from `at` on none is:
    // the nearest is the last one below or the first one above.
    const below = at > 0 ? this.entryAt(at - 1, challenge) : null
    const above = at < this.size ? this.entryAt(at, challenge) : null
    if (below === null) return above
    if (above === null) return below
    return above.distance < below.distance ? above : below
  }

  private entryAt(index: number, challenge: Uint8Array): TableEntry {
    const record = this.recordAt(index)
    return { index, nonce: this.nonceAt(index), record, distance: recordDistance(record, challenge) }
  }

  private offsetOf(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`index ${index} is outside the table (size ${this.size})`)
    return index * RECORD_ENTRY_BYTES
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length < RECORD_HASH_BYTES) {
    throw new RangeError(`a challenge must be at least ${RECORD_HASH_BYTES} bytes`)
  }
}
