// Block timing of a real devnet, as a user runs it (`bkc devnet`, five
// nodes on loopback, in a temp directory):
//  - dsc (the `slots` engine; node0 pow, node1 pom, node2 pos validators):
//    for --minutes, the first --warmup-minutes of slots skipped while the
//    target settles; the mean and p95 interval between consecutive blocks'
//    timestamps (slot starts), of all blocks and of proof blocks only; the
//    share of the window's slots with a block and the share of empty blocks;
//    blocks won per proof type and per node.
//  - work (the shipped devnet network: three miners, a fixed target, no
//    retargeting): until --blocks blocks past the first --warmup-blocks;
//    the mean and p95 interval, which is the baseline a retargeting work
//    network would be compared to.
// The chain is read over JSON-RPC from node3, which neither mines nor
// validates; at the end every node's tip is compared.
//
//   node dist/bench/dsc-devnet.js [--engine dsc|work|both] [--minutes 10] [--warmup-minutes 2]
//                                 [--blocks 100] [--warmup-blocks 10] [--max-minutes 60]
import { setTimeout as sleep } from 'node:timers/promises'
import { rpcCall } from '../cli/rpc-client.js'
import {
  countBy,
  intervalStats,
  log2Target,
  slotCoverage,
  slotOf,
  type BlockRow,
  type IntervalStats,
  type SlotWindow,
} from './lib/block-stats.js'
import { DevnetChild, type DevnetNode } from './lib/devnet-child.js'
import { fmtInt, intFlag, printHeader, printTable } from './lib/harness.js'

const FLAGS = ['engine', 'minutes', 'warmup-minutes', 'blocks', 'warmup-blocks', 'max-minutes']
const NODES = 5
/** The node the chain is read from: a follower, so its view is what the network agreed on. */
const READER = 3
const PROGRESS_MS = 30_000
const POLL_MS = 2_000
const RPC_TIMEOUT_MS = 5_000
/** Validators build their tables (pom) and vaults (pos) before the devnet prints its table. */
const READY_TIMEOUT_MS = 300_000
const TIP_CHECKS = 8
const ZERO_KEY = '00'.repeat(33)

function usage(message: string): never {
  console.error(
    `${message}\nusage: node dist/bench/dsc-devnet.js [--engine dsc|work|both] [--minutes M] [--warmup-minutes W] [--blocks N] [--warmup-blocks K] [--max-minutes T]`,
  )
  process.exit(2)
}

function checkFlags(): void {
  const args = process.argv.slice(2)
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]!.replace(/^--/, '')
    if (!args[i]!.startsWith('--') || !FLAGS.includes(name)) usage(`unknown argument ${JSON.stringify(args[i])}`)
    if (args.indexOf(args[i]!) !== i) usage(`${args[i]} was given twice`)
    if (args[i + 1] === undefined) usage(`${args[i]} needs a value`)
  }
}

function flagValue(name: string): string | undefined {
  const args = process.argv.slice(2)
  const at = args.indexOf(`--${name}`)
  return at === -1 ? undefined : args[at + 1]
}

/** A positive number of minutes (fractions allowed, for short trial runs). */
function minutesFlag(name: string, fallback: number): number {
  const raw = flagValue(name)
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isFinite(v) || v < 0 || v > 24 * 60) usage(`--${name} expects minutes from 0 to 1440, got ${JSON.stringify(raw)}`)
  return v
}

checkFlags()
const ENGINE = flagValue('engine') ?? 'dsc'
if (!['dsc', 'work', 'both'].includes(ENGINE)) usage(`--engine must be dsc, work or both, got ${JSON.stringify(ENGINE)}`)
const MINUTES = minutesFlag('minutes', 10)
const WARMUP_MINUTES = minutesFlag('warmup-minutes', 2)
if (WARMUP_MINUTES >= MINUTES) usage(`--warmup-minutes (${WARMUP_MINUTES}) must be below --minutes (${MINUTES})`)
const BLOCKS = intFlag('blocks', 100, 2)
const WARMUP_BLOCKS = intFlag('warmup-blocks', 10, 0)
const MAX_MINUTES = minutesFlag('max-minutes', 60)

// ---- stopping cleanly -----------------------------------------------------

const abort = new AbortController()
let current: DevnetChild | undefined
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (abort.signal.aborted) {
      // A second signal: no more waiting for the devnet's orderly stop.
      current?.killNow()
      process.exit(130)
    }
    console.log(`\n${sig}: stopping the devnet…`)
    abort.abort(new Error(`stopped by ${sig}`))
  })
}
// Whatever way the bench ends, its devnet must not live on, nor its temp directory stay.
process.on('exit', () => current?.killNow())

