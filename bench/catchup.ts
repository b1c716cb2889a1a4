// Catch-up: blocks per second for a fresh node syncing a chain from a peer
// (GET_BLOCKS / BLOCKS batches), next to the rate of Chainstate.submitBlocks
// on the same blocks locally, without the network, in the same run: the
// ratio is what the protocol and the transport cost. Two chains: empty
// blocks (the main figure, --blocks) and blocks of 10 signed transfers.
//
// Node A is a `bkc start` child process on a data dir filled by the first
// baseline run; node B runs in this process on a fresh data dir each run,
// so its BLOCKS arrivals and tip moves can be timed, and is dialled to A the
// way --bootstrap does it (connman.addPeer). Every figure is a median of
// --runs runs.
//
//   node dist/bench/catchup.js [--blocks 10000] [--tx-blocks 2000] [--runs 3]
import { join } from 'node:path'
import { blockHash, decodeBlock, encodeBlock, type Block } from '../protocol/chain/block-codec.js'
import { MAX_BLOCKS_PER_MESSAGE, MAX_P2P_PAYLOAD_BYTES } from '../protocol/chain/messages.js'
import type { NetworkParams } from '../node/chain/params.js'
import { generateKeyPair } from '../protocol/chain/keys.js'
import { Chainstate } from '../node/chain/chainstate.js'
import { createLogger, silentLogger } from '../lib/log.js'
import { BkcNode } from '../node/node.js'
import { fitBlocks } from '../node/p2p/sync-rules.js'
import { ChainDb } from '../node/storage/chain-db.js'
import { genesisRef, mineChain, type TestNetworkOptions } from './lib/fixtures.js'
import { toHex } from '../protocol/wire/bytes.js'
import { DEFAULT_P2P_PORT, DEFAULT_RPC_PORT } from '../protocol/chain/defaults.js'
import {
  benchNetwork,
  buildTransferChain,
  fmtInt,
  fmtMs,
  fmtRatio,
  intFlag,
  loadAverage,
  measure,
  median,
  printHeader,
  printTable,
  tempDir,
} from './lib/harness.js'
import { ChildNode, loopbackPrefix, writeNetworkFile } from './lib/net.js'

const BLOCKS = intFlag('blocks', 10_000)
const TX_BLOCKS = intFlag('tx-blocks', 2000)
const RUNS = intFlag('runs', 3)
const TRANSFERS_PER_BLOCK = 10
const ACCOUNTS = 100
const P2P_PORT = DEFAULT_P2P_PORT
const RPC_PORT = DEFAULT_RPC_PORT
const SYNC_TIMEOUT_MS = 180_000

interface BenchChain {
  name: string
  net: NetworkParams
  netOpts: TestNetworkOptions
  blocks: Block[]
  /** Leading blocks submitted once, untimed, before the first timed run. */
  warmup: number
}

function emptyChain(): BenchChain {
  const netOpts = { balances: {}, networkId: 'bkc-bench-catchup' }
  const net = benchNetwork({}, netOpts.networkId)
  return {
    name: `${fmtInt(BLOCKS)} empty blocks`,
    net,
    netOpts,
    blocks: mineChain(net, genesisRef(net), BLOCKS, { miner: generateKeyPair().address }),
    warmup: Math.min(BLOCKS, 1000),
  }
}

function transferChain(): BenchChain {
  const c = buildTransferChain({ blocks: TX_BLOCKS, accounts: ACCOUNTS, transfersPerBlock: TRANSFERS_PER_BLOCK })
  // buildTransferChain funds every account with its default balance on network 'bkc-bench'.
  const balances = Object.fromEntries(c.accounts.map((k) => [toHex(k.address), 1_000_000_000]))
  return {
    name: `${fmtInt(TX_BLOCKS)} blocks × ${TRANSFERS_PER_BLOCK} transfers`,
    net: c.net,
    netOpts: { balances, networkId: c.net.networkId },
    blocks: c.blocks,
    warmup: Math.min(TX_BLOCKS, 100),
  }
}

/** Chainstate.submitBlocks on a fresh database, in batches the size of a BLOCKS message; ms, and optionally the serve times after. */
async function submitLocally(dir: string, chain: BenchChain, serve: boolean): Promise<{ ms: number; serveMs: number[] }> {
  const db = await ChainDb.open(dir)
  try {
    const cs = await Chainstate.open(db, chain.net, { logger: silentLogger() })
    const t = await measure(async () => {
      for (let i = 0; i < chain.blocks.length; i += MAX_BLOCKS_PER_MESSAGE) {
        const results = await cs.submitBlocks(chain.blocks.slice(i, i + MAX_BLOCKS_PER_MESSAGE))
        const bad = results.find((r) => r.status !== 'connected')
        if (bad) throw new Error(`local submitBlocks: block ${bad.hash} is ${bad.status}`)
      }
    })
    if (cs.tip.height !== chain.blocks.length)
      throw new Error(`local submitBlocks reached height ${cs.tip.height}, expected ${chain.blocks.length}`)
    return { ms: t.ms, serveMs: serve ? await serveAll(cs) : [] }
  } finally {
    await db.close()
  }
}

