// Sorting a bucket's 32-byte entries (record 24 ‖ u64be nonce 8) in memory:
// lexicographic order of the 32 bytes, i.e. by record, then nonce.
//
// A comparator sort of a million entries spends most of its time calling the
// comparator. Records are uniform hashes, so instead the entries are binned
// by the record bits after the bucket prefix (a counting pass, about four
// entries a bin) and each bin is put in order by insertion on 64 of those
// bits, with a full comparison only where they tie.
import { RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'

const E = RECORD_ENTRY_BYTES
/** Most entries a region may hold. */
export const MAX_SORT_ENTRIES = 2 ** 25

/** Compares the 32-byte entries at offsets a and b of `bytes`. */
export function compareEntries(bytes: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < E; k++) {
    const d = bytes[a + k]! - bytes[b + k]!
    if (d !== 0) return d
  }
  return 0
}

/** Bins larger than this (only in damaged or adversarial data) are sorted by comparison rather than insertion. */
const INSERTION_MAX = 32

/**
 * The indices of `count` entries of `region` in sorted order. Every entry's
 * record must start with the same `bucketBits` bits (they are skipped).
 * Memory: 12 bytes per entry plus 8 bytes per bin (about count / 4 bins).
 */
export function sortedOrder(region: Uint8Array, count: number, bucketBits: number): Uint32Array {
  if (count > MAX_SORT_ENTRIES) throw new RangeError(`cannot sort ${count} entries; at most ${MAX_SORT_ENTRIES}`)
  if (region.length < count * E) throw new RangeError(`region holds ${region.length} bytes, not ${count} entries`)
  if (!Number.isInteger(bucketBits) || bucketBits < 0 || bucketBits > 16) throw new RangeError('bucketBits must be 0..16')
  const view = new DataView(region.buffer, region.byteOffset, region.byteLength)
  const s = bucketBits
  // The 64 record bits after the bucket prefix, as two 32-bit halves; (x >>> 32) is x in JavaScript, so a zero shift is its own case.
  const hiOf = (off: number): number =>
    s === 0 ? view.getUint32(off) : ((view.getUint32(off) << s) | (view.getUint32(off + 4) >>> (32 - s))) >>> 0
  const loOf = (off: number): number =>
    s === 0 ? view.getUint32(off + 4) : ((view.getUint32(off + 4) << s) | (view.getUint32(off + 8) >>> (32 - s))) >>> 0
  // Records are uniform, so binning by the top bits leaves a handful per bin.
  const binBits = Math.min(22, Math.max(1, Math.ceil(Math.log2(Math.max(count, 2))) - 2))
  const shift = 32 - binBits
  const starts = new Uint32Array((1 << binBits) + 1)
  for (let i = 0, off = 0; i < count; i++, off += E) starts[(hiOf(off) >>> shift) + 1]!++
  for (let b = 1; b < starts.length; b++) starts[b]! += starts[b - 1]!
  const fill = starts.slice(0, -1)
  const order = new Uint32Array(count)
  const sHi = new Uint32Array(count)
  const sLo = new Uint32Array(count)
  for (let i = 0, off = 0; i < count; i++, off += E) {
    const h = hiOf(off)
    const p = fill[h >>> shift]!++
    order[p] = i
    sHi[p] = h
    sLo[p] = loOf(off)
  }
  const less = (a: number, b: number): boolean => {
    // a, b: positions in the binned arrays
    if (sHi[a] !== sHi[b]) return sHi[a]! < sHi[b]!
    if (sLo[a] !== sLo[b]) return sLo[a]! < sLo[b]!
    return compareEntries(region, order[a]! * E, order[b]! * E) < 0
  }
  for (let b = 0; b + 1 < starts.length; b++) {
    const from = starts[b]!
    const to = starts[b + 1]!
    if (to - from < 2) continue
    if (to - from > INSERTION_MAX) {
      const idx = Array.from({ length: to - from }, (_, k) => from + k).sort((x, y) => (less(x, y) ? -1 : less(y, x) ? 1 : 0))
      const o = idx.map((k) => order[k]!)
      const h = idx.map((k) => sHi[k]!)
      const l = idx.map((k) => sLo[k]!)
      order.set(o, from)
      sHi.set(h, from)
      sLo.set(l, from)
      continue
    }
    for (let k = from + 1; k < to; k++) {
      const o = order[k]!
      const h = sHi[k]!
      const l = sLo[k]!
      let j = k - 1
      while (j >= from) {
        const bigger = sHi[j]! > h || (sHi[j] === h && (sLo[j]! > l || (sLo[j] === l && compareEntries(region, order[j]! * E, o * E) > 0)))
        if (!bigger) break
        order[j + 1] = order[j]!
        sHi[j + 1] = sHi[j]!
        sLo[j + 1] = sLo[j]!
        j--
      }
      order[j + 1] = o
      sHi[j + 1] = h
      sLo[j + 1] = l
    }
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
