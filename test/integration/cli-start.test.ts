// `bkc start` through the real binary (dist/bin/bkc.js): flag checking and
// exit codes (2 = usage, 1 = runtime failure), aliases, the data-dir lock,
// SIGTERM and SIGINT (also mid-request) and JSON logs. Nodes listen on a random 127.X.0.0/16 address.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import {
  BKC_BIN,
  randomLoopbackOctet,
  waitForReady,
  rpcResult,
  postRaw,
  runBkc,
  settlesWithin,
  sleep,
  spawnBkc,
  stopProcess,
  waitFor,
  type BkcProcess,
} from '../helpers/node-fixtures.js'

if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)

const prefix = `127.${randomLoopbackOctet()}`
let nextHost = 1
/** A fresh loopback address for each node this file starts. */
const host = (): string => `${prefix}.54.${nextHost++}`

function workDir(t: Test): { dir: string; network: string } {
  const tmp = tempDir('bkc-cli-')
  t.teardown(tmp.cleanup)
  const network = join(tmp.path, 'network.json')
  writeFileSync(network, JSON.stringify(testNetworkJson({ networkId: 'bkc-cli', bits: 12 })))
  return { dir: tmp.path, network }
}

/** Starts a node and waits for its "node ready" log line; returns its RPC URL. */
async function startNode(t: Test, args: string[], cwd: string): Promise<{ proc: BkcProcess; url: string }> {
  const proc = spawnBkc(['start', ...args], { cwd })
  t.teardown(() => stopProcess(proc))
  const url = await waitForReady(proc, 20_000)
  return { proc, url }
}