async function withDevnet<T>(network: string, fn: (devnet: DevnetChild, readyAt: number) => Promise<T>): Promise<T> {
  const devnet = DevnetChild.spawn({ network, nodes: NODES })
  current = devnet
  console.log(`bkc devnet --network ${network} (pid ${devnet.pid}) on ${devnet.netPrefix}.*, in ${devnet.dir}`)
  try {
    const started = Date.now()
    await devnet.waitReady(READY_TIMEOUT_MS, abort.signal)
    console.log(`  ready after ${((Date.now() - started) / 1000).toFixed(1)} s`)
    return await fn(devnet, Date.now())
  } catch (err) {
    if (!abort.signal.aborted) console.error(`devnet output:\n${devnet.tail()}`)
    throw err
  } finally {
    const outcome = await devnet.stop()
    current = undefined
    const how = outcome.how === 'killed' ? 'did not stop after SIGINT: killed' : `${outcome.how} (exit code ${String(outcome.code)})`
    console.log(`  devnet pid ${devnet.pid} ${how}; temp directory removed`)
  }
}

// ---- reading the chain ------------------------------------------------------

interface Status {
  height: number
  hash: string
  slotMs?: number
  tipSlot?: number
}

async function rpc<T>(node: DevnetNode, method: string, params: unknown[] = []): Promise<T> {
  return (await rpcCall(node.rpcUrl, method, params, RPC_TIMEOUT_MS)) as T
}

async function blockAt(node: DevnetNode, height: number): Promise<BlockRow> {
  const b = await rpc<BlockRow | null>(node, 'getBlock', [height])
  if (b === null) throw new Error(`${node.name} has no block at height ${height}`)
  return { height: b.height, timestamp: b.timestamp, proofType: b.proofType, miner: b.miner, target: b.target }
}

/** Prints height and elapsed time every 30 s while the run waits. */
class Progress {
  private last = Date.now()
  constructor(private readonly start: number) {}

  tick(text: () => string): void {
    if (Date.now() - this.last < PROGRESS_MS) return
    this.last = Date.now()
    console.log(`  [${fmtInt((Date.now() - this.start) / 1000).padStart(4)} s] ${text()}`)
  }
}

/** Polls the reader until `done` says so or `deadline` passes; true when done. */
async function waitOnReader(
  reader: DevnetNode,
  deadline: number,
  start: number,
  done: (s: Status) => boolean,
  describe: (s: Status) => string,
): Promise<boolean> {
  const progress = new Progress(start)
  let last = 'no status yet'
  while (Date.now() < deadline) {
    try {
      const s = await rpc<Status>(reader, 'getStatus')
      if (done(s)) return true
      last = describe(s)
    } catch (err) {
      last = `${reader.name} did not answer: ${(err as Error).message}`
    }
    progress.tick(() => last)
    await sleep(Math.max(0, Math.min(POLL_MS, deadline - Date.now())), undefined, { signal: abort.signal })
  }
  return false
}

interface TipCheck {
  agree: boolean
  tries: number
  tips: string[]
}

/** Every node's tip, sampled up to TIP_CHECKS times a second apart (a block may be on its way). */
async function checkTips(nodes: readonly DevnetNode[]): Promise<TipCheck> {
  let tips: string[] = []
  for (let tries = 1; tries <= TIP_CHECKS; tries++) {
    const statuses = await Promise.all(nodes.map((n) => rpc<Status>(n, 'getStatus').catch((err: Error) => err)))
    tips = statuses.map((s, i) =>
      s instanceof Error ? `${nodes[i]!.name}: ${s.message}` : `${nodes[i]!.name} ${s.height} ${s.hash.slice(0, 12)}`,
    )
    const hashes = new Set(statuses.map((s) => (s instanceof Error ? 'error' : s.hash)))
    if (hashes.size === 1 && !hashes.has('error')) return { agree: true, tries, tips }
    await sleep(1000, undefined, { signal: abort.signal })
  }
  return { agree: false, tries: TIP_CHECKS, tips }
}

function tipLine(check: TipCheck): string {
  const at = check.tips[0]!.split(' ').slice(1).join(' ')
  return check.agree
    ? `all ${NODES} nodes agree on the tip (height/hash ${at})${check.tries > 1 ? `, at sample ${check.tries}` : ''}`
    : `the nodes do NOT agree on the tip after ${check.tries} samples: ${check.tips.join('; ')}`
}

