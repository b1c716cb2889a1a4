// Block propagation through five nodes: the time from a block's creation
// (its submission to node 0) to its acceptance by every node, for empty
// blocks and for blocks of 1,000 signed transfers, in two layouts: the
// devnet's (nodes 1-4 bootstrap to node 0, ADDR gossip meshes them) and a
// line 0-1-2-3-4 that gives the cost of each further hop.
//
// Node 0 runs in this process, so blocks go in through chain.submitBlock
// with no RPC added for the bench; nodes 1-4 are `bkc start` child
// processes, each on its own event loop, and a block's acceptance there is
// the timestamp of its "block connected" JSON log line (written before the
// node relays it). All processes read the same clock, at 1 ms resolution.
//
// Every node validates every signature before it relays a block, so a full
// block costs one validation per hop; on the line that makes the full case
// the slow one, hence its own, smaller count (--line-blocks).
//
//   node dist/bench/propagation.js [--blocks 30] [--txs 1000] [--line-blocks 10]
import { join } from 'node:path'
import { blockHash, encodeBlock, type Block } from '../protocol/chain/block-codec.js'
import { toHex } from '../protocol/wire/bytes.js'
import { DEFAULT_P2P_PORT, DEFAULT_RPC_PORT } from '../protocol/chain/defaults.js'
import type { Transaction } from '../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../protocol/chain/keys.js'
import type { NetworkParams } from '../node/chain/params.js'
import { createLogger } from '../lib/log.js'
import { BkcNode } from '../node/node.js'
import { mine, parentOf, type ParentRef } from './lib/fixtures.js'
import {
  benchNetwork,
  FastSigner,
  fmtInt,
  fmtMs,
  intFlag,
  keyPairs,
  loadAverage,
  measure,
  median,
  percentile,
  printHeader,
  printTable,
  signedTransfer,
  tempDir,
} from './lib/harness.js'
import { ChildNode, loopbackPrefix, sleep, waitUntil, writeNetworkFile } from './lib/net.js'

const BLOCKS = intFlag('blocks', 30)
const TXS = intFlag('txs', 1000)
const LINE_FULL_BLOCKS = Math.min(intFlag('line-blocks', 8), BLOCKS)
/** Blocks submitted first in each case and not counted: JIT, caches, first LevelDB compactions. */
const WARMUP = { empty: 3, full: 2 }
const NODES = 5
const ACCOUNTS = 200
const BALANCE = 1_000_000_000
const P2P_PORT = DEFAULT_P2P_PORT
const RPC_PORT = DEFAULT_RPC_PORT
const NETWORK_ID = 'bkc-bench-propagation'
/** Pause after every node has a block, so relays of copies between peers are over before the next. */
const SETTLE_MS = { empty: 50, full: 100 }

type Topology = 'mesh' | 'line'
type Case = 'empty' | 'full'

interface Chain {
  net: NetworkParams
  balances: Record<string, number>
  /** Warm-up + BLOCKS empty blocks, then warm-up + BLOCKS blocks of TXS transfers. */
  empty: Block[]
  full: Block[]
}

/** Empty blocks on genesis, then blocks of signed transfers (senders take turns, so nonces stay consecutive). */
function buildChain(): Chain {
  const accounts = keyPairs(ACCOUNTS)
  const miner = generateKeyPair().address
  const balances = Object.fromEntries(accounts.map((k) => [toHex(k.address), BALANCE]))
  const net = benchNetwork(balances, NETWORK_ID)
  const signers = accounts.map((k) => new FastSigner(k.privateKey))
  const nonces = accounts.map(() => 0)
  let parent: ParentRef = parentOf(net.genesis)
  const next = (txs: Transaction[] = []): Block => {
    const b = mine(net, parent, { miner, txs, timestamp: parent.timestamp + 1000 })
    parent = parentOf(b)
    return b
  }
  const empty = Array.from({ length: WARMUP.empty + BLOCKS }, () => next())
  let sender = 0
  const full = Array.from({ length: WARMUP.full + BLOCKS }, () => {
    const timestamp = parent.timestamp + 1000
    const txs: Transaction[] = []
    for (let j = 0; j < TXS; j++) {
      const from = sender
      sender = (sender + 1) % ACCOUNTS
      const to = (from + 1 + (j % (ACCOUNTS - 1))) % ACCOUNTS
      txs.push(
        signedTransfer(net, signers[from]!, accounts[from]!.address, accounts[to]!.address, 1 + (j % 50), nonces[from]!++, timestamp),
      )
    }
    return next(txs)
  })
  return { net, balances, empty, full }
}