t.test('usage errors exit 2 with a message naming the flag', async (t) => {
  const { dir, network } = workDir(t)
  const base = ['start', '--data-dir', join(dir, 'data'), '--network', network]
  const cases: Array<[string[], RegExp]> = [
    [['--bogus-flag'], /bogus-flag/],
    [['--port', '0'], /--port must be a port number.*"0"/],
    [['--port', '70000'], /--port must be a port number.*"70000"/],
    [['--rpc-port', 'abc'], /--rpc-port must be a port number.*got "abc"/],
    [['--port', '0x10'], /--port must be a port number.*got "0x10"/],
    [['--port'], /Not enough arguments following: port/],
    [['--listen', 'not-an-ip'], /--listen must be an IP address.*not-an-ip/],
    [['--log-level', 'loud'], /--log-level must be one of error, warn, info, debug.*loud/],
    [['--log-format', 'xml'], /--log-format must be text or json/],
    [['--port', '5555', '--port', '5556'], /--port was given 2 times/],
    [['--imPort', '0'], /--im-port must be a port number/],
  ]
  for (const [flags, message] of cases) {
    const r = await runBkc([...base, ...flags], { cwd: dir })
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`)
    t.match(r.stderr, message, `${flags.join(' ')}: says what is wrong`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  t.notOk(existsSync(join(dir, 'data')), 'nothing was created')
  const none = await runBkc([], { cwd: dir })
  t.equal(none.code, 2, 'no command: exit 2')
  t.match(none.stderr, /give a command/)
})

t.test('a network file that cannot be read: exit 1', async (t) => {
  const { dir } = workDir(t)
  const r = await runBkc(
    ['start', '--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', '/nonexistent/net.json'],
    { cwd: dir },
  )
  t.equal(r.code, 1)
  t.match(r.stderr, /cannot read network file \/nonexistent\/net\.json/)
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, '{"name": ')
  const r2 = await runBkc(['start', '--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', bad], { cwd: dir })
  t.equal(r2.code, 1)
  t.match(r2.stderr, /is not valid JSON/)
})

t.test('--network by name: a shipped network starts; an unknown name exits 2 naming the shipped ones', async (t) => {
  const { dir } = workDir(t)
  const bad = await runBkc(['start', '--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', 'nosuch'], {
    cwd: dir,
  })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--network: no shipped network named "nosuch" \(shipped: devnet, dsc\)/)
  t.notOk(existsSync(join(dir, 'data')), 'nothing was created')
  const { url } = await startNode(t, ['--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', 'devnet'], dir)
  t.equal((await rpcResult<{ network: string }>(url, 'getStatus')).network, 'bkc-devnet-2', 'the shipped devnet')
})

t.test('a second node on the same data dir exits 1: "in use"', async (t) => {
  const { dir, network } = workDir(t)
  const data = join(dir, 'data')
  const first = await startNode(t, ['--listen', host(), '--rpc-port', '0', '--data-dir', data, '--network', network], dir)
  const r = await runBkc(['start', '--listen', host(), '--rpc-port', '0', '--data-dir', data, '--network', network], { cwd: dir })
  t.equal(r.code, 1)
  t.match(r.stderr, /in use/)
  t.equal((await rpcResult<{ height: number }>(first.url, 'getStatus')).height, 0, 'the first node is unharmed')
})

t.test('a start that fails on a busy port leaves no data directory it created; one that existed stays', async (t) => {
  const { dir, network } = workDir(t)
  const listen = host()
  const busy = net.createServer()
  await new Promise<void>((resolve) => busy.listen(0, listen, resolve))
  t.teardown(() => busy.close())
  const port = String((busy.address() as net.AddressInfo).port)
  const spare = net.createServer()
  await new Promise<void>((resolve) => spare.listen(0, listen, resolve))
  const freePort = String((spare.address() as net.AddressInfo).port)
  await new Promise((resolve) => spare.close(resolve))
  const fresh = join(dir, 'new', 'data')
  for (const flags of [
    ['--port', port, '--rpc-port', '0'],
    ['--port', freePort, '--rpc-port', port],
  ]) {
    const r = await runBkc(['start', '--listen', listen, ...flags, '--data-dir', fresh, '--network', network], { cwd: dir })
    t.equal(r.code, 1, `${flags.join(' ')}: exit 1`)
    t.match(r.stderr, /in use|cannot listen/, 'says the port is taken')
    t.notOk(existsSync(join(dir, 'new')), 'the directories it created are gone')
  }
  const kept = join(dir, 'kept')
  mkdirSync(kept)
  writeFileSync(join(kept, 'notes.txt'), 'mine\n')
  const r = await runBkc(['start', '--listen', listen, '--port', port, '--rpc-port', '0', '--data-dir', kept, '--network', network], {
    cwd: dir,
  })
  t.equal(r.code, 1)
  t.equal(readFileSync(join(kept, 'notes.txt'), 'utf8'), 'mine\n', 'a data directory that existed stays, with what it held')
})

t.test('aliases: --rpcport is the RPC port; --imAddr/--imPort parse; a VPN address outside the subnet is a usage error', async (t) => {
  const { dir, network } = workDir(t)
  const port = 20_000 + Math.floor(Math.random() * 40_000)
  const h = host()
  const { url } = await startNode(t, ['--listen', h, '--rpcport', String(port), '--data-dir', join(dir, 'data'), '--network', network], dir)
  t.equal(url, `http://${h}:${port}/`, '--rpcport took effect')
  t.match(await rpcResult(url, 'getStatus'), { network: 'bkc-cli' })

  const vpn = await runBkc(
    ['start', '--listen', host(), '--imAddr', '10.1.2.3', '--imPort', '55556', '--data-dir', join(dir, 'vpn'), '--network', network],
    { cwd: dir },
  )
  t.notMatch(vpn.stderr, /Unknown argument/i, 'the aliases are known flags')
  t.match(vpn.stderr, /is outside the simulator's subnet 192\.168\.0\.0\/16/)
  t.equal(vpn.code, 2)

  const flags = ['--im-addr', '10.1.2.3', '--data-dir', join(dir, 'vpn')]
  const bad: Array<[string[], RegExp]> = [
    [['vpn', '--ip', '192.168.53.5', '--im-addr', '10.1.2.3', '--mtu', '40'], /--mtu must be an integer from 68/],
    [['vpn', '--ip', '192.168.53.5', '--im-addr', '10.1.2.3', '--im-key', 'abc'], /--im-key must be 64 hex digits/],
    [['vpn', '--ip', '192.168.53.5', '--im-addr', '10.1.2.3', '--dev', 'a-name-far-too-long'], /--dev must be an interface name/],
    [['vpn', '--ip', '192.168.0.0', ...flags], /network or broadcast address/],
    [['vpn', '--ip', '192.168.53.5'], /needs --im-addr/],
    [['vpn', '--ip', '192.168.53.5', ...flags, '--im-secret-file', join(dir, 'missing')], /--im-secret-file .*cannot read it/],
  ]
  for (const [args, message] of bad) {
    const r = await runBkc(args, { cwd: dir })
    t.match(r.stderr, message, args.join(' '))
    t.equal(r.code, 2, 'usage error')
  }
})

t.test('SIGTERM while mining: exits 0 promptly and logs "stopped"', async (t) => {
  const { dir, network } = workDir(t)
  const { proc, url } = await startNode(
    t,
    ['--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', network],
    dir,
  )
  await rpcResult(url, 'createAccount', ['m', 'pw'])
  t.equal(await rpcResult(url, 'mining', ['m', 'pw']), true)
  await waitFor('a mined block', async () => (await rpcResult<{ height: number }>(url, 'getStatus')).height >= 1)
  const sent = Date.now()
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000)
  const { code, signal } = await proc.exited
  clearTimeout(timer)
  const took = Date.now() - sent
  t.equal(signal, null, 'not killed')
  t.equal(code, 0)
  t.ok(took < 2000, `exited within 2 s (took ${took} ms)`)
  t.match(proc.stderr(), /shutting down.*SIGTERM/)
  t.match(proc.stderr(), /mining stopped/)
  t.match(proc.stderr(), /\bstopped\n/)
})

t.test('--log-format json: every stderr line is a JSON object with level and message', async (t) => {
  const { dir, network } = workDir(t)
  const { proc } = await startNode(
    t,
    [
      '--listen',
      host(),
      '--rpc-port',
      '0',
      '--log-format',
      'json',
      '--log-level',
      'debug',
      '--data-dir',
      join(dir, 'data'),
      '--network',
      network,
    ],
    dir,
  )
  await stopProcess(proc)
  const lines = proc
    .stderr()
    .split('\n')
    .filter((l) => l !== '')
  t.ok(lines.length >= 3, 'logged startup, ready and stop')
  for (const line of lines) {
    let rec: Record<string, unknown> | null = null
    try {
      rec = JSON.parse(line) as Record<string, unknown>
    } catch {
      // reported below
    }
    t.ok(rec !== null && typeof rec === 'object', `JSON: ${line.slice(0, 80)}`)
    t.type(rec?.level, 'string')
    t.type(rec?.message, 'string')
  }
  t.ok(lines.some((l) => (JSON.parse(l) as { message: string }).message === 'stopped'))
})

t.test('SIGINT while a batch ending in "mining" runs: exits 0 within 5 s and never starts mining', async (t) => {
  const { dir, network } = workDir(t)
  // Default scrypt parameters: each of the batch's five key derivations takes a while.
  const { proc, url } = await startNode(
    t,
    ['--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', network, '--log-level', 'info'],
    dir,
  )
  const pw = 'correct horse'
  const batch = JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'createAccount', params: ['late', pw] },
    { jsonrpc: '2.0', id: 2, method: 'unlock', params: ['late', pw] },
    { jsonrpc: '2.0', id: 3, method: 'unlock', params: ['late', pw] },
    { jsonrpc: '2.0', id: 4, method: 'unlock', params: ['late', pw] },
    { jsonrpc: '2.0', id: 5, method: 'mining', params: ['late', pw] },
  ])
  const reply = postRaw(url, batch)
  await sleep(50)
  proc.child.kill('SIGINT')
  const boundMs = 5000
  const exited = await settlesWithin(proc.exited, boundMs)
  t.ok(exited, `the process exits within ${boundMs} ms of SIGINT`)
  if (exited) t.equal((await proc.exited).code, 0, 'with status 0')
  else t.comment(proc.stderr().split('\n').slice(-8).join('\n'))
  t.notMatch(proc.stderr(), /mining started/, 'mining never started')
  await reply
})

