// Uniform random order: Fisher–Yates over an injectable source of [0, 1)
// numbers, so callers can seed it in tests.

/**
 * Shuffles `items` in place and returns it; every order is equally likely
 * when `random` is uniform in [0, 1). A value outside that range (a broken
 * source) still yields a permutation, never a hole or a crash.
 */
export function shuffleInPlace<T>(items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const r = random()
    const j = Number.isFinite(r) && r > 0 ? Math.min(i, Math.floor(r * (i + 1))) : 0
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