// ---- printing ---------------------------------------------------------------

const sec = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '—')
const pct = (part: number, whole: number): string => (whole === 0 ? '—' : `${((100 * part) / whole).toFixed(1)} %`)

function intervalRow(label: string, blocks: number, s: IntervalStats): string[] {
  return [label, String(blocks), String(s.n), sec(s.meanMs), sec(s.medianMs), sec(s.p95Ms), sec(s.maxMs)]
}

const INTERVAL_HEADERS = ['series', 'blocks', 'intervals', 'mean', 'median', 'p95', 'max']

/** Blocks won per node (by key) and per proof type. */
function printWins(blocks: readonly BlockRow[], nodes: readonly DevnetNode[], proofTypes: readonly string[]): string {
  const names = new Map(nodes.filter((n) => n.address !== null).map((n) => [n.address!, n.name]))
  const nameOf = (key: string): string => (key === ZERO_KEY ? '(empty)' : (names.get(key) ?? `other ${key.slice(0, 10)}`))
  const types = new Map<string, Set<string>>()
  for (const b of blocks) {
    const set = types.get(nameOf(b.miner)) ?? new Set<string>()
    set.add(b.proofType)
    types.set(nameOf(b.miner), set)
  }
  const perNode = countBy(blocks, (b) => nameOf(b.miner))
  const order = [...nodes.map((n) => n.name), ...[...perNode.keys()].filter((k) => !nodes.some((n) => n.name === k))]
  const rows = order
    .filter((name) => perNode.has(name) || nodes.find((n) => n.name === name)?.address)
    .map((name) => [
      name,
      [...(types.get(name) ?? [])].join(',') || '—',
      String(perNode.get(name) ?? 0),
      pct(perNode.get(name) ?? 0, blocks.length),
    ])
  printTable(['winner', 'proof', 'blocks', 'share'], rows)
  const perType = countBy(blocks, (b) => b.proofType)
  return proofTypes.map((t) => `${t} ${perType.get(t) ?? 0}`).join(' / ')
}

// ---- the two runs -----------------------------------------------------------

async function runDsc(): Promise<string> {
  console.log(`\n## dsc: ${MINUTES} min, the first ${WARMUP_MINUTES} min of slots skipped (warm-up by time: the target adapts every slot)`)
  return withDevnet('dsc', async (devnet, readyAt) => {
    const reader = devnet.nodes[READER]!
    const genesis = await blockAt(reader, 0)
    const status = await rpc<Status>(reader, 'getStatus')
    if (status.slotMs === undefined) throw new Error(`${reader.name} reports no slotMs: not a slots network?`)
    const clock = { genesisMs: genesis.timestamp, slotMs: status.slotMs }
    const end = readyAt + MINUTES * 60_000
    const window: SlotWindow = {
      ...clock,
      from: Math.ceil((readyAt + WARMUP_MINUTES * 60_000 - clock.genesisMs) / clock.slotMs),
      // The slot in progress at the end is not counted: it may still get its block.
      to: slotOf(clock, end),
    }
    await waitOnReader(
      reader,
      end,
      readyAt,
      () => false,
      (s) => `${reader.name} height ${s.height}, slot ${s.tipSlot ?? '?'}`,
    )
    // The window's last slot ends at `end`; its empty block, if it needs one, comes a grace later.
    const settled = await waitOnReader(
      reader,
      Date.now() + 2 * clock.slotMs + 5_000,
      readyAt,
      (s) => (s.tipSlot ?? -1) >= window.to - 1,
      (s) => `${reader.name} tip slot ${s.tipSlot ?? '?'}`,
    )
    if (!settled) console.log(`  note: ${reader.name}'s tip never reached slot ${window.to - 1}; the last slots count as missing`)
    const tip = await rpc<Status>(reader, 'getStatus')
    const blocks: BlockRow[] = []
    for (let h = tip.height; h >= 1; h--) {
      const b = await blockAt(reader, h)
      if (slotOf(clock, b.timestamp) < window.from) break
      if (slotOf(clock, b.timestamp) < window.to) blocks.unshift(b)
    }
    const tips = await checkTips(devnet.nodes)

    const cover = slotCoverage(window, blocks)
    const proofBlocks = blocks.filter((b) => b.proofType !== 'empty')
    const all = intervalStats(blocks.map((b) => b.timestamp))
    const proof = intervalStats(proofBlocks.map((b) => b.timestamp))
    console.log(
      `\nwindow: slots ${window.from}..${window.to - 1} (${cover.slots} slots of ${clock.slotMs / 1000} s), heights ${blocks[0]?.height ?? '—'}..${blocks.at(-1)?.height ?? '—'}`,
    )
    printTable(INTERVAL_HEADERS, [
      intervalRow('dsc: all blocks', blocks.length, all),
      intervalRow('dsc: proof blocks', proofBlocks.length, proof),
    ])
    console.log('')
    printTable(
      ['slots', 'with a block', 'share', 'empty blocks', 'share of blocks', 'proof blocks'],
      [
        [
          String(cover.slots),
          String(cover.filled),
          pct(cover.filled, cover.slots),
          String(cover.emptyBlocks),
          pct(cover.emptyBlocks, blocks.length),
          String(cover.proofBlocks),
        ],
      ],
    )
    console.log('')
    const wins = printWins(blocks, devnet.nodes, ['pow', 'pom', 'pos', 'empty'])
    if (blocks.length > 0)
      console.log(
        `\ntarget: 2^${log2Target(blocks[0]!.target).toFixed(2)} at the window's first block, 2^${log2Target(blocks.at(-1)!.target).toFixed(2)} at its last`,
      )
    console.log(tipLine(tips))
    return (
      `dsc: ${cover.slots} slots after ${WARMUP_MINUTES} min warm-up: ${blocks.length} blocks (${pct(cover.filled, cover.slots)} of slots filled), ` +
      `${cover.emptyBlocks} empty (${pct(cover.emptyBlocks, blocks.length)}); interval mean ${sec(all.meanMs)} p95 ${sec(all.p95Ms)}; ` +
      `proof-block interval mean ${sec(proof.meanMs)} p95 ${sec(proof.p95Ms)}; ${wins}; tips ${tips.agree ? 'agree' : 'DISAGREE'}`
    )
  })
}

