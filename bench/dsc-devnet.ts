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
//    the mean and p95 interval: the baseline for work-retarget.
//  - work-retarget (`bkc devnet` without --network: its own ASERT network;
//    `--miners 1`): phase 1, --blocks intervals past the first
//    --warmup-blocks with one miner; then a hash-rate step (nodes 1 and 2
//    start mining over JSON-RPC, three miner threads in all) and phase 2,
//    --after-blocks intervals: the mean and p95 of the first 50 and of the
//    rest, how many blocks until the moving mean of 20 intervals is back
//    within ±20 % of the block time, the summed hash rate (getStatus)
//    before and after the step, and the targets.
// `both` runs all three. The chain is read over JSON-RPC from node3, which
// neither mines nor validates; at the end every node's tip is compared.
//
//   node dist/bench/dsc-devnet.js [--engine dsc|work|work-retarget|both] [--minutes 10] [--warmup-minutes 2]
//                                 [--blocks 100] [--warmup-blocks 10] [--after-blocks 150] [--max-minutes 60]
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { NETWORK_FILE } from '../cli/devnet/state.js'
import { rpcCall } from '../cli/rpc-client.js'
import {
  blocksUntilSettled,
  countBy,
  gapStats,
  gapsOf,
  intervalStats,
  log2Target,
  movingMeans,
  slotCoverage,
  slotOf,
  type BlockRow,
  type IntervalStats,
  type SlotWindow,
} from './lib/block-stats.js'
import { DevnetChild, type DevnetChildOptions, type DevnetNode } from './lib/devnet-child.js'
import { fmtInt, intFlag, median, printHeader, printTable } from './lib/harness.js'

const FLAGS = ['engine', 'minutes', 'warmup-minutes', 'blocks', 'warmup-blocks', 'after-blocks', 'max-minutes']
const ENGINES = ['dsc', 'work', 'work-retarget', 'both']
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
/** work-retarget: the nodes that start mining at the step (node 0 mines from the start). */
const STEP_NODES = [1, 2]
/** Account calls derive keys; the devnet gives them as long. */
const ACCOUNT_TIMEOUT_MS = 30_000
/** Phase 2's intervals are reported as the first 50 and the rest. */
const AFTER_FIRST = 50
const SETTLE_WINDOW = 20
const SETTLE_TOLERANCE = 0.2
const HASH_SAMPLE_MS = 10_000
/** After the step, hash-rate samples count only once the new threads have run a while (getStatus averages a few seconds). */
const HASH_SETTLE_MS = 15_000

