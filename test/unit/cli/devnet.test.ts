// `bkc devnet`'s pure parts and its files: option checking, the node plan
// (addresses, ports, `bkc start` arguments, checked against the real start
// parser), the table and status formatting, the terminal redraw, and
// devnet.json / pids.json handling on a temp directory.
import t from 'tap'
import fc from 'fast-check'
import { isIP } from 'node:net'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import yargs from 'yargs'
import { tempDir } from '../../../bench/lib/fixtures.js'
import {
  DEFAULT_NET_PREFIX,
  displayPath,
  formatColumns,
  formatNodeTable,
  MAX_NODES,
  nodeHost,
  parseBasePort,
  parseNetPrefix,
  parseNodeCount,
  planNodes,
  resolveMiners,
  scriptsHint,
  type DevnetOptions,
} from '../../../cli/devnet/plan.js'
import {
  checkDevnetDir,
  clearDevnetDir,
  DevnetError,
  emptyDevnetFile,
  parseDevnetFile,
  readDevnetFile,
  readPidsFile,
  runningDevnetPid,
  removePidsFile,
  withMiners,
  writeDevnetFile,
  writePidsFile,
  type DevnetFile,
} from '../../../cli/devnet/state.js'
import {
  formatStatusBlock,
  formatStatusLine,
  shortHash,
  StatusBoard,
  syncSummary,
  toNodeStatus,
  type NodeView,
} from '../../../cli/devnet/status.js'
import { tailFile } from '../../../cli/devnet/process.js'
import { UsageError } from '../../../cli/options.js'
import { startOptions } from '../../../cli/start/command.js'

const ADDR_A = '02' + 'ab'.repeat(32)
const HASH_1 = '0001' + 'aa'.repeat(30)
const HASH_2 = '0002' + 'bb'.repeat(30)

function options(over: Partial<DevnetOptions> = {}): DevnetOptions {
  return { nodes: 5, miners: 3, dir: '/tmp/dn', logLevel: 'info', netPrefix: DEFAULT_NET_PREFIX, p2pPort: 5555, ...over }
}

t.test('option checking', async (t) => {
  for (const n of [1, 5, 20, '7']) t.equal(parseNodeCount(n), Number(n), `--nodes ${n}`)
  for (const bad of [0, 21, 1.5, -1, 'abc', NaN])
    t.throws(
      () => parseNodeCount(bad),
      { name: 'UsageError', message: /--nodes must be an integer from 1 to 20/ },
      `--nodes ${String(bad)}`,
    )

  t.equal(resolveMiners(undefined, 5), 3, 'default 3')
  t.equal(resolveMiners(undefined, 2), 2, 'default never exceeds --nodes')
  t.equal(resolveMiners(0, 5), 0, 'no miners is allowed')
  t.equal(resolveMiners(5, 5), 5, 'every node may mine')
  for (const bad of [6, -1, 1.5, 'x'])
    t.throws(
      () => resolveMiners(bad, 5),
      { name: 'UsageError', message: /--miners must be an integer from 0 to --nodes \(5\)/ },
      `--miners ${String(bad)}`,
    )

  for (const ok of ['127.0', '127.255', '127.9', '127.100']) t.equal(parseNetPrefix(ok), ok)
  for (const bad of ['127.256', '10.0', '192.168', '127.01', '127.0.1', '127', '', 127, undefined]) {
    t.throws(() => parseNetPrefix(bad), UsageError, `--net-prefix ${String(bad)} refused`)
  }

  t.equal(parseBasePort(5556), 5556)
  for (const bad of [0, 65536, 8888, 1.5, 'p']) t.throws(() => parseBasePort(bad), { message: /--base-port/ }, `--base-port ${String(bad)}`)
})