interface Net {
  node0: BkcNode
  children: ChildNode[]
  /** Hops from node 0, by node index (from the connections actually made). */
  hops: number[]
  links: number
}

interface PeerView {
  address: string
  listen: string | null
  state: string
}

/**
 * Node 0 here, nodes 1-4 as children. Mesh: all bootstrap to node 0 at
 * once, as `bkc devnet` does. Line: node i dials node i-1 only, and the
 * peer limits leave no room for any other connection.
 */
async function startNet(topology: Topology, chain: Chain, dir: string, prefix: string, networkFile: string): Promise<Net> {
  const host = (i: number): string => `${prefix}.${53 + i}.5`
  const line = topology === 'line'
  const node0 = await BkcNode.start({
    listen: host(0),
    port: P2P_PORT,
    rpcPort: 0,
    dataDir: join(dir, 'node0'),
    network: chain.net,
    logger: createLogger({ level: 'warn' }),
    ...(line ? { maxOutbound: 0, maxPeers: 1 } : {}),
  })
  const children: ChildNode[] = []
  const spawnChild = (i: number): ChildNode => {
    const args = [
      '--listen',
      host(i),
      '--port',
      String(P2P_PORT),
      '--rpc-port',
      String(RPC_PORT),
      '--data-dir',
      join(dir, `node${i}`),
      '--network',
      networkFile,
    ]
    args.push('--bootstrap', `${host(line ? i - 1 : 0)}:${P2P_PORT}`)
    if (line) args.push('--max-outbound', '1', '--max-peers', i === NODES - 1 ? '1' : '2')
    const c = new ChildNode(`node${i}`, host(i), RPC_PORT, args)
    children.push(c)
    return c
  }
  try {
    if (line) {
      // One at a time, so each node's only outbound slot goes to its predecessor.
      for (let i = 1; i < NODES; i++) {
        const c = spawnChild(i)
        await c.waitForLog((l) => l.message === 'peer connected', 15_000, 'peer connected')
      }
    } else {
      const ready = []
      for (let i = 1; i < NODES; i++) ready.push(spawnChild(i).waitForLog((l) => l.message === 'node ready', 15_000, 'node ready'))
      for (const p of ready) p.catch(() => undefined) // the first failure is reported by Promise.all
      await Promise.all(ready)
    }
    const wanted = line ? NODES - 1 : (NODES * (NODES - 1)) / 2
    let links = 0
    let edges: Array<[number, number]> = []
    const survey = async (): Promise<boolean> => {
      try {
        edges = await linksOf(node0, children, host)
      } catch {
        return false // a child's RPC not answering yet
      }
      links = edges.length
      return links >= wanted
    }
    // Gossip may leave the mesh short of complete: then it is measured as it formed (the links are printed).
    await waitUntil(survey, 20_000, `${wanted} links`, 250).catch(() => undefined)
    return { node0, children, hops: hopsFrom0(edges), links }
  } catch (err) {
    await stopNet({ node0, children, hops: [], links: 0 })
    throw err
  }
}

/** The READY connections between the five nodes, each once, as index pairs. */
async function linksOf(node0: BkcNode, children: ChildNode[], host: (i: number) => string): Promise<Array<[number, number]>> {
  const index = new Map(Array.from({ length: NODES }, (_, i) => [host(i), i]))
  const indexOf = (addr: string | null): number | undefined => (addr === null ? undefined : index.get(addr.slice(0, addr.lastIndexOf(':'))))
  const seen = new Set<string>()
  const out: Array<[number, number]> = []
  const add = (a: number, b: number | undefined): void => {
    if (b === undefined || a === b) return
    const key = a < b ? `${a}-${b}` : `${b}-${a}`
    if (!seen.has(key)) out.push(a < b ? [a, b] : [b, a])
    seen.add(key)
  }
  for (const p of node0.connman!.ready()) add(0, indexOf(`${p.address.host}:${p.address.port}`))
  const views = await Promise.all(children.map((c) => c.rpc<PeerView[]>('getPeers')))
  views.forEach((peers, k) => {
    for (const p of peers) if (p.state === 'ready') add(k + 1, indexOf(p.listen) ?? indexOf(p.address))
  })
  return out
}

