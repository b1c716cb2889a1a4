// `bkc devnet` through the real binary: three node processes on a random
// 127.R.0.0/16 prefix (never a developer's devnet on 127.0), wired by
// bootstrap + ADDR, one mining; the chain converges, the report's scripts
// reach it, SIGINT stops everything, a second run resumes the chain and
// survives a node dying, --fresh starts over, and bad options are refused.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import {
  BKC_BIN,
  randomLoopbackOctet,
  rpcResult,
  runBkc,
  runScript,
  sleep,
  spawnBkc,
  waitFor,
  type BkcProcess,
} from '../helpers/node-fixtures.js'

if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)

interface Status {
  height: number
  hash: string
  peers: number
  mining: boolean
}
interface Pids {
  devnet: number
  nodes: Array<{ node: number; pid: number }>
}
interface DevnetJson {
  network: string
  miners: Array<{ name: string; password: string; address: string | null }>
}

const prefix = `127.${randomLoopbackOctet()}`
const url = (i: number): string => `http://${prefix}.${53 + i}.5:8888/`
const NODES = 3

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

/** Starts `bkc devnet`; on teardown anything still running of it (devnet and nodes, by pid) is killed. */
function startDevnet(t: Test, dir: string, args: string[]): BkcProcess {
  const proc = spawnBkc(['devnet', '--dir', dir, '--net-prefix', prefix, ...args])
  t.teardown(async () => {
    if (!proc.hasExited()) {
      proc.child.kill('SIGKILL')
      await proc.exited
    }
    const pids = existsSync(join(dir, 'pids.json')) ? readJson<Pids>(join(dir, 'pids.json')) : undefined
    for (const n of pids?.nodes ?? []) if (alive(n.pid)) process.kill(n.pid, 'SIGKILL')
  })
  return proc
}