t.test("bkc start --help lists the node's own flags first, the VPN group after", async (t) => {
  const r = await runBkc(['start', '--help'], { cwd: process.cwd() })
  t.equal(r.code, 0)
  const at = (text: string): number => r.stdout.indexOf(text)
  /** Where the flag's own help line starts (the command's description names some flags too). */
  const flagAt = (flag: string): number => r.stdout.search(new RegExp(`^ +${flag}[ ,]`, 'm'))
  t.ok(at('Node:') >= 0 && at('VPN mode (with --im-addr):') > at('Node:'), 'a node group, then a VPN group')
  for (const flag of ['--listen', '--port', '--rpc-port', '--data-dir', '--bootstrap', '--network', '--log-format']) {
    t.ok(flagAt(flag) > at('Node:') && flagAt(flag) < at('VPN mode (with --im-addr):'), `${flag} in the node group`)
  }
  for (const flag of ['--im-addr', '--im-port', '--im-key', '--subnet', '--mtu', '--dev', '--offload']) {
    t.ok(flagAt(flag) > at('VPN mode (with --im-addr):'), `${flag} in the VPN group`)
  }
  t.match(r.stdout, /--bootstrap\s+peer to dial at startup, HOST\[:PORT\] \(port 5555\)/, 'the default port in the help text')
})
