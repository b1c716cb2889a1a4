// The tree of known blocks (headers only) with cumulative work, and the fork
// choice over it. Pure and in memory; the chain store persists the entries
// and rebuilds the tree at startup. A block's work and its tie-break value
// come from the consensus engine.
import type { BlockHeader, ProofType } from '../../protocol/chain/block-codec.js'
import type { ConsensusEngine } from '../consensus/engine.js'

export type BlockStatus = 'valid' | 'unverified' | 'invalid'

export interface IndexEntry {
  hash: string // hex
  prev: string // hex; '' for genesis
  height: number
  timestamp: number
  /** What the engine's rules for a child need: the target, the proof type and the engine's seed. */
  target: Buffer
  proofType: ProofType
  seed: Buffer
  /** The engine's tie-break value for equal work and time (`work`: the nonce). */
  tieBreak: bigint
  work: bigint // this block's work: the engine's weight
  chainWork: bigint // cumulative, genesis included
  status: BlockStatus
}

/**
 * Fork choice: the chain with more cumulative work wins. Equal work is
 * settled by the tips, with the report's rule for competing blocks — the
 * earlier timestamp, then the larger tie-break value (the nonce, for `work`)
 * — and finally the smaller hash so that every node picks the same chain
 * from the same blocks.
 * Returns > 0 when `a` is better.
 */
export function compareChains(a: IndexEntry, b: IndexEntry): number {
  if (a.chainWork !== b.chainWork) return a.chainWork > b.chainWork ? 1 : -1
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? 1 : -1
  if (a.tieBreak !== b.tieBreak) return a.tieBreak > b.tieBreak ? 1 : -1
  if (a.hash === b.hash) return 0
  return a.hash < b.hash ? 1 : -1
}

export class BlockIndex {
  private readonly entries = new Map<string, IndexEntry>()
  private readonly children = new Map<string, string[]>()
  /** Leaves that are not invalid: the only possible best chains. */
  private readonly leaves = new Set<string>()

  constructor(private readonly engine: Pick<ConsensusEngine, 'weight' | 'tieBreak' | 'seed'>) {}

  get size(): number {
    return this.entries.size
  }

  get(hash: string): IndexEntry | undefined {
    return this.entries.get(hash)
  }

  has(hash: string): boolean {
    return this.entries.has(hash)
  }

  /** Builds an entry for a header whose parent is in the index (or genesis). */
  makeEntry(hash: string, prev: string, header: BlockHeader): IndexEntry {
    const parent = prev === '' ? undefined : this.entries.get(prev)
    const work = this.engine.weight(header)
    return {
      hash,
      prev,
      height: header.height,
      timestamp: header.timestamp,
      target: header.target,
      proofType: header.proofType,
      seed: this.engine.seed(header),
      tieBreak: this.engine.tieBreak(header),
      work,
      chainWork: (parent?.chainWork ?? 0n) + work,
      status: parent?.status === 'invalid' ? 'invalid' : 'unverified',
    }
  }

  /** Adds an entry; its parent must already be present (except genesis). */
  add(entry: IndexEntry): void {
    if (this.entries.has(entry.hash)) return
    if (entry.prev !== '' && !this.entries.has(entry.prev)) throw new Error(`block index: parent ${entry.prev} unknown`)
    this.entries.set(entry.hash, entry)
    if (entry.prev !== '') {
      const siblings = this.children.get(entry.prev)
      if (siblings) siblings.push(entry.hash)
      else this.children.set(entry.prev, [entry.hash])
      // An invalid child does not extend its parent: the parent stays a possible tip.
      if (entry.status !== 'invalid') this.leaves.delete(entry.prev)
    }
    if (entry.status !== 'invalid') this.leaves.add(entry.hash)
  }

  setStatus(hash: string, status: 'valid' | 'unverified'): void {
    const e = this.entries.get(hash)
    if (e && e.status !== 'invalid') e.status = status
  }

  /** Marks a block and all its descendants invalid; returns the hashes marked. */
  markInvalid(hash: string): string[] {
    const marked: string[] = []
    const stack = [hash]
    while (stack.length > 0) {
      const h = stack.pop()!
      const e = this.entries.get(h)
      if (!e) continue
      e.status = 'invalid'
      this.leaves.delete(h)
      marked.push(h)
      stack.push(...(this.children.get(h) ?? []))
    }
    // The parent may be a usable tip again.
    const root = this.entries.get(hash)
    const parent = root ? this.entries.get(root.prev) : undefined
    if (parent && parent.status !== 'invalid') {
      const liveChild = (this.children.get(parent.hash) ?? []).some((c) => this.entries.get(c)?.status !== 'invalid')
      if (!liveChild) this.leaves.add(parent.hash)
    }
    return marked
  }

  /** The best chain tip among blocks not known to be invalid. */
  best(): IndexEntry | undefined {
    let best: IndexEntry | undefined
    for (const h of this.leaves) {
      const e = this.entries.get(h)!
      if (best === undefined || compareChains(e, best) > 0) best = e
    }
    return best
  }

  /** Last common ancestor of two entries. */
  fork(a: IndexEntry, b: IndexEntry): IndexEntry {
    let x = a
    let y = b
    while (x.height > y.height) x = this.entries.get(x.prev)!
    while (y.height > x.height) y = this.entries.get(y.prev)!
    while (x.hash !== y.hash) {
      x = this.entries.get(x.prev)!
      y = this.entries.get(y.prev)!
    }
    return x
  }

  /** Entries after `ancestor` up to and including `tip`, oldest first. */
  path(ancestor: IndexEntry, tip: IndexEntry): IndexEntry[] {
    const out: IndexEntry[] = []
    for (let e = tip; e.hash !== ancestor.hash; e = this.entries.get(e.prev)!) out.push(e)
    return out.reverse()
  }

  /** Timestamps of `entry` and up to `count - 1` ancestors. */
  recentTimestamps(entry: IndexEntry, count: number): number[] {
    const out: number[] = []
    for (let e: IndexEntry | undefined = entry; e && out.length < count; e = this.entries.get(e.prev)) out.push(e.timestamp)
    return out
  }
}