/**
 * What a peer does to answer each GET_BLOCKS of a full sync, as
 * net-processing's onGetBlocks does it (read by height, encode, size check,
 * decode again for the hash): ms per BLOCKS message, local, no socket.
 */
async function serveAll(cs: Chainstate): Promise<number[]> {
  const out: number[] = []
  for (let from = 0; from < cs.tip.height; from += MAX_BLOCKS_PER_MESSAGE) {
    const start = performance.now()
    const blocks: Buffer[] = []
    for (let h = from + 1; h <= Math.min(from + MAX_BLOCKS_PER_MESSAGE, cs.tip.height); h++) {
      const found = await cs.getBlockByHeight(h)
      if (!found) throw new Error(`serve: no block at height ${h}`)
      blocks.push(encodeBlock(found.block))
      if (
        fitBlocks(
          blocks.map((b) => b.length),
          MAX_P2P_PAYLOAD_BYTES,
        ) < blocks.length
      )
        throw new Error('serve: a batch did not fit one message')
    }
    for (const b of blocks) toHex(blockHash(decodeBlock(b).header))
    out.push(performance.now() - start)
  }
  return out
}

interface SyncRun {
  /** Dial → B's tip at A's height. */
  ms: number
  /** Per BLOCKS message: from its arrival to B's tip move. */
  processMs: number[]
  /** Per BLOCKS message after the first: from B's previous tip move to its arrival. */
  waitMs: number[]
}

/** A fresh B, dialled to A; resolves once B's tip reaches the chain's height. */
async function syncOnce(chain: BenchChain, dataDir: string, host: string, a: ChildNode): Promise<SyncRun> {
  const target = chain.blocks.length
  const b = await BkcNode.start({
    listen: host,
    port: P2P_PORT,
    rpcPort: 0,
    dataDir,
    network: chain.net,
    logger: createLogger({ level: 'warn' }),
  })
  try {
    const arrivals: number[] = []
    const tips: number[] = []
    b.connman!.on('message', (_peer, msg) => {
      if (msg.type === 'BLOCKS') arrivals.push(performance.now())
    })
    let timer: NodeJS.Timeout | undefined
    const synced = new Promise<number>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`B reached height ${b.chain.tip.height} of ${target} in ${SYNC_TIMEOUT_MS} ms`)),
        SYNC_TIMEOUT_MS,
      )
      b.chain.on('tip', (change) => {
        const now = performance.now()
        tips.push(now)
        if (change.tip.height >= target) resolve(now)
      })
    })
    const t0 = performance.now()
    b.connman!.addPeer({ host: a.host, port: P2P_PORT }, 'bootstrap')
    const done = await synced.finally(() => clearTimeout(timer))
    if (b.chain.tip.hash !== toHex(blockHash(chain.blocks[target - 1]!.header))) throw new Error('B synced to a different tip')
    const processMs: number[] = []
    const waitMs: number[] = []
    arrivals.forEach((at, k) => {
      const next = arrivals[k + 1] ?? Infinity
      const moved = tips.filter((t) => t >= at && t < next)
      const last = moved[moved.length - 1]
      if (last === undefined) return
      processMs.push(last - at)
      if (next !== Infinity) waitMs.push(next - last)
    })
    return { ms: done - t0, processMs, waitMs }
  } finally {
    await b.stop()
  }
}

interface CaseResult {
  chain: BenchChain
  localMs: number[]
  serveMs: number[]
  sync: SyncRun[]
}