function hopsFrom0(edges: Array<[number, number]>): number[] {
  const hops = Array.from({ length: NODES }, (_, i) => (i === 0 ? 0 : Infinity))
  for (let changed = true; changed; ) {
    changed = false
    for (const [a, b] of edges) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        if (hops[from]! + 1 < hops[to]!) {
          hops[to] = hops[from]! + 1
          changed = true
        }
      }
    }
  }
  return hops
}

async function stopNet(net: Net): Promise<void> {
  await Promise.all(net.children.map((c) => c.stop()))
  await net.node0.stop()
}

/** One block: milliseconds from submission to acceptance, per node (index 0 = node 0). */
async function propagate(net: Net, block: Block): Promise<number[]> {
  const hash = toHex(blockHash(block.header))
  const seen = net.children.map((c) =>
    c.waitForLog((l) => l.message === 'block connected' && l.fields.hash === hash, 60_000, `block connected ${hash.slice(0, 12)}…`),
  )
  for (const p of seen) p.catch(() => undefined) // a failed submit below is the error to report, not these
  let accepted0 = NaN
  const onTip = (change: { connected: Array<{ hash: string }> }): void => {
    if (change.connected.some((c) => c.hash === hash)) accepted0 = Date.now()
  }
  net.node0.chain.on('tip', onTip)
  const t0 = Date.now()
  try {
    const r = await net.node0.chain.submitBlock(block)
    if (r.status !== 'connected')
      throw new Error(`node 0 did not connect block ${block.header.height}: ${r.status}${'error' in r ? ` (${r.error.message})` : ''}`)
    const lines = await Promise.all(seen)
    return [accepted0 - t0, ...lines.map((l) => l.at - t0)]
  } finally {
    net.node0.chain.off('tip', onTip)
  }
}

interface Result {
  topology: Topology
  kase: Case
  /** Per counted block, per node. */
  samples: number[][]
  hops: number[]
  links: number
  /** BLOCK messages each child received per block (copies included), and how many were duplicates. */
  received: number
  duplicates: number
}

async function runTopology(topology: Topology, chain: Chain, prefix: string, networkFile: string, tmp: string): Promise<Result[]> {
  const dir = join(tmp, topology)
  const net = await startNet(topology, chain, dir, prefix, networkFile)
  const results: Result[] = []
  try {
    const hopsText = net.hops
      .slice(1)
      .map((h, i) => `node${i + 1} ${h}`)
      .join(', ')
    process.stderr.write(`${topology}: ${net.links} links; hops from node 0: ${hopsText}\n`)
    for (const kase of ['empty', 'full'] as const) {
      const before = await netStats(net)
      const samples: number[][] = []
      const counted = topology === 'line' && kase === 'full' ? LINE_FULL_BLOCKS : BLOCKS
      const blocks = chain[kase].slice(0, WARMUP[kase] + counted)
      for (let i = 0; i < blocks.length; i++) {
        const s = await propagate(net, blocks[i]!)
        if (i >= WARMUP[kase]) samples.push(s)
        await sleep(SETTLE_MS[kase])
      }
      const after = await netStats(net)
      const perChild = (f: 'blocksReceived' | 'blocksDuplicate'): number =>
        after.reduce((sum, a, k) => sum + a[f] - before[k]![f], 0) / (net.children.length * blocks.length)
      results.push({
        topology,
        kase,
        samples,
        hops: net.hops,
        links: net.links,
        received: perChild('blocksReceived'),
        duplicates: perChild('blocksDuplicate'),
      })
      process.stderr.write(`${topology} ${kase}: done\n`)
    }
  } finally {
    await stopNet(net)
  }
  return results
}

