// The `slots` engine's target rule. Each block moves its child's target by
// a fixed factor: up after an empty block (the slot found no proof), down
// after a proof block. The factors balance where EMPTY_SHARE of the slots
// are empty, so the target settles wherever the validators' records make
// that share, and follows them as validators start, stop or change size.
// Fine-grained: factors in 1/65536 steps on a 192-bit target, not whole bits.
// See docs/PROTOCOL.md "Slots: target".

/** The share of empty slots the rule holds: 7.5 %, so 92.5 % of slots get a proof. */
export const EMPTY_SHARE = 0.075
/** The gain: how far one block moves the target (in e-folds per unit of share error). */
export const GAIN = 0.5
const ONE = 65_536n
/** 65536 · e^(GAIN·(1 − EMPTY_SHARE)) = 104073.7, taken as 104076: the step after an empty block (the balance moves by 6e-6). */
export const UP_FACTOR = 104_076n
/** round(65536 · e^(−GAIN·EMPTY_SHARE)) = 63124: the step after a proof block. */
export const DOWN_FACTOR = 63_124n

/**
 * The target a child must carry, given its parent's target and whether the
 * parent filled its slot with a proof; clamped to [1, limit].
 */
export function nextSlotTarget(parentTarget: bigint, parentEmpty: boolean, limit: bigint): bigint {
  const next = (parentTarget * (parentEmpty ? UP_FACTOR : DOWN_FACTOR)) / ONE
  if (next < 1n) return 1n
  return next > limit ? limit : next
}
