// Pure rules for block catch-up and relay: which heights a block locator
// names, where a peer's chain forks from ours, which blocks to send for a
// GET_BLOCKS and how many fit in one BLOCKS frame, and the bounded pool of
// orphan blocks (parent not yet known). No sockets, no storage.
import { MAX_BLOCKS_PER_MESSAGE, MAX_LOCATOR } from '../../protocol/chain/messages.js'

/** Locator entries listed one by one below the tip before the steps start doubling. */
const DENSE_LOCATOR_ENTRIES = 10

/**
 * Heights for a block locator: the tip and the 9 below it one by one, then
 * steps doubling (tip-11, tip-15, tip-23 ...), always ending at 0; at most
 * MAX_LOCATOR entries, strictly decreasing. Dense near the tip because forks
 * are almost always shallow; doubling keeps a deep fork within 64 entries.
 */
export function locatorHeights(tipHeight: number): number[] {
  if (!Number.isSafeInteger(tipHeight) || tipHeight < 0) {
    throw new RangeError(`locator tip height must be a non-negative safe integer, got ${tipHeight}`)
  }
  const out: number[] = []
  let height = tipHeight
  let step = 1
  // One slot is kept for genesis, so a peer on our network always finds a match.
  while (height > 0 && out.length < MAX_LOCATOR - 1) {
    out.push(height)
    if (out.length >= DENSE_LOCATOR_ENTRIES) step *= 2
    height -= step
  }
  out.push(0)
  return out
}

/**
 * Serving GET_BLOCKS: the height of the first locator hash (newest first) that
 * is on our best chain, i.e. the height after which to start sending. Nothing
 * matching means the peer's chain shares only genesis with ours (peers agree
 * on genesis in HELLO), so the answer is then 0.
 */
export function forkHeight(locator: readonly string[], heightOnBestChain: (hash: string) => number | undefined): number {
  for (const hash of locator) {
    const height = heightOnBestChain(hash)
    if (height !== undefined) return height
  }
  return 0
}

/**
 * Heights to send for GET_BLOCKS: `from + 1` up to `tipHeight`, at most `max`
 * (and never more than one BLOCKS message may carry). `from` may be -1 to
 * start at genesis. The caller trims the list further with `fitBlocks`.
 */
export function heightsToServe(from: number, tipHeight: number, max: number): number[] {
  if (!Number.isSafeInteger(from) || from < -1) throw new RangeError(`from must be a safe integer >= -1, got ${from}`)
  if (!Number.isSafeInteger(tipHeight) || tipHeight < 0)
    throw new RangeError(`tip height must be a non-negative safe integer, got ${tipHeight}`)
  if (!Number.isSafeInteger(max)) throw new RangeError(`max must be a safe integer, got ${max}`)
  const count = Math.min(max, MAX_BLOCKS_PER_MESSAGE, tipHeight - from)
  const out: number[] = []
  for (let i = 1; i <= count; i++) out.push(from + i)
  return out
}

/**
 * Worst-case msgpack bytes of a BLOCKS payload besides the blocks: fixmap (1),
 * fixstr "blocks" (7) and an array32 header (5), rounded up.
 */
export const BLOCKS_PAYLOAD_OVERHEAD_BYTES = 16
/** Worst-case msgpack header of one encoded block (bin32). */
export const BLOCK_BIN_HEADER_BYTES = 5

/**
 * How many of these encoded blocks, taken in order, fit in one BLOCKS payload
 * of `budget` bytes (e.g. MAX_P2P_PAYLOAD_BYTES), counting msgpack headers at
 * their largest so the frame can never exceed the cap. 0 when even the first
 * does not fit; never more than MAX_BLOCKS_PER_MESSAGE.
 */
export function fitBlocks(sizes: readonly number[], budget: number): number {
  let used = BLOCKS_PAYLOAD_OVERHEAD_BYTES
  let n = 0
  for (const size of sizes) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`block size must be a non-negative integer, got ${size}`)
    if (n >= MAX_BLOCKS_PER_MESSAGE) break
    used += BLOCK_BIN_HEADER_BYTES + size
    if (used > budget) break
    n++
  }
  return n
}

/** A block whose parent is unknown, held until the parent arrives. */
export interface Orphan<B> {
  hash: string
  prev: string
  block: B
  /** Encoded bytes, counted against the pool's byte bound. */
  size: number
  /** Who sent it, so one peer cannot fill the pool and its orphans go when it does. */
  peer: number
  receivedAt: number
}