t.test('the node plan: the report layout on loopback', async (t) => {
  const plans = planNodes(options())
  t.same(
    plans.map((p) => p.host),
    ['127.0.53.5', '127.0.54.5', '127.0.55.5', '127.0.56.5', '127.0.57.5'],
  )
  t.same(
    plans.map((p) => p.subnet),
    ['53.5', '54.5', '55.5', '56.5', '57.5'],
  )
  t.same(
    plans.map((p) => p.miner),
    [0, 1, 2, null, null],
    'the first --miners nodes mine, miner i on node i',
  )
  t.equal(plans[2]!.rpcUrl, 'http://127.0.55.5:8888')
  t.equal(plans[2]!.dataDir, '/tmp/dn/node2')
  t.equal(plans[2]!.logFile, '/tmp/dn/node2/node.log')
  t.same(
    plans[0]!.args,
    ['start', '--listen', '127.0.53.5', '--port', '5555', '--rpc-port', '8888', '--data-dir', '/tmp/dn/node0', '--log-level', 'info'],
    'node 0 bootstraps to nobody',
  )
  t.same(plans[3]!.args, [
    'start',
    '--listen',
    '127.0.56.5',
    '--port',
    '5555',
    '--rpc-port',
    '8888',
    '--data-dir',
    '/tmp/dn/node3',
    '--log-level',
    'info',
    '--bootstrap',
    '127.0.53.5',
  ])

  const other = planNodes(options({ nodes: 2, miners: 0, netPrefix: '127.140', p2pPort: 6000, network: '/n/net.json', logLevel: 'debug' }))
  t.same(
    other[1]!.args,
    [
      'start',
      '--listen',
      '127.140.54.5',
      '--port',
      '6000',
      '--rpc-port',
      '8888',
      '--data-dir',
      '/tmp/dn/node1',
      '--network',
      '/n/net.json',
      '--log-level',
      'debug',
      '--bootstrap',
      '127.140.53.5:6000',
    ],
    'a non-default P2P port goes into the bootstrap address',
  )
  t.same(
    other.map((p) => p.miner),
    [null, null],
  )

  t.equal(planNodes(options({ nodes: MAX_NODES, miners: 0 }))[MAX_NODES - 1]!.host, '127.0.72.5', 'the 20th node is the last on 127.0.72.5')
})

t.test('every plan is a valid `bkc start` command line with distinct addresses', async (t) => {
  const prefix = fc.integer({ min: 0, max: 255 }).map((n) => `127.${n}`)
  const plan = fc
    .record({
      nodes: fc.integer({ min: 1, max: MAX_NODES }),
      prefix,
      port: fc.integer({ min: 1, max: 65535 }).filter((p) => p !== 8888),
      frac: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ nodes, prefix, port, frac }) => options({ nodes, miners: Math.floor(frac * nodes), netPrefix: prefix, p2pPort: port }))
  fc.assert(
    fc.property(plan, (opts) => {
      const plans = planNodes(opts)
      if (plans.length !== opts.nodes) return false
      if (new Set(plans.map((p) => p.host)).size !== opts.nodes) return false
      if (plans.filter((p) => p.miner !== null).length !== opts.miners) return false
      for (const p of plans) {
        if (isIP(p.host) !== 4 || !p.host.startsWith(opts.netPrefix + '.')) return false
        // The real `bkc start` parser, strict: unknown flags or bad values throw.
        const argv = startOptions(yargs(p.args.slice(1)))
          .strict()
          .exitProcess(false)
          .fail((msg, err) => {
            throw err ?? new Error(msg)
          })
          .parseSync()
        if (argv.listen !== p.host || argv.port !== opts.p2pPort || argv.rpcPort !== 8888 || argv.dataDir !== p.dataDir) return false
        const boots = (argv.bootstrap as Array<{ host: string; port: number }> | undefined) ?? []
        const want = p.index === 0 ? [] : [{ host: nodeHost(opts.netPrefix, 0), port: opts.p2pPort }]
        if (JSON.stringify(boots) !== JSON.stringify(want)) return false
      }
      return true
    }),
    { numRuns: 100 },
  )
  t.pass('100 random plans parse')
})

