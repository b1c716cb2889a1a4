// How to build a vault: in single-write passes or in two phases (pos-build.ts).
//
// Two phases (fill, then sort) hash every nonce once but write every byte
// twice. Passes hold a group of whole bucket regions in memory, hash nonces
// from 0 keeping only that group's entries, sort each bucket and write it
// once to its final region; each pass hashes about as many nonces as the
// whole vault. Per vault byte (H: hashing speed in entry bytes, W: disk write
// speed), two phases cost about max(1/H, 1/W) + 1/W (fill overlaps hashing
// with writing), P passes about P/H + 1/W; so passes win while P ≤ max(1, H/W).
import type { VaultLayout } from './pos-vault.js'

export interface BuildPlan {
  method: 'passes' | 'two-phase'
  /** Buckets per pass (passes only; 0 for two-phase). */
  groupBuckets: number
  passes: number
}

export interface PlanInputs {
  /** Memory for bucket regions held by a pass; 0 or less than one region means two phases. */
  memoryBytes: number
  /** Hashing speed in entry bytes per second, all hash threads together. */
  hashBytesPerSecond: number
  /** The disk's sequential write speed, bytes per second (an estimate). */
  writeBytesPerSecond: number
}

/** Buckets a pass may hold within `memoryBytes` (at most all of them; 0 if not even one fits). */
export function groupBucketsFor(layout: VaultLayout, memoryBytes: number): number {
  if (!(memoryBytes >= layout.regionBytes)) return 0
  return Math.min(layout.buckets, Math.floor(memoryBytes / layout.regionBytes))
}

export function planBuild(layout: VaultLayout, inputs: PlanInputs): BuildPlan {
  const g = groupBucketsFor(layout, inputs.memoryBytes)
  if (g === 0) return { method: 'two-phase', groupBuckets: 0, passes: 1 }
  const passes = Math.ceil(layout.buckets / g)
  const ratio = inputs.writeBytesPerSecond > 0 ? inputs.hashBytesPerSecond / inputs.writeBytesPerSecond : Number.POSITIVE_INFINITY
  // Groups as even as the number of passes allows: the same passes in less memory.
  if (passes <= Math.max(1, ratio)) return { method: 'passes', groupBuckets: Math.ceil(layout.buckets / passes), passes }
  return { method: 'two-phase', groupBuckets: 0, passes: 1 }
}
