// `bkc devnet` on a slots network: which node validates how (and the sizes
// it gets, checked against the real start parser), the proof column of the
// node table, and the share of recent blocks each validator won.
import t from 'tap'
import yargs from 'yargs'
import { DEFAULT_NET_PREFIX, formatNodeTable, parseSizeFlag, planNodes, type DevnetOptions } from '../../../cli/devnet/plan.js'
import { formatShares, formatStatusBlock, formatStatusLine, toSlotShares, type NodeView } from '../../../cli/devnet/status.js'
import { devnetOptions } from '../../../cli/devnet/command.js'
import { startOptions } from '../../../cli/start/command.js'
import { UsageError } from '../../../cli/options.js'

const KEY = (n: number): string => `02${n.toString(16).padStart(2, '0').repeat(32)}`
const HASH = `0001${'aa'.repeat(30)}`

function options(over: Partial<DevnetOptions> = {}): DevnetOptions {
  return {
    nodes: 5,
    miners: 3,
    dir: '/tmp/dn',
    network: '/n/dsc.json',
    logLevel: 'info',
    netPrefix: DEFAULT_NET_PREFIX,
    p2pPort: 5555,
    validators: { pomMemory: '64M', posDisk: '128M' },
    ...over,
  }
}

/** What the real `bkc start` parser makes of a plan's arguments (strict: unknown flags throw). */
function parseStart(args: readonly string[]) {
  return startOptions(yargs(args.slice(1)))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg)
    })
    .parseSync()
}

/** The flags after --log-level/--bootstrap: what the validator part adds. */
const validatorArgs = (args: readonly string[]): string[] => {
  const at = args.indexOf('--validator')
  return at < 0 ? [] : args.slice(at)
}

t.test('miners validate pow, pom, pos in turn with the given sizes; the other nodes do not', async (t) => {
  const plans = planNodes(options())
  t.same(
    plans.map((p) => p.validator),
    ['pow', 'pom', 'pos', null, null],
  )
  t.same(validatorArgs(plans[0]!.args), ['--validator', 'pow'], 'node0: proof of work, no size')
  t.same(validatorArgs(plans[1]!.args), ['--validator', 'pom', '--memory', '64M'], 'node1: proof of memory with --memory')
  t.same(validatorArgs(plans[2]!.args), ['--validator', 'pos', '--disk', '128M'], 'node2: proof of space with --disk')
  for (const p of plans.slice(3)) {
    t.notOk(p.args.includes('--validator'), `${p.name}: no --validator`)
    t.notOk(p.args.includes('--memory') || p.args.includes('--disk'), `${p.name}: no sizes`)
  }

  const argv = plans.map((p) => parseStart(p.args))
  t.same(
    argv.map((a) => a.validator),
    ['pow', 'pom', 'pos', undefined, undefined],
    'the start parser reads them',
  )
  t.equal(argv[1]!.memory, 64 * 2 ** 20)
  t.equal(argv[2]!.disk, 128 * 2 ** 20)
  t.equal(argv[0]!.network, '/n/dsc.json')

  const five = planNodes(options({ miners: 5, validators: { pomMemory: '1G', posDisk: '10GiB' } }))
  t.same(
    five.map((p) => p.validator),
    ['pow', 'pom', 'pos', 'pow', 'pom'],
    'more than three miners: the kinds again',
  )
  t.same(validatorArgs(five[4]!.args), ['--validator', 'pom', '--memory', '1G'])
  t.equal(parseStart(five[2]!.args).disk, 10 * 2 ** 30)

  t.same(
    planNodes(options({ miners: 0 })).map((p) => p.validator),
    [null, null, null, null, null],
    'no miners: no validators',
  )
  const work = planNodes(options({ validators: undefined, network: undefined }))
  t.same(
    work.map((p) => p.validator),
    [null, null, null, null, null],
    'a work network: none',
  )
  t.notOk(
    work.some((p) => p.args.includes('--validator')),
    'and no --validator flags',
  )
})

t.test('the node table has a proof column only on a slots network', async (t) => {
  const addr = [KEY(1), KEY(2), undefined]
  const slots = formatNodeTable(planNodes(options({ nodes: 4 })), addr)
  t.match(slots[0]!, /^node\s+address\s+RPC\s+P2P\s+proof\s+account$/)
  t.match(slots[1]!, new RegExp(`^node0 .* 127\\.0\\.53\\.5:5555  pow    miner0 ${KEY(1)}$`))
  t.match(slots[2]!, /^node1 .* pom {4}miner1 /)
  t.match(slots[3]!, /^node2 .* pos {4}miner2 \(unknown\)$/)
  t.match(slots[4]!, /^node3 .* — {6}—$/, 'a node that does not validate: a dash')
  const work = formatNodeTable(planNodes(options({ nodes: 4, validators: undefined })), addr)
  t.match(work[0]!, /^node\s+address\s+RPC\s+P2P\s+account$/)
  t.notMatch(work.join('\n'), /proof|pow|pom|pos/, 'no proof column on a work network')
})