t.test('the node table and the scripts hint', async (t) => {
  const plans = planNodes(options({ nodes: 3, miners: 2 }))
  const lines = formatNodeTable(plans, [ADDR_A, undefined])
  t.equal(lines.length, 4)
  t.match(lines[0]!, /^node\s+address\s+RPC\s+P2P\s+account$/)
  t.equal(lines[1], `node0  127.0.53.5  http://127.0.53.5:8888  127.0.53.5:5555  miner0 ${ADDR_A}`)
  t.equal(lines[2], 'node1  127.0.54.5  http://127.0.54.5:8888  127.0.54.5:5555  miner1 (unknown)')
  t.equal(lines[3], 'node2  127.0.55.5  http://127.0.55.5:8888  127.0.55.5:5555  —')
  const columnStarts = (l: string) => [...l.matchAll(/ {2}(?=\S)/g)].map((m) => m.index)
  t.same(columnStarts(lines[1]!), columnStarts(lines[3]!), 'columns line up')

  t.equal(
    scriptsHint(plans, '127.0', ADDR_A, 'test/scripts/getBalance.sh'),
    `scripts: BKC_NET_PREFIX=127.0 test/scripts/getBalance.sh ${ADDR_A} 54.5`,
  )
  t.equal(
    scriptsHint(planNodes(options({ nodes: 1, miners: 0, netPrefix: '127.9' })), '127.9', undefined, 'g.sh'),
    'scripts: BKC_NET_PREFIX=127.9 g.sh <ADDRESS> 53.5',
    'one node: its own subnet',
  )

  t.same(
    formatColumns([
      ['a', 'bbb', 'c'],
      ['dddd', 'e', ''],
    ]),
    ['a     bbb  c', 'dddd  e'],
    'padding, no trailing blanks',
  )
  t.equal(displayPath('/repo/test/scripts/x.sh', '/repo'), 'test/scripts/x.sh')
  t.equal(displayPath('/repo/test/scripts/x.sh', '/elsewhere'), '/repo/test/scripts/x.sh')
})

const up = (
  name: string,
  height: number,
  hash: string,
  extra: Partial<{ peers: number; pending: number; mining: boolean }> = {},
): NodeView => ({
  name,
  state: 'up',
  status: { height, hash, peers: extra.peers ?? 2, pending: extra.pending ?? 0, mining: extra.mining ?? false },
})

t.test('status: getStatus results, sync summary and the two displays', async (t) => {
  const raw = { network: 'n', height: 7, hash: HASH_1, peers: 4, mining: true, miner: ADDR_A, hashRate: 10, pending: 3, unlocked: null }
  t.same(toNodeStatus(raw), { height: 7, hash: HASH_1, peers: 4, pending: 3, mining: true })
  for (const bad of [
    null,
    'x',
    [],
    { ...raw, height: -1 },
    { ...raw, hash: 5 },
    { ...raw, peers: 1.5 },
    { ...raw, mining: 'yes' },
    { ...raw, pending: undefined },
  ]) {
    t.equal(toNodeStatus(bad), undefined, `refused: ${JSON.stringify(bad)}`)
  }
  t.equal(shortHash(HASH_1), HASH_1.slice(0, 8))

  t.equal(syncSummary([up('node0', 9, HASH_1), up('node1', 9, HASH_1)]), `in sync at 9 (${HASH_1.slice(0, 8)})`)
  t.equal(syncSummary([up('node0', 9, HASH_1), up('node1', 8, HASH_2)]), 'not in sync: 2 tips, heights 8-9')
  t.equal(
    syncSummary([
      up('node0', 9, HASH_1),
      { name: 'node1', state: 'down', exit: 'exit code 1' },
      { name: 'node2', state: 'unreachable', error: 'timeout' },
    ]),
    `in sync at 9 (${HASH_1.slice(0, 8)}); down: node1; not answering: node2`,
    'a down node does not count against sync, but is named',
  )
  t.equal(syncSummary([{ name: 'node0', state: 'down', exit: 'exit code 1' }]), 'down: node0')
  t.equal(syncSummary([]), 'no node answers')

  const now = new Date(2026, 0, 2, 3, 4, 5)
  const views: NodeView[] = [
    up('node0', 12, HASH_1, { peers: 4, pending: 1, mining: true }),
    up('node1', 12, HASH_1),
    { name: 'node2', state: 'down', exit: 'killed by SIGKILL' },
  ]
  const block = formatStatusBlock(views, now)
  t.equal(block.length, 4, 'a line per node and a summary')
  t.match(block[0]!, /^node0\s+height 12\s+tip 0001aaaa\s+peers 4\s+pool 1\s+mining$/)
  t.match(block[1]!, /^node1\s+height 12\s+tip 0001aaaa\s+peers 2\s+pool 0$/)
  t.equal(block[2], 'node2  down (killed by SIGKILL)')
  t.equal(block[3], '03:04:05  in sync at 12 (0001aaaa); down: node2')

  t.equal(
    formatStatusLine(views, now),
    '03:04:05 node0 h=12 0001aaaa peers=4 pool=1 mining | node1 h=12 0001aaaa peers=2 pool=0 | node2 down | in sync at 12 (0001aaaa); down: node2',
  )
  t.notMatch(formatStatusLine(views, now), /\n/, 'one line')
})