function usage(message: string): never {
  console.error(
    `${message}\nusage: node dist/bench/dsc-devnet.js [--engine dsc|work|work-retarget|both] [--minutes M] [--warmup-minutes W] [--blocks N] [--warmup-blocks K] [--after-blocks A] [--max-minutes T]`,
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
if (!ENGINES.includes(ENGINE)) usage(`--engine must be dsc, work, work-retarget or both, got ${JSON.stringify(ENGINE)}`)
const MINUTES = minutesFlag('minutes', 10)
const WARMUP_MINUTES = minutesFlag('warmup-minutes', 2)
if (WARMUP_MINUTES >= MINUTES) usage(`--warmup-minutes (${WARMUP_MINUTES}) must be below --minutes (${MINUTES})`)
const BLOCKS = intFlag('blocks', 100, 2)
const WARMUP_BLOCKS = intFlag('warmup-blocks', 10, 0)
const AFTER_BLOCKS = intFlag('after-blocks', AFTER_FIRST + 100, SETTLE_WINDOW)
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

async function withDevnet<T>(
  opts: Omit<DevnetChildOptions, 'nodes'>,
  fn: (devnet: DevnetChild, readyAt: number) => Promise<T>,
): Promise<T> {
  const devnet = DevnetChild.spawn({ ...opts, nodes: NODES })
  current = devnet
  const flags = [opts.network && `--network ${opts.network}`, opts.miners !== undefined && `--miners ${opts.miners}`].filter(Boolean)
  console.log(`bkc devnet ${flags.join(' ')} (pid ${devnet.pid}) on ${devnet.netPrefix}.*, in ${devnet.dir}`)
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
  hashRate: number
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

/** Polls the reader until `done` says so or `deadline` passes; true when done. `each` runs on every status read. */
async function waitOnReader(
  reader: DevnetNode,
  deadline: number,
  start: number,
  done: (s: Status) => boolean,
  describe: (s: Status) => string,
  each?: (s: Status) => Promise<void>,
): Promise<boolean> {
  const progress = new Progress(start)
  let last = 'no status yet'
  while (Date.now() < deadline) {
    try {
      const s = await rpc<Status>(reader, 'getStatus')
      if (done(s)) return true
      last = describe(s)
      await each?.(s)
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
  return withDevnet({ network: 'dsc' }, async (devnet, readyAt) => {
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
  return withDevnet({ network: 'devnet' }, async (devnet, readyAt) => {
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

// ---- work-retarget: one miner, then a hash-rate step -------------------------

interface RetargetRules {
  targetBlockTimeMs: number
  halfLifeMs: number
}

/** The block time and half-life of the devnet's own network file; throws when it does not retarget. */
function readRetargetRules(dir: string): RetargetRules {
  const path = join(dir, NETWORK_FILE)
  const file = JSON.parse(readFileSync(path, 'utf8')) as {
    consensus?: { targetBlockTimeMs?: unknown; retarget?: { halfLifeMs?: unknown } }
  }
  const targetBlockTimeMs = file.consensus?.targetBlockTimeMs
  const halfLifeMs = file.consensus?.retarget?.halfLifeMs
  if (typeof targetBlockTimeMs !== 'number' || typeof halfLifeMs !== 'number')
    throw new Error(`${path} has no consensus.targetBlockTimeMs and consensus.retarget.halfLifeMs: not a retargeting network?`)
  return { targetBlockTimeMs, halfLifeMs }
}

/** getStatus hashRate of every node, sampled at most every HASH_SAMPLE_MS. */
class HashRates {
  private last = 0
  private readonly samples: Array<{ at: number; perNode: number[] }> = []

  constructor(private readonly nodes: readonly DevnetNode[]) {}

  async maybeSample(): Promise<void> {
    if (Date.now() - this.last < HASH_SAMPLE_MS) return
    this.last = Date.now()
    const perNode = await Promise.all(
      this.nodes.map((n) =>
        rpc<Status>(n, 'getStatus').then(
          (s) => s.hashRate,
          () => NaN,
        ),
      ),
    )
    // A node that did not answer would make the sum look like a drop.
    if (perNode.every(Number.isFinite)) this.samples.push({ at: this.last, perNode })
  }

  /** Median per node and median of the sums, over the samples taken from `from` to `to`. */
  between(from: number, to: number): { samples: number; perNode: number[]; total: number } {
    const inside = this.samples.filter((s) => s.at >= from && s.at < to)
    return {
      samples: inside.length,
      perNode: this.nodes.map((_, i) => median(inside.map((s) => s.perNode[i]!))),
      total: median(inside.map((s) => s.perNode.reduce((a, b) => a + b, 0))),
    }
  }
}

/** Starts mining on `node` with an account of its own; records the address for the wins table. */
async function startMining(node: DevnetNode): Promise<void> {
  const name = `bench-step-${node.name}`
  const password = randomBytes(16).toString('hex')
  const address = await rpcCall(node.rpcUrl, 'createAccount', [name, password], ACCOUNT_TIMEOUT_MS)
  if (typeof address !== 'string') throw new Error(`${node.name}: createAccount answered ${JSON.stringify(address)}`)
  await rpcCall(node.rpcUrl, 'mining', [name, password], ACCOUNT_TIMEOUT_MS)
  node.address = address
}

const hps = (h: number): string => (Number.isFinite(h) ? `${(h / 1e6).toFixed(2)} MH/s` : '—')
const log2At = (blocks: readonly BlockRow[], height: number): string => {
  const b = blocks.find((x) => x.height === height)
  return b === undefined ? '—' : `2^${log2Target(b.target).toFixed(2)}`
}

async function runWorkRetarget(): Promise<string> {
  const first = WARMUP_BLOCKS + 1
  const last = first + BLOCKS
  console.log(
    `\n## work-retarget: --miners 1, blocks ${first}..${last} (${BLOCKS} intervals; the first ${WARMUP_BLOCKS} skipped); ` +
      `then nodes ${STEP_NODES.join(' and ')} start mining and ${AFTER_BLOCKS} intervals follow; at most ${MAX_MINUTES} min`,
  )
  return withDevnet({ miners: 1 }, async (devnet, readyAt) => {
    const reader = devnet.nodes[READER]!
    const rules = readRetargetRules(devnet.dir)
    console.log(`  network: ASERT, half-life ${sec(rules.halfLifeMs)}, block time ${sec(rules.targetBlockTimeMs)}`)
    const deadline = readyAt + MAX_MINUTES * 60_000
    const rates = new HashRates(devnet.nodes)
    let measuringSince = Number.POSITIVE_INFINITY
    const phase1 = await waitOnReader(
      reader,
      deadline,
      readyAt,
      (s) => s.height >= last,
      (s) => `phase 1 (1 miner): ${reader.name} height ${s.height} of ${last}`,
      async (s) => {
        if (s.height < first) return
        measuringSince = Math.min(measuringSince, Date.now())
        await rates.maybeSample()
      },
    )
    let stepAt = Date.now()
    let stepHeight = (await rpc<Status>(reader, 'getStatus')).height
    let phase2 = false
    if (phase1) {
      console.log(`  phase 1 done at height ${stepHeight}; the step: mining on ${STEP_NODES.map((i) => devnet.nodes[i]!.name).join(', ')}`)
      for (const i of STEP_NODES) await startMining(devnet.nodes[i]!)
      stepAt = Date.now()
      stepHeight = (await rpc<Status>(reader, 'getStatus')).height
      console.log(`  step at height ${stepHeight}, ${fmtInt((stepAt - readyAt) / 1000)} s after ready`)
      phase2 = await waitOnReader(
        reader,
        deadline,
        readyAt,
        (s) => s.height >= stepHeight + AFTER_BLOCKS,
        (s) => `phase 2 (3 miners): ${reader.name} height ${s.height} of ${stepHeight + AFTER_BLOCKS}`,
        async () => {
          if (Date.now() >= stepAt + HASH_SETTLE_MS) await rates.maybeSample()
        },
      )
    } else {
      console.log(`  note: phase 1 did not reach height ${last} within ${MAX_MINUTES} min: no step; the figures cover what there is`)
    }
    const tip = await rpc<Status>(reader, 'getStatus')
    if (phase1 && !phase2)
      console.log(`  note: phase 2 reached only height ${tip.height} of ${stepHeight + AFTER_BLOCKS} within ${MAX_MINUTES} min`)
    const end = Math.min(tip.height, phase1 ? stepHeight + AFTER_BLOCKS : last)
    const blocks: BlockRow[] = []
    for (let h = first; h <= end; h++) blocks.push(await blockAt(reader, h))
    const tips = await checkTips(devnet.nodes)

    const before = blocks.filter((b) => b.height <= last)
    const after = phase1 ? blocks.filter((b) => b.height >= stepHeight) : []
    const beforeStats = intervalStats(before.map((b) => b.timestamp))
    const afterGaps = gapsOf(after.map((b) => b.timestamp))
    const firstN = Math.min(AFTER_FIRST, AFTER_BLOCKS)
    const early = gapStats(afterGaps.slice(0, firstN))
    const later = gapStats(afterGaps.slice(firstN))
    const rule = { window: SETTLE_WINDOW, targetMs: rules.targetBlockTimeMs, tolerance: SETTLE_TOLERANCE }
    const settled = blocksUntilSettled(afterGaps, rule)
    console.log('')
    printTable(INTERVAL_HEADERS, [
      intervalRow(`phase 1, 1 miner: heights ${first}..${last}`, before.length, beforeStats),
      intervalRow(`after the step: first ${firstN}`, Math.min(after.length, firstN + 1), early),
      intervalRow(`after the step: next ${AFTER_BLOCKS - firstN}`, Math.max(0, after.length - firstN), later),
      intervalRow(`after the step: all (from height ${stepHeight})`, after.length, gapStats(afterGaps)),
    ])

    const rateBefore = rates.between(measuringSince, stepAt)
    const rateAfter = rates.between(stepAt + HASH_SETTLE_MS, Number.POSITIVE_INFINITY)
    const ratio = rateAfter.total / rateBefore.total
    console.log(`\nhash rate (getStatus hashRate, median of ${rateBefore.samples} samples before and ${rateAfter.samples} after the step):`)
    printTable(
      ['node', 'before', 'after'],
      [
        ...devnet.nodes.map((n, i) => [n.name, hps(rateBefore.perNode[i]!), hps(rateAfter.perNode[i]!)]),
        ['sum', hps(rateBefore.total), hps(rateAfter.total)],
      ],
    )
    const step = Number.isFinite(ratio) ? `×${ratio.toFixed(2)}` : '—'
    console.log(`effective step: ${step} (2^${Number.isFinite(ratio) ? Math.log2(ratio).toFixed(2) : '—'})`)

    const stepBlock = after[0]
    const lastBlock = after.at(-1)
    console.log(
      `\ntarget (log2): ${log2At(blocks, first)} at height ${first}, ${log2At(blocks, stepHeight)} at the step (height ${stepHeight}), ` +
        `${log2At(blocks, stepHeight + firstN)} ${firstN} blocks after it, ${lastBlock ? log2At(blocks, lastBlock.height) : '—'} at the last (height ${lastBlock?.height ?? '—'})`,
    )
    if (stepBlock && Number.isFinite(ratio))
      console.log(`  a target that undoes the step: 2^${(log2Target(stepBlock.target) - Math.log2(ratio)).toFixed(2)}`)
    const settleText =
      settled === null
        ? `not within ${afterGaps.length} blocks`
        : `${settled} blocks after the step${settled === SETTLE_WINDOW ? ' (the first window already was: the step never took it out)' : ''}`
    // One window is noisy (20 exponential intervals: about ±22 % at one sigma), so the path says more than the first entry into the band.
    const path = movingMeans(afterGaps, SETTLE_WINDOW)
      .map((m, j) => ({ k: j + SETTLE_WINDOW, m }))
      .filter(({ k }) => k % 10 === 0)
      .map(({ k, m }) => `${k}: ${(m / 1000).toFixed(1)}`)
    console.log(`moving mean of ${SETTLE_WINDOW} intervals (s), by blocks after the step: ${path.join(', ') || '—'}`)
    console.log(
      `moving mean of ${SETTLE_WINDOW} intervals back within ±${SETTLE_TOLERANCE * 100} % of ${sec(rules.targetBlockTimeMs)}: ${settleText}`,
    )
    console.log('')
    printWins(after, devnet.nodes, ['pow'])
    console.log(tipLine(tips))
    const log2 = (b: BlockRow | undefined): string => (b ? `2^${log2Target(b.target).toFixed(2)}` : '—')
    return (
      `work-retarget: 1 miner, ${beforeStats.n} intervals after ${WARMUP_BLOCKS} warm-up blocks: mean ${sec(beforeStats.meanMs)} p95 ${sec(beforeStats.p95Ms)}; ` +
      `step ${step} (${hps(rateBefore.total)} → ${hps(rateAfter.total)}); after it: first ${early.n} mean ${sec(early.meanMs)} p95 ${sec(early.p95Ms)}, ` +
      `next ${later.n} mean ${sec(later.meanMs)} p95 ${sec(later.p95Ms)}; back within ±${SETTLE_TOLERANCE * 100} % (mean of ${SETTLE_WINDOW}): ${settled ?? `not within ${afterGaps.length}`} blocks; ` +
      `target ${log2(before[0])} → ${log2(stepBlock)} at the step → ${log2(lastBlock)}; tips ${tips.agree ? 'agree' : 'DISAGREE'}`
    )
  })
}

async function main(): Promise<void> {
  printHeader(
    'devnet block timing (bkc devnet, 5 nodes on loopback, chain read from node3)',
    `engine ${ENGINE}; dsc: --minutes ${MINUTES} --warmup-minutes ${WARMUP_MINUTES}; work: --blocks ${BLOCKS} --warmup-blocks ${WARMUP_BLOCKS} --max-minutes ${MAX_MINUTES}; work-retarget: also --after-blocks ${AFTER_BLOCKS}`,
  )
  const summaries: string[] = []
  if (ENGINE === 'dsc' || ENGINE === 'both') summaries.push(await runDsc())
  if (ENGINE === 'work' || ENGINE === 'both') summaries.push(await runWork())
  if (ENGINE === 'work-retarget' || ENGINE === 'both') summaries.push(await runWorkRetarget())
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