async function runCase(chain: BenchChain, root: string, prefix: string, caseNo: number): Promise<CaseResult> {
  const networkFile = writeNetworkFile(join(root, `network${caseNo}.json`), chain.netOpts, chain.net)
  const aDir = join(root, `case${caseNo}`, 'A')
  // Not counted: the first pass over the code paths runs cold (JIT).
  const warm = tempDir('bkc-bench-catchup-warm-')
  await submitLocally(join(warm.path, 'chain'), { ...chain, blocks: chain.blocks.slice(0, chain.warmup) }, false)
  warm.cleanup()
  // The first local run fills A's data dir (and times serving from it).
  const first = await submitLocally(join(aDir, 'chain'), chain, true)
  const localMs = [first.ms]
  process.stderr.write(`${chain.name}: local submitBlocks run 1: ${fmtMs(first.ms)}\n`)

  const aHost = `${prefix}.${caseNo}.1`
  const a = new ChildNode('A', aHost, RPC_PORT, [
    '--listen',
    aHost,
    '--port',
    String(P2P_PORT),
    '--rpc-port',
    String(RPC_PORT),
    '--data-dir',
    aDir,
    '--network',
    networkFile,
  ])
  const sync: SyncRun[] = []
  try {
    const ready = await a.waitForLog((l) => l.message === 'node ready', 60_000, 'node ready')
    if (ready.fields.height !== chain.blocks.length)
      throw new Error(`A started at height ${String(ready.fields.height)}, expected ${chain.blocks.length}`)
    // Local and network runs alternate, so a change in the machine's other load hits both alike.
    for (let run = 0; run < RUNS; run++) {
      if (run > 0) {
        const tmp = tempDir('bkc-bench-catchup-local-')
        try {
          localMs.push((await submitLocally(join(tmp.path, 'chain'), chain, false)).ms)
        } finally {
          tmp.cleanup()
        }
        process.stderr.write(`${chain.name}: local submitBlocks run ${run + 1}: ${fmtMs(localMs[run]!)}\n`)
      }
      const bDir = tempDir('bkc-bench-catchup-b-')
      try {
        // A new address each run: A remembers the last B and may redial it.
        const s = await syncOnce(chain, bDir.path, `${prefix}.${caseNo}.${10 + run}`, a)
        sync.push(s)
        process.stderr.write(`${chain.name}: sync run ${run + 1}: ${fmtMs(s.ms)}\n`)
      } finally {
        bDir.cleanup()
      }
    }
  } finally {
    await a.stop()
  }
  return { chain, localMs, serveMs: first.serveMs, sync }
}

function report(results: CaseResult[]): void {
  const rate = (n: number, ms: number): number => (n / ms) * 1000
  printTable(
    ['chain', 'local submitBlocks (blocks/s)', 'network sync (blocks/s)', 'sync / local', 'sync time of each run'],
    results.map((r) => {
      const n = r.chain.blocks.length
      const local = rate(n, median(r.localMs))
      const net = rate(n, median(r.sync.map((s) => s.ms)))
      return [r.chain.name, fmtInt(local), fmtInt(net), fmtRatio(net / local), r.sync.map((s) => fmtMs(s.ms)).join(' / ')]
    }),
  )
  console.log('')
  printTable(
    [
      'per BLOCKS message of 500 (medians)',
      'B: validate + store',
      'B idle: next batch in flight',
      'idle share of the sync',
      'A: serve (local, no socket)',
    ],
    results.map((r) => {
      const work = r.sync.flatMap((s) => s.processMs)
      const wait = r.sync.flatMap((s) => s.waitMs)
      const idle = median(r.sync.map((s) => s.waitMs.reduce((x, y) => x + y, 0) / s.ms))
      const ms = (xs: number[]): string => (xs.length === 0 ? '— (one batch)' : fmtMs(median(xs)))
      return [r.chain.name, ms(work), ms(wait), `${(idle * 100).toFixed(0)}%`, ms(r.serveMs)]
    }),
  )
}

async function main(): Promise<void> {
  const prefix = loopbackPrefix()
  printHeader(
    'bench/catchup — a fresh node syncing blocks from a peer',
    [
      `A: \`bkc start\` child process serving the chain from its data dir; B: BkcNode in this process, fresh data dir each run,`,
      `dialled to A (connman.addPeer, as --bootstrap does); loopback ${prefix}.x.y; sync time = dial → B's tip at A's height;`,
      `baseline: Chainstate.submitBlocks on the same blocks in batches of ${MAX_BLOCKS_PER_MESSAGE}, fresh LevelDB, no network; medians of ${RUNS} runs`,
      `load average at start: ${loadAverage()}`,
    ].join('\n'),
  )
  const tmp = tempDir('bkc-bench-catchup-')
  try {
    const results: CaseResult[] = []
    const chains = [emptyChain, transferChain]
    for (let i = 0; i < chains.length; i++) {
      let chain!: BenchChain
      const build = await measure(() => {
        chain = chains[i]!()
      })
      process.stderr.write(`${chain.name}: built in ${fmtMs(build.ms)}\n`)
      results.push(await runCase(chain, tmp.path, prefix, i + 1))
    }
    report(results)
    console.log('')
    console.log(`load average at end: ${loadAverage()}`)
  } finally {
    tmp.cleanup()
  }
}

await main()
