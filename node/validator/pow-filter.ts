// The proof-of-work threads' cheap test: nearly every record is rejected on
// its first 8 bytes with float arithmetic, before any BigInt distance.
//
// With R, C the top 52 bits of record r and challenge c (192-bit), r = R·2^140
// + r' and c = C·2^140 + c' where |r' − c'| < 2^140. So |r − c| < t implies
// |R − C|·2^140 < t + 2^140, i.e. |R − C| ≤ floor(t / 2^140) + 1. Values below
// 2^53 are exact doubles, so the test never rejects a record within t.
const LOW_BITS = 140n

/** The top 52 bits of the 24 bytes at `offset`, as an exact integer. */
export function top52(bytes: Uint8Array, offset: number): number {
  const hi = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
  const lo = ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0
  return hi * 0x10_0000 + (lo >>> 12)
}

/** The largest |top52(record) − top52(challenge)| a record within `target` can have. */
export function top52Limit(target: bigint): number {
  // Beyond 2^53 the float is inexact, but it is already more than any difference.
  return Number(target >> LOW_BITS) + 1
}
