// Building a proof-of-memory table: fill entries (record 24 ‖ u64be nonce 8)
// for consecutive nonces, then sort them in place into byte order, which is
// record order then nonce order (sorted-table.ts searches the result).
//
// The sort is an in-place MSD radix sort (American flag sort) on one byte of
// the entry per level, with insertion sort for short runs. In place because
// the table is most of the memory the prover may use; radix because records
// are uniform hashes, so every level splits a range into 256 even buckets.
// The builder runs the first level over the whole table in one thread, then
// hands disjoint bucket ranges to threads that sort them from byte 1 on.
import { RECORD_ENTRY_BYTES, type RecordHasher } from '../../protocol/chain/proof-record.js'
import { compareEntryBytes } from './sorted-table.js'

const RADIX = 256
/** Ranges this short are insertion-sorted: a radix pass costs more than the compares. */
const INSERTION_MAX = 24
const WORDS_PER_ENTRY = RECORD_ENTRY_BYTES / 4

/**
 * Writes `count` entries for nonces startNonce, startNonce+1, … into `out`
 * from byte `offset`. (RecordHasher.fillEntries will do this faster.)
 */
export function fillEntries(hasher: RecordHasher, startNonce: number, count: number, out: Uint8Array, offset: number): void {
  if (
    !Number.isInteger(count) ||
    count < 0 ||
    !Number.isInteger(offset) ||
    offset < 0 ||
    offset + count * RECORD_ENTRY_BYTES > out.length
  ) {
    throw new RangeError('the entries must fit in the output')
  }
  // The last nonce, startNonce + count - 1, must be at most 2^53-1 (subtraction is exact here, addition may round).
  if (!Number.isSafeInteger(startNonce) || startNonce < 0 || count > 2 ** 53 - startNonce) {
    throw new RangeError('nonces must be integers in [0, 2^53-1]')
  }
  hasher.fillEntries(startNonce, count, out, offset)
}

/**
 * Sorts entries [from, to) of the table into byte order, in place, assuming
 * they already agree on their first `depth` bytes (0: no assumption).
 */
export function sortEntries(table: Uint8Array, from = 0, to = entryCount(table), depth = 0): void {
  if (!Number.isInteger(depth) || depth < 0 || depth > RECORD_ENTRY_BYTES) {
    throw new RangeError(`depth must be an integer in [0, ${RECORD_ENTRY_BYTES}]`)
  }
  const words = wordsOf(table, from, to)
  if (words === null) return sortUnaligned(table, from, to, depth)
  const scratch = new Scratch()
  sortRange(table, words, from, to, depth, scratch)
}

/**
 * Moves entries [from, to) into 256 buckets by their byte `depth`, in place,
 * and returns the 257 bucket boundaries (entry indices, from … to).
 */
export function partitionEntries(table: Uint8Array, from = 0, to = entryCount(table), depth = 0): number[] {
  checkDepth(depth)
  const words = wordsOf(table, from, to)
  if (words === null) {
    const copy = alignedCopy(table, from, to)
    const starts = partitionEntries(copy, 0, to - from, depth)
    table.set(copy, from * RECORD_ENTRY_BYTES)
    return starts.map((s) => s + from)
  }
  const scratch = new Scratch()
  partitionRange(table, words, from, to, depth, scratch.starts[depth]!, scratch.next[depth]!)
  return Array.from(scratch.starts[depth]!)
}

/**
 * Cuts the buckets between `bounds` (as partitionEntries returns them) into
 * at most `parts` runs of whole, consecutive buckets holding about the same
 * number of entries. Each run is given by its own boundaries (a slice of
 * `bounds`); runs without entries are left out.
 */
export function splitBuckets(bounds: readonly number[], parts: number): number[][] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError('parts must be a positive integer')
  if (bounds.length < 2) throw new RangeError('bounds must hold at least two boundaries')
  const lastBound = bounds.length - 1
  const total = bounds[lastBound]! - bounds[0]!
  const runs: number[][] = []
  let first = 0
  for (let p = 1; p <= parts && first < lastBound; p++) {
    const goal = bounds[0]! + (total * p) / parts
    // End at the boundary nearest the goal (at least one bucket; the last run takes the rest).
    let last = first + 1
    while (last < lastBound && Math.abs(bounds[last + 1]! - goal) <= Math.abs(bounds[last]! - goal)) last++
    if (p === parts) last = lastBound
    if (bounds[last]! > bounds[first]!) runs.push(bounds.slice(first, last + 1))
    first = last
  }
  return runs
}

/** Per-level boundary and cursor arrays, reused by every range at that level. */
class Scratch {
  readonly starts: Float64Array[] = []
  readonly next: Float64Array[] = []
  constructor() {
    for (let d = 0; d <= RECORD_ENTRY_BYTES; d++) {
      this.starts.push(new Float64Array(RADIX + 1))
      this.next.push(new Float64Array(RADIX))
    }
  }
}

// One temporary entry for insertion sort, as bytes (to compare) and words (to move).
const held = new Int32Array(WORDS_PER_ENTRY)
const heldBytes = new Uint8Array(held.buffer)