export interface OrphanPoolOptions {
  maxBlocks?: number
  maxBytes?: number
  maxPerPeer?: number
}

export const DEFAULT_MAX_ORPHANS = 200
export const DEFAULT_MAX_ORPHAN_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_ORPHANS_PER_PEER = 50

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`OrphanPool ${name} must be a positive integer, got ${value}`)
  return value
}

/**
 * Orphan blocks bounded by count, bytes and per-peer count. "Oldest" means
 * first added (Map insertion order), not `receivedAt`, so eviction does not
 * depend on clocks. Indexed by hash, by parent hash and by peer so every
 * operation costs time proportional to what it returns or evicts.
 */
export class OrphanPool<B> {
  readonly maxBlocks: number
  readonly maxBytes: number
  readonly maxPerPeer: number
  private readonly byHash = new Map<string, Orphan<B>>()
  private readonly byPrev = new Map<string, Set<string>>()
  private readonly byPeer = new Map<number, Set<string>>()
  private totalBytes = 0

  constructor(opts: OrphanPoolOptions = {}) {
    this.maxBlocks = positiveInteger('maxBlocks', opts.maxBlocks ?? DEFAULT_MAX_ORPHANS)
    this.maxBytes = positiveInteger('maxBytes', opts.maxBytes ?? DEFAULT_MAX_ORPHAN_BYTES)
    this.maxPerPeer = positiveInteger('maxPerPeer', opts.maxPerPeer ?? DEFAULT_MAX_ORPHANS_PER_PEER)
  }

  get size(): number {
    return this.byHash.size
  }

  get bytes(): number {
    return this.totalBytes
  }

  has(hash: string): boolean {
    return this.byHash.has(hash)
  }

  /**
   * Holds `o`, first evicting the same peer's oldest orphans past maxPerPeer,
   * then the pool's oldest past maxBlocks / maxBytes. False (and nothing
   * evicted) if it is already held or could never fit (size > maxBytes).
   */
  add(o: Orphan<B>): boolean {
    if (!Number.isSafeInteger(o.size) || o.size < 0) throw new RangeError(`orphan size must be a non-negative integer, got ${o.size}`)
    if (this.byHash.has(o.hash) || o.size > this.maxBytes) return false
    const mine = this.byPeer.get(o.peer)
    while (mine !== undefined && mine.size >= this.maxPerPeer) this.remove(first(mine))
    while (this.byHash.size >= this.maxBlocks || this.totalBytes + o.size > this.maxBytes) {
      this.remove(first(this.byHash.keys()))
    }
    this.byHash.set(o.hash, o)
    addTo(this.byPrev, o.prev, o.hash)
    addTo(this.byPeer, o.peer, o.hash)
    this.totalBytes += o.size
    return true
  }

  /** Removes and returns the orphans whose parent is `prev`, oldest first. */
  takeChildren(prev: string): Orphan<B>[] {
    const hashes = this.byPrev.get(prev)
    if (hashes === undefined) return []
    const out: Orphan<B>[] = []
    for (const hash of [...hashes]) out.push(this.remove(hash))
    return out
  }

  /** Drops every orphan `peer` sent; returns how many. */
  removePeer(peer: number): number {
    const hashes = this.byPeer.get(peer)
    if (hashes === undefined) return 0
    const n = hashes.size
    for (const hash of [...hashes]) this.remove(hash)
    return n
  }

  private remove(hash: string): Orphan<B> {
    const o = this.byHash.get(hash)!
    this.byHash.delete(hash)
    deleteFrom(this.byPrev, o.prev, hash)
    deleteFrom(this.byPeer, o.peer, hash)
    this.totalBytes -= o.size
    return o
  }
}

function first<T>(items: Iterable<T>): T {
  for (const item of items) return item
  throw new Error('OrphanPool: expected a non-empty collection')
}

function addTo<K>(index: Map<K, Set<string>>, key: K, hash: string): void {
  const set = index.get(key)
  if (set) set.add(hash)
  else index.set(key, new Set([hash]))
}

function deleteFrom<K>(index: Map<K, Set<string>>, key: K, hash: string): void {
  const set = index.get(key)
  if (!set) return
  set.delete(hash)
  if (set.size === 0) index.delete(key)
}