t.test('--pom-memory and --pos-disk are checked before any node starts', async (t) => {
  t.equal(parseSizeFlag('pom-memory')('64M'), '64M', 'passed on as written')
  t.equal(parseSizeFlag('pos-disk')(' 10GiB '), '10GiB')
  for (const bad of ['12Q', '', '0', '-1', 'lots']) {
    t.throws(() => parseSizeFlag('pom-memory')(bad), UsageError, `"${bad}"`)
    t.throws(() => parseSizeFlag('pom-memory')(bad), { message: /^--pom-memory: / })
  }
  const parse = (args: string[]) =>
    devnetOptions(yargs(args))
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg)
      })
      .parseSync()
  t.match(parse([]), { pomMemory: '64M', posDisk: '128M' }, 'defaults')
  t.match(parse(['--pom-memory', '1G', '--pos-disk', '2G']), { pomMemory: '1G', posDisk: '2G' })
  t.throws(() => parse(['--pom-memory', '12Q']), /--pom-memory: expected a size such as 256M or 1G, got "12Q"/)
  t.throws(() => parse(['--pos-disk', '1X']), /--pos-disk: expected a size/)
})

const keys = new Map([
  [KEY(1), { name: 'node0', proofType: 'pow' }],
  [KEY(2), { name: 'node1', proofType: 'pom' }],
  [KEY(3), { name: 'node2', proofType: 'pos' }],
])

t.test("slot shares: each node's blocks from getValidators; anything else is no result", async (t) => {
  const result = {
    blocks: 100,
    emptyBlocks: 7,
    validators: [
      { key: KEY(1), fingerprint: 'aa', proofType: 'pow', blocksWon: 30, lastBlock: 99 },
      { key: KEY(2), fingerprint: 'bb', proofType: 'pom', blocksWon: 30, lastBlock: 98 },
      { key: KEY(1), fingerprint: 'cc', proofType: 'pow', blocksWon: 11, lastBlock: 50 },
      { key: KEY(9), fingerprint: 'dd', proofType: 'pos', blocksWon: 22, lastBlock: 97 },
    ],
    local: { mining: true },
  }
  const s = toSlotShares(result, keys)!
  t.equal(s.blocks, 100)
  t.equal(s.empty, 7)
  t.same(
    [...s.byNode],
    [
      ['node0', { proofType: 'pow', won: 41 }],
      ['node1', { proofType: 'pom', won: 30 }],
      ['node2', { proofType: 'pos', won: 0 }],
    ],
    'one key with two fingerprints counts once; a key of no devnet node is left out; a node that won nothing shows 0',
  )
  t.equal(formatShares(s), 'pow node0 41% · pom node1 30% · pos node2 0% · empty 7% of the last 100 blocks')
  t.same(toSlotShares({ blocks: 0, emptyBlocks: 0, validators: [] }, keys)?.blocks, 0, 'an empty chain')
  t.equal(
    formatShares(toSlotShares({ blocks: 0, emptyBlocks: 0, validators: [] }, keys)!),
    'pow node0 0% · pom node1 0% · pos node2 0% · empty 0% of the last 0 blocks',
    'no blocks: 0%, not NaN',
  )
  t.equal(
    formatShares(toSlotShares({ blocks: 3, emptyBlocks: 1, validators: [{ key: KEY(1), blocksWon: 2 }] }, new Map())!),
    'empty 33% of the last 3 blocks',
  )

  const ok = { blocks: 10, emptyBlocks: 1, validators: [{ key: KEY(1), blocksWon: 9 }] }
  for (const bad of [
    null,
    undefined,
    'x',
    42,
    [],
    {},
    { ...ok, blocks: -1 },
    { ...ok, blocks: 1.5 },
    { ...ok, blocks: '10' },
    { ...ok, emptyBlocks: -1 },
    { ...ok, emptyBlocks: 11 },
    { ...ok, emptyBlocks: undefined },
    { ...ok, validators: {} },
    { ...ok, validators: undefined },
    { ...ok, validators: [null] },
    { ...ok, validators: ['x'] },
    { ...ok, validators: [{ key: 5, blocksWon: 1 }] },
    { ...ok, validators: [{ blocksWon: 1 }] },
    { ...ok, validators: [{ key: KEY(1), blocksWon: -1 }] },
    { ...ok, validators: [{ key: KEY(1), blocksWon: '3' }] },
    { ...ok, validators: [{ key: KEY(1) }] },
  ]) {
    t.equal(toSlotShares(bad, keys), undefined, `refused: ${JSON.stringify(bad)}`)
  }
})

t.test('the status displays end with the shares when there are some', async (t) => {
  const views: NodeView[] = [{ name: 'node0', state: 'up', status: { height: 5, hash: HASH, peers: 1, pending: 0, mining: true } }]
  const shares = toSlotShares({ blocks: 4, emptyBlocks: 1, validators: [{ key: KEY(1), blocksWon: 3 }] }, keys)!
  const now = new Date(2026, 0, 2, 3, 4, 5)
  const block = formatStatusBlock(views, now, shares)
  t.equal(block.length, 3)
  t.equal(block[2], 'pow node0 75% · pom node1 0% · pos node2 0% · empty 25% of the last 4 blocks')
  t.equal(formatStatusBlock(views, now).length, 2, 'none without')
  t.match(formatStatusLine(views, now, shares), / \| pow node0 75% · pom node1 0% · pos node2 0% · empty 25% of the last 4 blocks$/)
  t.notMatch(formatStatusLine(views, now), /empty/)
})