function sortRange(bytes: Uint8Array, words: Int32Array, from: number, to: number, depth: number, scratch: Scratch): void {
  if (to - from <= INSERTION_MAX) return insertionSort(bytes, words, from, to, depth)
  if (depth >= RECORD_ENTRY_BYTES) return // equal entries
  const starts = scratch.starts[depth]!
  partitionRange(bytes, words, from, to, depth, starts, scratch.next[depth]!)
  // Deeper levels reuse their own arrays, so `starts` stays valid through this loop.
  for (let b = 0; b < RADIX; b++) {
    const s = starts[b]!
    const e = starts[b + 1]!
    if (e - s > 1) sortRange(bytes, words, s, e, depth + 1, scratch)
  }
}

function partitionRange(
  bytes: Uint8Array,
  words: Int32Array,
  from: number,
  to: number,
  depth: number,
  starts: Float64Array,
  next: Float64Array,
): void {
  next.fill(0)
  for (let o = from * RECORD_ENTRY_BYTES + depth, end = to * RECORD_ENTRY_BYTES; o < end; o += RECORD_ENTRY_BYTES) next[bytes[o]!]!++
  let at = from
  for (let b = 0; b < RADIX; b++) {
    starts[b] = at
    at += next[b]!
    next[b] = starts[b]!
  }
  starts[RADIX] = to
  // Cycle leader: take the first misplaced entry of bucket b and carry it to
  // its bucket's next free slot, picking up what was there, until an entry of
  // bucket b comes back for the slot. Every step settles one entry, so the
  // whole pass is at most (to - from) moves.
  for (let b = 0; b < RADIX; b++) {
    const end = starts[b + 1]!
    let i = next[b]!
    while (i < end) {
      let d = bytes[i * RECORD_ENTRY_BYTES + depth]!
      if (d !== b) {
        const w = i * WORDS_PER_ENTRY
        let t0 = words[w]!
        let t1 = words[w + 1]!
        let t2 = words[w + 2]!
        let t3 = words[w + 3]!
        let t4 = words[w + 4]!
        let t5 = words[w + 5]!
        let t6 = words[w + 6]!
        let t7 = words[w + 7]!
        do {
          const j = next[d]!
          next[d] = j + 1
          const dj = bytes[j * RECORD_ENTRY_BYTES + depth]!
          const v = j * WORDS_PER_ENTRY
          let x = words[v]!
          words[v] = t0
          t0 = x
          x = words[v + 1]!
          words[v + 1] = t1
          t1 = x
          x = words[v + 2]!
          words[v + 2] = t2
          t2 = x
          x = words[v + 3]!
          words[v + 3] = t3
          t3 = x
          x = words[v + 4]!
          words[v + 4] = t4
          t4 = x
          x = words[v + 5]!
          words[v + 5] = t5
          t5 = x
          x = words[v + 6]!
          words[v + 6] = t6
          t6 = x
          x = words[v + 7]!
          words[v + 7] = t7
          t7 = x
          d = dj
        } while (d !== b)
        words[w] = t0
        words[w + 1] = t1
        words[w + 2] = t2
        words[w + 3] = t3
        words[w + 4] = t4
        words[w + 5] = t5
        words[w + 6] = t6
        words[w + 7] = t7
      }
      i++
    }
    next[b] = i
  }
}

function insertionSort(bytes: Uint8Array, words: Int32Array, from: number, to: number, depth: number): void {
  for (let i = from + 1; i < to; i++) {
    const o = i * RECORD_ENTRY_BYTES
    if (compareEntryBytes(bytes, o - RECORD_ENTRY_BYTES, bytes, o, depth) <= 0) continue
    const w = i * WORDS_PER_ENTRY
    for (let k = 0; k < WORDS_PER_ENTRY; k++) held[k] = words[w + k]!
    let j = i
    do {
      words.copyWithin(j * WORDS_PER_ENTRY, (j - 1) * WORDS_PER_ENTRY, j * WORDS_PER_ENTRY)
      j--
    } while (j > from && compareEntryBytes(bytes, (j - 1) * RECORD_ENTRY_BYTES, heldBytes, 0, depth) > 0)
    words.set(held, j * WORDS_PER_ENTRY)
  }
}

function entryCount(table: Uint8Array): number {
  if (table.length % RECORD_ENTRY_BYTES !== 0) throw new RangeError(`a table must be whole ${RECORD_ENTRY_BYTES}-byte entries`)
  return table.length / RECORD_ENTRY_BYTES
}

/** A word view of the table, or null when its bytes are not 4-byte aligned. */
function wordsOf(table: Uint8Array, from: number, to: number): Int32Array | null {
  const n = entryCount(table)
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > n || from > to) {
    throw new RangeError(`entries [${from}, ${to}) are outside the table (size ${n})`)
  }
  if (table.byteOffset % 4 !== 0) return null
  return new Int32Array(table.buffer, table.byteOffset, table.length / 4)
}

function sortUnaligned(table: Uint8Array, from: number, to: number, depth: number): void {
  const copy = alignedCopy(table, from, to)
  sortEntries(copy, 0, to - from, depth)
  table.set(copy, from * RECORD_ENTRY_BYTES)
}

function alignedCopy(table: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(table.subarray(from * RECORD_ENTRY_BYTES, to * RECORD_ENTRY_BYTES)) // a copy, even of a Buffer
}

function checkDepth(depth: number): void {
  if (!Number.isInteger(depth) || depth < 0 || depth >= RECORD_ENTRY_BYTES) {
    throw new RangeError(`depth must be an integer in [0, ${RECORD_ENTRY_BYTES - 1}]`)
  }
}