async function runWork(): Promise<string> {
  const first = WARMUP_BLOCKS + 1
  const last = first + BLOCKS
  console.log(
    `\n## work: blocks ${first}..${last} (${BLOCKS} intervals; the first ${WARMUP_BLOCKS} blocks skipped), at most ${MAX_MINUTES} min`,
  )
  return withDevnet('devnet', async (devnet, readyAt) => {
    const reader = devnet.nodes[READER]!
    const done = await waitOnReader(
      reader,
      readyAt + MAX_MINUTES * 60_000,
      readyAt,
      (s) => s.height >= last,
      (s) => `${reader.name} height ${s.height} of ${last}`,
    )
    const tip = await rpc<Status>(reader, 'getStatus')
    if (!done) console.log(`  note: only height ${tip.height} after ${MAX_MINUTES} min: the figures cover what there is`)
    const blocks: BlockRow[] = []
    for (let h = first; h <= Math.min(last, tip.height); h++) blocks.push(await blockAt(reader, h))
    const tips = await checkTips(devnet.nodes)
    const s = intervalStats(blocks.map((b) => b.timestamp))
    console.log('')
    printTable(INTERVAL_HEADERS, [intervalRow('work: blocks', blocks.length, s)])
    console.log('')
    printWins(blocks, devnet.nodes, ['pow'])
    if (blocks.length > 0)
      console.log(`\ntarget: 2^${log2Target(blocks[0]!.target).toFixed(2)} (fixed: the devnet network does not retarget)`)
    console.log(tipLine(tips))
    return `work: ${s.n} intervals after ${WARMUP_BLOCKS} warm-up blocks, fixed target: mean ${sec(s.meanMs)} p95 ${sec(s.p95Ms)}; tips ${tips.agree ? 'agree' : 'DISAGREE'}`
  })
}

async function main(): Promise<void> {
  printHeader(
    'devnet block timing (bkc devnet, 5 nodes on loopback, chain read from node3)',
    `engine ${ENGINE}; dsc: --minutes ${MINUTES} --warmup-minutes ${WARMUP_MINUTES}; work: --blocks ${BLOCKS} --warmup-blocks ${WARMUP_BLOCKS} --max-minutes ${MAX_MINUTES}`,
  )
  const summaries: string[] = []
  if (ENGINE !== 'work') summaries.push(await runDsc())
  if (ENGINE !== 'dsc') summaries.push(await runWork())
  console.log('\n## summary')
  for (const s of summaries) console.log(s)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(abort.signal.aborted ? String((abort.signal.reason as Error).message) : err)
    process.exit(abort.signal.aborted ? 130 : 1)
  },
)
