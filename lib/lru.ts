// A bounded set that forgets the least recently used entry first. Used for
// per-peer "known inventory" (blocks and txs a peer has seen or sent), so a
// long-lived connection costs a fixed amount of memory however much it relays.

export class LruSet<K> {
  readonly max: number
  // A Map iterates in insertion order, so re-inserting an entry moves it to the
  // back and the first key is always the least recently used one.
  private readonly entries = new Map<K, true>()

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`LruSet max must be a positive integer, got ${max}`)
    this.max = max
  }

  /** Membership test; a hit counts as a use, so hot entries survive eviction. */
  has(k: K): boolean {
    if (!this.entries.has(k)) return false
    this.entries.delete(k)
    this.entries.set(k, true)
    return true
  }

  /** Adds or refreshes `k`, evicting the least recently used entries past `max`. */
  add(k: K): void {
    this.entries.delete(k)
    this.entries.set(k, true)
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as K
      this.entries.delete(oldest)
    }
  }

  delete(k: K): boolean {
    return this.entries.delete(k)
  }

  get size(): number {
    return this.entries.size
  }

  clear(): void {
    this.entries.clear()
  }
}