interface NetStatsView {
  blocksReceived: number
  blocksDuplicate: number
}

function netStats(net: Net): Promise<NetStatsView[]> {
  return Promise.all(net.children.map((c) => c.rpc<NetStatsView>('getNetStats')))
}

function caseName(kase: Case): string {
  return kase === 'empty' ? 'empty' : `${fmtInt(TXS)} transfers`
}

function report(results: Result[], sizes: Record<Case, number>): void {
  const row = (name: string, xs: number[]): string[] => [name, fmtMs(median(xs)), fmtMs(percentile(xs, 95)), fmtMs(Math.max(...xs))]
  printTable(
    [
      'case',
      'layout',
      'links',
      'block bytes',
      'blocks',
      'node 0 accepts (median)',
      'every node: median',
      'p95',
      'max',
      'copies received / node / block',
    ],
    results.map((r) => {
      const all = r.samples.map((s) => Math.max(...s))
      return [
        caseName(r.kase),
        r.topology,
        String(r.links),
        fmtInt(sizes[r.kase]),
        String(r.samples.length),
        fmtMs(median(r.samples.map((s) => s[0]!))),
        ...row('', all).slice(1),
        r.received.toFixed(2),
      ]
    }),
  )
  console.log('')
  printTable(
    ['case', 'layout', 'hops from node 0', 'nodes', 'accepted after: median', 'p95', 'max'],
    results.flatMap((r) => {
      const byHop = new Map<number, number[]>()
      r.samples.forEach((s) =>
        s.forEach((ms, node) => {
          if (node === 0) return
          const h = r.hops[node]!
          byHop.set(h, [...(byHop.get(h) ?? []), ms])
        }),
      )
      return [...byHop.keys()]
        .sort((a, b) => a - b)
        .map((h) => {
          const nodes = r.hops.filter((x) => x === h).length
          return [caseName(r.kase), r.topology, String(h), String(nodes), ...row('', byHop.get(h)!).slice(1)]
        })
    }),
  )
}

async function main(): Promise<void> {
  const prefix = loopbackPrefix()
  printHeader(
    'bench/propagation — block propagation through five nodes',
    [
      `node 0 in this process (blocks submitted with chain.submitBlock); nodes 1-4 as child processes (\`bkc start --log-format json\`),`,
      `acceptance = the node's "block connected" log timestamp (same clock, 1 ms resolution); loopback ${prefix}.53-57.5;`,
      `${BLOCKS} blocks per case (${LINE_FULL_BLOCKS} for full blocks on the line) after ${WARMUP.empty} (empty) or ${WARMUP.full} (full) warm-up blocks, one at a time;`,
      `layouts: mesh (the devnet's: all bootstrap to node 0, ADDR gossip does the rest) and line (0-1-2-3-4, each relays to the next)`,
      `load average at start: ${loadAverage()}`,
    ].join('\n'),
  )
  let chain!: Chain
  const build = await measure(() => {
    chain = buildChain()
  })
  process.stderr.write(`chain built in ${fmtMs(build.ms)}\n`)
  const sizes = { empty: encodeBlock(chain.empty[0]!).length, full: encodeBlock(chain.full[0]!).length }
  const tmp = tempDir('bkc-bench-propagation-')
  try {
    const networkFile = writeNetworkFile(join(tmp.path, 'network.json'), { balances: chain.balances, networkId: NETWORK_ID }, chain.net)
    const results = [
      ...(await runTopology('mesh', chain, prefix, networkFile, tmp.path)),
      ...(await runTopology('line', chain, prefix, networkFile, tmp.path)),
    ]
    report(results, sizes)
    console.log('')
    console.log(
      'every node = the slowest of the five for that block; "node 0 accepts" = its own submitBlock (validation and storage, no network);',
    )
    console.log('"copies received" = BLOCK messages a child got per block (1 = no redundant copy). All five nodes share 2 cores.')
    console.log(`load average at end: ${loadAverage()}`)
  } finally {
    tmp.cleanup()
  }
}

await main()
