// Figures of a run of blocks read from a chain: the intervals between
// consecutive blocks' timestamps, who won them, and (on a slots network)
// which slots of a window have a block. Pure: the bench reads the blocks.
import { percentile } from './harness.js'

export interface BlockRow {
  height: number
  /** Epoch ms; on a slots network the start of the block's slot. */
  timestamp: number
  /** pow, pom, pos or empty. */
  proofType: string
  /** The winner's key (hex); all zeros for an empty block. */
  miner: string
  /** The block's target (64 hex digits). */
  target: string
}

export interface IntervalStats {
  /** Intervals measured: one fewer than the timestamps. */
  n: number
  meanMs: number
  medianMs: number
  p95Ms: number
  maxMs: number
}

/** Intervals between consecutive timestamps (in the order given, which must be the chain's). */
export function gapsOf(timestamps: readonly number[]): number[] {
  const gaps: number[] = []
  for (let i = 1; i < timestamps.length; i++) gaps.push(timestamps[i]! - timestamps[i - 1]!)
  return gaps
}

/** Figures of the intervals between consecutive timestamps (in the chain's order). */
export function intervalStats(timestamps: readonly number[]): IntervalStats {
  return gapStats(gapsOf(timestamps))
}

export function gapStats(gaps: readonly number[]): IntervalStats {
  const mean = gaps.length === 0 ? NaN : gaps.reduce((a, b) => a + b, 0) / gaps.length
  return {
    n: gaps.length,
    meanMs: mean,
    medianMs: percentile(gaps, 50),
    p95Ms: percentile(gaps, 95),
    maxMs: gaps.length === 0 ? NaN : Math.max(...gaps),
  }
}

/** How many blocks each key of `keyOf` has, in first-seen order. */
export function countBy(blocks: readonly BlockRow[], keyOf: (b: BlockRow) => string): Map<string, number> {
  const out = new Map<string, number>()
  for (const b of blocks) out.set(keyOf(b), (out.get(keyOf(b)) ?? 0) + 1)
  return out
}

export interface SlotWindow {
  genesisMs: number
  slotMs: number
  /** First slot of the window. */
  from: number
  /** First slot after it. */
  to: number
}

export function slotOf(w: Pick<SlotWindow, 'genesisMs' | 'slotMs'>, timestamp: number): number {
  return Math.floor((timestamp - w.genesisMs) / w.slotMs)
}

export interface SlotCoverage {
  slots: number
  /** Slots of the window with a block (of any kind) on the chain. */
  filled: number
  emptyBlocks: number
  proofBlocks: number
}

/** Which of the window's slots the blocks (those inside the window) fill. */
export function slotCoverage(w: SlotWindow, blocks: readonly BlockRow[]): SlotCoverage {
  const inside = blocks.filter((b) => {
    const s = slotOf(w, b.timestamp)
    return s >= w.from && s < w.to
  })
  const empty = inside.filter((b) => b.proofType === 'empty').length
  return {
    slots: w.to - w.from,
    filled: new Set(inside.map((b) => slotOf(w, b.timestamp))).size,
    emptyBlocks: empty,
    proofBlocks: inside.length - empty,
  }
}

/** log2 of a target given as hex digits, for printing how far it moved. */
export function log2Target(hex: string): number {
  return Math.log2(Number(BigInt(`0x${hex}`)))
}

export interface SettleRule {
  /** Intervals in the moving mean. */
  window: number
  targetMs: number
  /** Allowed relative distance of the moving mean from `targetMs` (0.2 = ±20 %). */
  tolerance: number
}

/**
 * After a hash-rate step: the first k >= `window` such that the mean of
 * intervals k-window..k-1 (interval i ends at the step's block + i + 1) is
 * within the tolerance of the target, i.e. how many blocks after the step
 * the chain is back on its block time; null when it never is in `gaps`.
 */
export function blocksUntilSettled(gaps: readonly number[], rule: SettleRule): number | null {
  let sum = 0
  for (let k = 1; k <= gaps.length; k++) {
    sum += gaps[k - 1]!
    if (k > rule.window) sum -= gaps[k - 1 - rule.window]!
    if (k >= rule.window && Math.abs(sum / rule.window - rule.targetMs) <= rule.tolerance * rule.targetMs) return k
  }
  return null
}

/** The mean of each `window` consecutive gaps: entry j covers gaps j..j+window-1 (so it ends `window + j` blocks after the first). */
export function movingMeans(gaps: readonly number[], window: number): number[] {
  const out: number[] = []
  let sum = 0
  for (let k = 0; k < gaps.length; k++) {
    sum += gaps[k]!
    if (k >= window) sum -= gaps[k - window]!
    if (k >= window - 1) out.push(sum / window)
  }
  return out
}