t.test('StatusBoard redraws its lines in place and keeps notes above them', async (t) => {
  let written = ''
  const out = {
    columns: 40,
    write: (s: string) => {
      written += s
      return true
    },
  } as unknown as NodeJS.WriteStream
  const board = new StatusBoard(out)
  board.draw(['a', 'b'])
  t.equal(written, 'a\nb\n', 'first draw: plain lines')
  written = ''
  board.draw(['c', 'd', 'e'])
  t.equal(written, '\r\x1b[2A\x1b[Jc\nd\ne\n', 'second draw: up over the 2 old lines, erase, draw')
  written = ''
  board.note('hello')
  t.equal(written, '\r\x1b[3A\x1b[Jhello\n', 'a note replaces the block')
  written = ''
  board.draw(['f'])
  t.equal(written, 'f\n', 'the next draw starts below the note')
  written = ''
  board.draw(['x'.repeat(100)])
  t.equal(written, '\r\x1b[1A\x1b[J' + 'x'.repeat(38) + '…\n', 'lines wider than the terminal are cut so the count stays right')
})

t.test('devnet.json: parse, add miners, write 0600, read back', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  let n = 0
  const file = withMiners({ ...emptyDevnetFile(), network: 'bkc-x' }, 2, () => `pw${n++}`)
  t.same(file.miners, [
    { name: 'miner0', node: 0, password: 'pw0', address: null },
    { name: 'miner1', node: 1, password: 'pw1', address: null },
  ])
  const grown = withMiners({ ...file, miners: [{ ...file.miners[0]!, address: ADDR_A }, file.miners[1]!] }, 3, () => 'new')
  t.same(
    grown.miners.map((m) => [m.password, m.address]),
    [
      ['pw0', ADDR_A],
      ['pw1', null],
      ['new', null],
    ],
    'existing records kept, the missing one added',
  )
  t.equal(withMiners(grown, 1).miners.length, 3, 'fewer miners this run: records are kept for later runs')
  const random = withMiners(emptyDevnetFile(), 3).miners.map((m) => m.password)
  t.equal(new Set(random).size, 3, 'random passwords differ')
  t.ok(
    random.every((p) => p.length >= 20),
    'and are long',
  )

  t.equal(readDevnetFile(tmp.path), undefined, 'no file yet')
  writeFileSync(join(tmp.path, 'devnet.json'), '{}', { mode: 0o644 })
  writeDevnetFile(tmp.path, grown)
  t.equal(statSync(join(tmp.path, 'devnet.json')).mode & 0o777, 0o600, 'owner-only, even over a looser file')
  t.same(readDevnetFile(tmp.path), grown, 'round trip')
  t.notOk(existsSync(join(tmp.path, 'devnet.json.tmp')), 'no temp file left')

  const valid: DevnetFile = grown
  const cases: Array<[unknown, RegExp]> = [
    ['[]', /not a JSON object/],
    [{ ...valid, version: 2 }, /unknown version 2/],
    [{ ...valid, network: 5 }, /"network"/],
    [{ ...valid, miners: {} }, /"miners" must be a list/],
    [{ ...valid, miners: [{ ...valid.miners[0], name: 'bob' }] }, /miners\[0\]\.name must be "miner0"/],
    [{ ...valid, miners: [valid.miners[1]] }, /miners\[0\]\.name/],
    [{ ...valid, miners: [{ ...valid.miners[0], node: 3 }] }, /miners\[0\]\.node must be 0/],
    [{ ...valid, miners: [{ ...valid.miners[0], password: '' }] }, /password must be a non-empty string/],
    [{ ...valid, miners: [{ ...valid.miners[0], address: 'xyz' }] }, /address must be 66 hex digits or null/],
  ]
  for (const [json, message] of cases) {
    t.throws(
      () => parseDevnetFile(typeof json === 'string' ? json : JSON.stringify(json), 'f.json'),
      { name: 'DevnetError', message },
      String(message),
    )
  }
  t.throws(() => parseDevnetFile('{"version": ', 'f.json'), { name: 'DevnetError', message: /f\.json is not valid JSON/ })
  t.same(parseDevnetFile(JSON.stringify({ version: 1, network: null, miners: [] }), 'f'), emptyDevnetFile())
})