/** Waits for the node table (printed once every node runs and the miners mine). */
async function waitForTable(proc: BkcProcess): Promise<void> {
  await waitFor(
    'the devnet table',
    () => {
      if (proc.hasExited()) throw new Error(`bkc devnet exited early:\n${proc.stdout()}\n${proc.stderr()}`)
      return proc.stdout().includes('scripts: BKC_NET_PREFIX=')
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nstdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`)
  })
}

/** Sends `signal` and waits (bounded: 10 s, then SIGKILL) for the devnet to exit. */
async function stopDevnet(proc: BkcProcess, signal: NodeJS.Signals): Promise<{ code: number | null; killed: boolean }> {
  proc.child.kill(signal)
  let killed = false
  const timer = setTimeout(() => {
    killed = true
    proc.child.kill('SIGKILL')
  }, 10_000)
  const { code } = await proc.exited
  clearTimeout(timer)
  return { code, killed }
}

const statuses = (): Promise<Status[]> => Promise.all(Array.from({ length: NODES }, (_, i) => rpcResult<Status>(url(i), 'getStatus')))

t.test('a three-node devnet: converges, answers the scripts, stops on SIGINT, resumes, starts over', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  const dir = join(tmp.path, 'devnet')
  const network = join(tmp.path, 'network.json')
  writeFileSync(network, JSON.stringify(testNetworkJson({ networkId: 'bkc-devnet-it', bits: 12 })))

  // ---- first run: new accounts, mining on node 0
  const first = startDevnet(t, dir, ['--nodes', String(NODES), '--miners', '1', '--network', network])
  await waitForTable(first)
  const devnet = readJson<DevnetJson>(join(dir, 'devnet.json'))
  t.equal(devnet.network, 'bkc-devnet-it')
  t.equal(devnet.miners.length, 1)
  const address = devnet.miners[0]!.address!
  t.match(address, /^0[23][0-9a-f]{64}$/, 'devnet.json records the miner address')
  t.match(
    first.stdout(),
    new RegExp(
      `node0\\s+${prefix.replace('.', '\\.')}\\.53\\.5\\s+http://${prefix.replace('.', '\\.')}\\.53\\.5:8888\\s+\\S+:5555\\s+miner0 ${address}`,
    ),
  )
  t.match(first.stdout(), /node2\s+\S+\s+\S+\s+\S+\s+—/, 'a node without an account shows "—"')
  t.match(first.stdout(), `scripts: BKC_NET_PREFIX=${prefix} `)
  const pids = readJson<Pids>(join(dir, 'pids.json'))
  t.equal(pids.devnet, first.pid)
  t.same(
    pids.nodes.map((n) => n.node),
    [0, 1, 2],
  )

  await waitFor('every node above height 3', async () => (await statuses()).every((s) => s.height > 3), {
    timeoutMs: 60_000,
    intervalMs: 200,
  })
  const before = await statuses()
  t.same(
    before.map((s) => s.mining),
    [true, false, false],
    'only node 0 mines',
  )
  // Blocks come every few ms at this target: stop the one miner so the tips can settle.
  await rpcResult(url(0), 'stopMining')
  const settled = await waitFor(
    'one tip on every node',
    async () => {
      const s = await statuses()
      return new Set(s.map((x) => x.hash)).size === 1 ? s : undefined
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  )
  t.ok(settled[0]!.height > 3, `converged at height ${settled[0]!.height}`)
  t.ok(
    settled.every((s) => s.peers >= 1),
    'every node has a peer',
  )
  const reply = await runScript('getBalance.sh', [address, '55.5'], { BKC_NET_PREFIX: prefix })
  t.equal(reply.code, 0, "the report's script reaches node 2")
  t.equal(JSON.parse(reply.stdout).result, 20 * settled[0]!.height, 'node 2 credits the miner 20 coins per block')

  const stop1 = await stopDevnet(first, 'SIGINT')
  t.notOk(stop1.killed, 'the devnet exited within 10 s of SIGINT')
  t.equal(stop1.code, 0, 'exit 0')
  t.same(
    pids.nodes.filter((n) => alive(n.pid)),
    [],
    'no node process is left',
  )
  for (let i = 0; i < NODES; i++) t.match(first.stdout(), new RegExp(`node${i} pid \\d+: stopped \\(exit code 0\\)`))
  t.notOk(existsSync(join(dir, 'pids.json')), 'a clean stop removes pids.json')
  t.match(readFileSync(join(dir, 'node1', 'node.log'), 'utf8'), /node ready/, "each node's output is in its node.log")

  // ---- second run: same chain and account; a node that dies is reported and the rest keep running
  const second = startDevnet(t, dir, ['--nodes', String(NODES), '--miners', '1', '--network', network])
  await waitForTable(second)
  t.equal(readJson<DevnetJson>(join(dir, 'devnet.json')).miners[0]!.address, address, 'the same account')
  await rpcResult(url(0), 'stopMining')
  const resumed = await statuses()
  t.ok(
    resumed.every((s) => s.height >= settled[0]!.height),
    'the chain resumed where it stopped',
  )
  const pids2 = readJson<Pids>(join(dir, 'pids.json'))
  process.kill(pids2.nodes[2]!.pid, 'SIGKILL')
  await waitFor('the devnet to report node2', () => /node2 \(pid \d+\) exited on its own \(killed by SIGKILL\)/.test(second.stdout()), {
    timeoutMs: 20_000,
  })
  await sleep(500)
  t.notOk(second.hasExited(), 'the devnet keeps running')
  t.equal((await rpcResult<Status>(url(1), 'getStatus')).height >= settled[0]!.height, true, 'node 1 still answers')
  const stop2 = await stopDevnet(second, 'SIGTERM')
  t.equal(stop2.code, 0)
  t.notOk(stop2.killed)
  t.match(second.stdout(), /node2 pid \d+: had exited earlier \(killed by SIGKILL\)/)
  t.same(
    pids2.nodes.filter((n) => alive(n.pid)),
    [],
    'no node process is left',
  )

  // ---- --fresh: a new chain, no miners
  const third = startDevnet(t, dir, ['--nodes', '1', '--miners', '0', '--network', network, '--fresh'])
  await waitForTable(third)
  t.equal((await rpcResult<Status>(url(0), 'getStatus')).height, 0, '--fresh starts a new chain')
  t.same(readJson<DevnetJson>(join(dir, 'devnet.json')).miners, [], 'and new accounts')
  t.notOk(existsSync(join(dir, 'node1')), 'old node directories are gone')
  t.equal((await stopDevnet(third, 'SIGINT')).code, 0)
})

t.test('usage errors exit 2; a directory that is not a devnet is refused with exit 1', async (t) => {
  const tmp = tempDir('bkc-devnet-')
  t.teardown(tmp.cleanup)
  const dir = join(tmp.path, 'dn')
  const cases: Array<[string[], RegExp]> = [
    [['--nodes', '21'], /--nodes must be an integer from 1 to 20/],
    [['--nodes', '0'], /--nodes must be an integer from 1 to 20/],
    [['--nodes', '2', '--miners', '3'], /--miners must be an integer from 0 to --nodes \(2\)/],
    [['--net-prefix', '10.0'], /--net-prefix must be 127\.N/],
    [['--base-port', '8888'], /--base-port/],
    [['--log-level', 'loud'], /--log-level must be one of/],
    [['--nodes', '2', '--nodes', '3'], /--nodes was given 2 times/],
    [['--bogus'], /bogus/],
  ]
  for (const [flags, message] of cases) {
    const r = await runBkc(['devnet', '--dir', dir, ...flags])
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`)
    t.match(r.stderr, message)
  }
  t.notOk(existsSync(dir), 'nothing was created')

  mkdirSync(dir)
  writeFileSync(join(dir, 'precious.txt'), 'keep me')
  for (const extra of [[], ['--fresh']]) {
    const r = await runBkc(['devnet', '--dir', dir, '--net-prefix', prefix, '--nodes', '1', ...extra])
    t.equal(r.code, 1, `a foreign directory ${extra.join(' ')}: exit 1`)
    t.match(r.stderr, /does not look like a devnet directory/)
    t.equal(readFileSync(join(dir, 'precious.txt'), 'utf8'), 'keep me', 'its files are untouched')
  }
})
