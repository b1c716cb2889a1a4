// ASERT difficulty retargeting (the aserti3-2d rule of Bitcoin Cash, in
// milliseconds): the target is the anchor's target scaled by 2^(x / halfLife),
// where x is how far the parent is behind (x > 0, easier) or ahead (x < 0,
// harder) of the anchor's schedule of one block per `targetBlockTimeMs`.
// Integer fixed-point throughout, so every node computes the same target.
// Pure: it needs the anchor, the parent's height and timestamp, and constants.

const TWO_POW_256 = 1n << 256n
/** 2^x for x in [0, 1) with 16 fractional bits, as aserti3-2d's cubic. */
const C1 = 195_766_423_245_049n
const C2 = 971_821_376n
const C3 = 5_127n
const ROUND = 1n << 47n

export interface AsertParams {
  /** The target of the block after the anchor when the parent is on schedule. */
  anchorTarget: bigint
  /** The easiest target a block may carry; the result never exceeds it. */
  powLimit: bigint
  targetBlockTimeMs: number
  /** Time behind schedule that doubles the target (ahead: halves it). */
  halfLifeMs: number
}

/**
 * The target for the child of a parent `heightDelta` blocks after the anchor
 * whose timestamp is `timeDeltaMs` after the anchor's. The anchor itself
 * (heightDelta 0, timeDelta 0) gives exactly `anchorTarget`. In [1, powLimit].
 */
export function asertTarget(p: AsertParams, heightDelta: number, timeDeltaMs: number): bigint {
  if (!Number.isSafeInteger(heightDelta) || heightDelta < 0) throw new RangeError('heightDelta must be a non-negative safe integer')
  if (!Number.isSafeInteger(timeDeltaMs)) throw new RangeError('timeDeltaMs must be a safe integer')
  // BigInt division truncates towards zero, like aserti3-2d's C++ int64 division.
  const exponent = ((BigInt(timeDeltaMs) - BigInt(p.targetBlockTimeMs) * BigInt(heightDelta)) * 65536n) / BigInt(p.halfLifeMs)
  const shifts = exponent >> 16n // floor
  const frac = exponent & 0xffffn // in [0, 65535]
  const factor = 65536n + ((C1 * frac + C2 * frac * frac + C3 * frac * frac * frac + ROUND) >> 48n)
  // anchorTarget * factor < 2^273: beyond these shifts the result is clamped
  // anyway, and bounding them keeps a hostile timestamp from costing memory.
  if (shifts >= 256n) return p.powLimit
  if (shifts < -280n) return 1n
  let next = p.anchorTarget * factor
  next = shifts < 0n ? next >> -shifts : next << shifts
  next >>= 16n
  if (next === 0n) return 1n
  return next > p.powLimit ? p.powLimit : next
}

/** Checks the parameters once, when the network file is read. */
export function checkAsertParams(p: AsertParams): void {
  if (p.anchorTarget < 1n || p.anchorTarget >= TWO_POW_256) throw new RangeError('anchorTarget must be in [1, 2^256)')
  if (p.powLimit < p.anchorTarget || p.powLimit >= TWO_POW_256) throw new RangeError('powLimit must be in [anchorTarget, 2^256)')
  if (!Number.isSafeInteger(p.targetBlockTimeMs) || p.targetBlockTimeMs <= 0) throw new RangeError('targetBlockTimeMs must be positive')
  if (!Number.isSafeInteger(p.halfLifeMs) || p.halfLifeMs <= 0) throw new RangeError('halfLifeMs must be positive')
}

export function targetToBigInt(target: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(target.buffer, target.byteOffset, target.byteLength).toString('hex'))
}

export function bigIntToTarget(v: bigint): Buffer {
  if (v < 0n || v >= TWO_POW_256) throw new RangeError('target out of range')
  return Buffer.from(v.toString(16).padStart(64, '0'), 'hex')
}
