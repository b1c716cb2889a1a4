// `bkc devnet`'s status display: what each node reports (pure formatting)
// and, on a terminal, a block of lines redrawn in place.
import { formatColumns } from './plan.js'

/** The getStatus fields the devnet shows. */
export interface NodeStatus {
  height: number
  hash: string
  peers: number
  pending: number
  mining: boolean
}

export type NodeView =
  | { name: string; state: 'up'; status: NodeStatus }
  /** The process runs but its RPC did not answer this round. */
  | { name: string; state: 'unreachable'; error: string }
  /** The process has exited. */
  | { name: string; state: 'down'; exit: string }

/**
 * On a slots network: each validating node's share of the recent blocks and
 * the share of empty slots, from getValidators.
 */
export interface SlotShares {
  blocks: number
  /** Node name → share of the blocks it won, and its proof type. */
  byNode: Map<string, { proofType: string; won: number }>
  empty: number
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0

/** Shares from a getValidators result; `keys` maps a node's miner address to its name. */
export function toSlotShares(v: unknown, keys: ReadonlyMap<string, { name: string; proofType: string }>): SlotShares | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const r = v as { blocks?: unknown; emptyBlocks?: unknown; validators?: unknown }
  if (!isCount(r.blocks) || !isCount(r.emptyBlocks) || r.emptyBlocks > r.blocks || !Array.isArray(r.validators)) return undefined
  const byNode = new Map<string, { proofType: string; won: number }>()
  for (const k of keys.values()) byNode.set(k.name, { proofType: k.proofType, won: 0 })
  for (const x of r.validators as unknown[]) {
    if (typeof x !== 'object' || x === null) return undefined
    const { key, blocksWon } = x as { key?: unknown; blocksWon?: unknown }
    if (typeof key !== 'string' || !isCount(blocksWon)) return undefined
    const node = keys.get(key)
    if (node) byNode.get(node.name)!.won += blocksWon
  }
  return { blocks: r.blocks, byNode, empty: r.emptyBlocks }
}

const pct = (n: number, of: number): string => (of === 0 ? '0%' : `${Math.round((100 * n) / of)}%`)

/** "pow node0 41% · pom node1 30% · pos node2 22% · empty 7% of the last 100 blocks" */
export function formatShares(s: SlotShares): string {
  const parts = [...s.byNode].map(([name, v]) => `${v.proofType} ${name} ${pct(v.won, s.blocks)}`)
  return `${[...parts, `empty ${pct(s.empty, s.blocks)}`].join(' · ')} of the last ${s.blocks} blocks`
}

/** Picks the shown fields out of a getStatus result; undefined when it is not one. */
export function toNodeStatus(v: unknown): NodeStatus | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const s = v as Record<string, unknown>
  if (!isCount(s.height) || typeof s.hash !== 'string' || !isCount(s.peers) || !isCount(s.pending) || typeof s.mining !== 'boolean')
    return undefined
  return { height: s.height, hash: s.hash, peers: s.peers, pending: s.pending, mining: s.mining }
}

export function shortHash(hash: string): string {
  return hash.slice(0, 8)
}

/** "in sync at 42 (0a1b2c3d)", or how far apart the nodes are, and who is down. */
export function syncSummary(views: readonly NodeView[]): string {
  const up = views.flatMap((v) => (v.state === 'up' ? [v.status] : []))
  const parts: string[] = []
  if (up.length > 0) {
    const tips = new Set(up.map((s) => s.hash))
    if (tips.size === 1) {
      parts.push(`in sync at ${up[0]!.height} (${shortHash(up[0]!.hash)})`)
    } else {
      const heights = up.map((s) => s.height)
      parts.push(`not in sync: ${tips.size} tips, heights ${Math.min(...heights)}-${Math.max(...heights)}`)
    }
  }
  const down = views.filter((v) => v.state === 'down').map((v) => v.name)
  if (down.length > 0) parts.push(`down: ${down.join(', ')}`)
  const unreachable = views.filter((v) => v.state === 'unreachable').map((v) => v.name)
  if (unreachable.length > 0) parts.push(`not answering: ${unreachable.join(', ')}`)
  if (parts.length === 0) parts.push('no node answers')
  return parts.join('; ')
}

function clock(now: Date): string {
  return now.toTimeString().slice(0, 8)
}

/** One line per node plus a summary line: the terminal display. */
export function formatStatusBlock(views: readonly NodeView[], now: Date, shares?: SlotShares): string[] {
  const rows = views.map((v): string[] => {
    if (v.state === 'down') return [v.name, `down (${v.exit})`]
    if (v.state === 'unreachable') return [v.name, `not answering (${v.error})`]
    const s = v.status
    return [v.name, `height ${s.height}`, `tip ${shortHash(s.hash)}`, `peers ${s.peers}`, `pool ${s.pending}`, s.mining ? 'mining' : '']
  })
  return [...formatColumns(rows), `${clock(now)}  ${syncSummary(views)}`, ...(shares ? [formatShares(shares)] : [])]
}

/** Everything on one line: the periodic display when stdout is a file or pipe. */
export function formatStatusLine(views: readonly NodeView[], now: Date, shares?: SlotShares): string {
  const nodes = views.map((v) => {
    if (v.state === 'down') return `${v.name} down`
    if (v.state === 'unreachable') return `${v.name} ?`
    const s = v.status
    return `${v.name} h=${s.height} ${shortHash(s.hash)} peers=${s.peers} pool=${s.pending}${s.mining ? ' mining' : ''}`
  })
  return `${clock(now)} ${nodes.join(' | ')} | ${syncSummary(views)}${shares ? ` | ${formatShares(shares)}` : ''}`
}

/**
 * A block of lines redrawn in place on a terminal (ANSI cursor-up and
 * erase). Messages printed through `note` go above the block, which is
 * drawn again afresh on the next `draw`.
 */
export class StatusBoard {
  private drawn = 0

  constructor(private readonly out: NodeJS.WriteStream) {}

  draw(lines: readonly string[]): void {
    // A line wider than the terminal wraps and would throw the cursor-up count off.
    const width = Math.max(20, (this.out.columns || 80) - 1)
    const text = lines.map((l) => ([...l].length > width ? [...l].slice(0, width - 1).join('') + '…' : l))
    this.out.write(this.erase() + text.map((l) => l + '\n').join(''))
    this.drawn = text.length
  }

  note(text: string): void {
    this.out.write(this.erase() + text + (text.endsWith('\n') ? '' : '\n'))
    this.drawn = 0
  }

  private erase(): string {
    if (this.drawn === 0) return ''
    const n = this.drawn
    this.drawn = 0
    return `\r\x1b[${n}A\x1b[J`
  }
}
