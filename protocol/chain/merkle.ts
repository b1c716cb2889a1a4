// Transaction root. Leaves and inner nodes are hashed with different prefixes
// (as in RFC 6962) and an odd node is carried up unchanged rather than paired
// with itself, so two different transaction lists never share a root (the
// duplicate-last-leaf flaw of Bitcoin's tree, CVE-2012-2459).
import { sha256 } from '../wire/hash.js'

const LEAF = Buffer.from([0])
const NODE = Buffer.from([1])

export function merkleRoot(ids: readonly Uint8Array[]): Buffer {
  if (ids.length === 0) return sha256()
  let level: Buffer[] = ids.map((id) => sha256(LEAF, id))
  while (level.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!)
    }
    level = next
  }
  return level[0]!
}
