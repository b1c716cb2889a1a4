// Sorting a bucket's 32-byte entries (record 24 ‖ u64be nonce 8) in memory:
// lexicographic order of the 32 bytes, i.e. by record, then nonce.
//
// A comparator sort of a million entries spends most of its time calling the
// comparator. Instead each entry gets a 64-bit key: the record's bits after
// the bucket prefix (which all entries of a bucket share) in the high bits and
// the entry's index in the low bits. One native BigUint64Array sort orders
// them; entries whose key bits tie (a few per million) are then put in order
// by a full comparison.
import { endianness } from 'node:os'
import { RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'

const E = RECORD_ENTRY_BYTES
/** Most entries a region may hold (index bits ≤ 25 leaves ≥ 39 key bits). */
export const MAX_SORT_ENTRIES = 2 ** 25

if (endianness() !== 'LE') throw new Error('pos-sort.ts packs 64-bit keys through 32-bit halves and needs a little-endian machine')

/** Compares the 32-byte entries at offsets a and b of `bytes`. */
export function compareEntries(bytes: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < E; k++) {
    const d = bytes[a + k]! - bytes[b + k]!
    if (d !== 0) return d
  }
  return 0
}

/**
 * The indices of `count` entries of `region` in sorted order. Every entry's
 * record must start with the same `bucketBits` bits (they are skipped).
 * Memory: 12 bytes per entry.
 */
export function sortedOrder(region: Uint8Array, count: number, bucketBits: number): Uint32Array {
  if (count > MAX_SORT_ENTRIES) throw new RangeError(`cannot sort ${count} entries; at most ${MAX_SORT_ENTRIES}`)
  if (region.length < count * E) throw new RangeError(`region holds ${region.length} bytes, not ${count} entries`)
  if (!Number.isInteger(bucketBits) || bucketBits < 0 || bucketBits > 16) throw new RangeError('bucketBits must be 0..16')
  const indexBits = Math.max(1, Math.ceil(Math.log2(Math.max(count, 2))))
  const mask = 2 ** indexBits - 1
  const keyMask = ~mask
  const keys = new BigUint64Array(count)
  const halves = new Uint32Array(keys.buffer) // little-endian: [2i] low half, [2i + 1] high half
  const view = new DataView(region.buffer, region.byteOffset, region.byteLength)
  const s = bucketBits
  for (let i = 0; i < count; i++) {
    const off = i * E
    const w0 = view.getUint32(off)
    const w1 = view.getUint32(off + 4)
    const w2 = view.getUint32(off + 8)
    // (x >>> 32) is x in JavaScript, so a zero shift is its own case.
    const hi = s === 0 ? w0 : ((w0 << s) | (w1 >>> (32 - s))) >>> 0
    const lo = s === 0 ? w1 : ((w1 << s) | (w2 >>> (32 - s))) >>> 0
    halves[2 * i] = ((lo & keyMask) | i) >>> 0
    halves[2 * i + 1] = hi
  }
  keys.sort()
  const order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = halves[2 * i]! & mask
  // Runs of equal key bits: order them by the whole entry.
  for (let i = 0; i < count; ) {
    let j = i + 1
    const hi = halves[2 * i + 1]
    const lo = halves[2 * i]! & keyMask
    while (j < count && halves[2 * j + 1] === hi && (halves[2 * j]! & keyMask) === lo) j++
    if (j - i > 1) {
      const run = Array.from(order.subarray(i, j)).sort((a, b) => compareEntries(region, a * E, b * E))
      order.set(run, i)
    }
    i = j
  }
  return order
}

/** Copies the entries `order[from..to)` of `region` into `out`, one after another. */
export function gatherEntries(region: Uint8Array, order: Uint32Array, from: number, to: number, out: Uint8Array): void {
  if ((to - from) * E > out.length) throw new RangeError('output too small')
  const aligned = region.byteOffset % 4 === 0 && out.byteOffset % 4 === 0
  if (aligned) {
    const src = new Uint32Array(region.buffer, region.byteOffset, region.byteLength >>> 2)
    const dst = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >>> 2)
    for (let k = from, d = 0; k < to; k++, d += 8) {
      const s = order[k]! * 8
      for (let w = 0; w < 8; w++) dst[d + w] = src[s + w]!
    }
    return
  }
  for (let k = from, d = 0; k < to; k++, d += E) {
    const s = order[k]! * E
    for (let w = 0; w < E; w++) out[d + w] = region[s + w]!
  }
}