t.test('the devnet directory: what may be used, and what --fresh removes', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  const dir = join(tmp.path, 'dn')
  t.equal(checkDevnetDir(dir), 'absent')
  mkdirSync(dir)
  t.equal(checkDevnetDir(dir), 'empty')
  writeFileSync(join(dir, 'notes.txt'), 'mine')
  t.throws(() => checkDevnetDir(dir), { name: 'DevnetError', message: /is not empty and holds no devnet\.json/ })
  t.throws(() => clearDevnetDir(dir), DevnetError, '--fresh refuses a foreign directory')
  t.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine', 'and leaves it alone')
  t.throws(() => checkDevnetDir(join(dir, 'notes.txt')), { message: /is not a directory/ })

  writeDevnetFile(dir, emptyDevnetFile())
  mkdirSync(join(dir, 'node0', 'chain'), { recursive: true })
  writeFileSync(join(dir, 'node0', 'node.log'), 'x')
  mkdirSync(join(dir, 'node12'))
  writePidsFile(dir, { devnet: 1, nodes: [{ node: 0, pid: 2 }] })
  t.equal(checkDevnetDir(dir), 'devnet')
  clearDevnetDir(dir)
  t.same(readdirSync(dir), ['notes.txt'], 'only what the devnet made is removed')

  const own = join(tmp.path, 'own')
  mkdirSync(join(own, 'node1'), { recursive: true })
  writeDevnetFile(own, emptyDevnetFile())
  clearDevnetDir(own)
  t.notOk(existsSync(own), 'a directory with nothing else in it goes too')
  t.doesNotThrow(() => clearDevnetDir(own), 'clearing a missing directory is fine')
})

t.test('pids.json: written, read back, damaged; our own pid is not another devnet', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  t.equal(readPidsFile(tmp.path), undefined)
  writePidsFile(tmp.path, {
    devnet: 123,
    nodes: [
      { node: 0, pid: 124 },
      { node: 1, pid: 125 },
    ],
  })
  t.same(readPidsFile(tmp.path), {
    devnet: 123,
    nodes: [
      { node: 0, pid: 124 },
      { node: 1, pid: 125 },
    ],
  })
  writeFileSync(join(tmp.path, 'pids.json'), 'garbage')
  t.equal(readPidsFile(tmp.path), undefined, 'a damaged file reads as none')

  writePidsFile(tmp.path, { devnet: process.pid, nodes: [] })
  t.equal(runningDevnetPid(tmp.path), undefined, 'our own pid is not "another devnet"')
})

t.test('tailFile: the last lines of a log', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  const path = join(tmp.path, 'node.log')
  t.equal(tailFile(path, 5), '', 'a missing file has no tail')
  writeFileSync(path, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n\n')
  t.equal(tailFile(path, 3), 'line 97\nline 98\nline 99')
  const firstRun = readFileSync(path).length
  writeFileSync(path, 'this run\n', { flag: 'a' })
  t.equal(tailFile(path, 5, firstRun), 'this run', 'from an offset: only what came after it')
  t.equal(tailFile(path, 5, firstRun + 100), '', 'nothing after the end')
  writeFileSync(path, 'x'.repeat(200_000) + '\nlast')
  t.equal(tailFile(path, 2), 'x'.repeat(64 * 1024 - 5) + '\nlast', 'reads at most the last 64 KiB')
})

t.test('a clean stop removes pids.json, but only the one this devnet wrote', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  const path = join(tmp.path, 'pids.json')
  writePidsFile(tmp.path, { devnet: 4242, nodes: [{ node: 0, pid: 4243 }] })
  removePidsFile(tmp.path, 4000)
  t.ok(existsSync(path), "another devnet's file is kept")
  removePidsFile(tmp.path, 4242)
  t.notOk(existsSync(path), 'our own is removed')
  t.doesNotThrow(() => removePidsFile(tmp.path, 4242), 'and a missing one is fine')
})
