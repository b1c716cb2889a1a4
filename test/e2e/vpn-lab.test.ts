// The report's deployment end to end, in network namespaces standing in for
// lab VMs: one namespace runs `bkc simulator`, five run
// `bkc start --listen 192.168.5X.5 --im-addr <simulator>` (real TUNs, real
// tunnel, real nodes), and the report's steps 4-8 run through the shell
// scripts inside them. Then: ping, a 50 MB transfer, a host killed and
// restarted, the simulator restarted, a claim on a held IP, a spoofed source.
// Needs root (namespaces, TUN); elsewhere it skips with the reason.
import t, { type Test } from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import { BKC_BIN, PACKAGE_DIR, SCRIPTS_DIR, sleep, waitFor } from '../helpers/node-fixtures.js'
import { canRunNetns, NetnsLab } from '../../bench/lib/netns-lab.js'
import { findTunAddon } from '../../vpn-client/native-tun.js'

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5'] as const
type Host = (typeof HOSTS)[number]
const IP: Record<Host, string> = { h1: '192.168.53.5', h2: '192.168.54.5', h3: '192.168.55.5', h4: '192.168.56.5', h5: '192.168.57.5' }
/** The scripts' SUBNET argument: the last two octets. */
const SUB: Record<Host, string> = { h1: '53.5', h2: '54.5', h3: '55.5', h4: '56.5', h5: '57.5' }
const STATS_PORT = 8080

function skipReason(): string | null {
  const netns = canRunNetns()
  if (netns !== null) return netns
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing'
  if (findTunAddon() === null) return 'the TUN addon is not built (npm install builds it)'
  return null
}

const reason = skipReason()
if (reason !== null) {
  t.comment(`skipping the VPN lab: ${reason}`)
  t.plan(0, reason)
} else {
  t.setTimeout(600_000)
  t.test('five VMs behind the internet simulator', { timeout: 600_000 }, async (t) => runLab(t))
}

interface Proc {
  child: ChildProcess
  log: string[]
  exited: Promise<number | null>
}

async function runLab(t: Test): Promise<void> {
  if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)
  const tmp = tempDir('bkc-lab-')
  t.teardown(tmp.cleanup)
  const lab = await NetnsLab.create({ hosts: ['sim', ...HOSTS] })
  t.teardown(async () => {
    const errors = await lab.destroy()
    if (errors.length > 0) t.comment(`lab cleanup: ${errors.join('; ')}`)
  })
  const simIp = lab.addressOf('sim')
  const networkFile = join(tmp.path, 'network.json')
  // 16 zero bits: a block every ~20 ms of one thread's hashing.
  writeFileSync(networkFile, JSON.stringify(testNetworkJson({ bits: 16, networkId: 'bkc-lab' })))
  const procs = new Map<string, Proc>()
  t.teardown(() => {
    if (t.passing()) return
    for (const [name, p] of procs) t.comment(`--- ${name} log (last lines) ---\n${p.log.slice(-40).join('')}`)
  })

  const spawnIn = (host: string, name: string, args: string[]): Proc => {
    const child = lab.spawn(host, [process.execPath, BKC_BIN, ...args], { cwd: tmp.path })
    const log: string[] = []
    const keep = (chunk: Buffer): void => {
      log.push(chunk.toString())
      if (log.length > 400) log.splice(0, 100)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const p = { child, log, exited }
    procs.set(name, p)
    return p
  }
  const startSim = (): Proc =>
    spawnIn('sim', 'simulator', [
      'simulator',
      '--host',
      simIp,
      '--data-dir',
      join(tmp.path, 'sim'),
      '--stats-port',
      String(STATS_PORT),
      '--log-level',
      'debug',
    ])
  // h5 runs without TUN offloads: the others' TCP super-packets reach it as segments the simulator cuts.
  const startHost = (h: Host): Proc =>
    spawnIn(h, h, [
      'start',
      '--listen',
      IP[h],
      '--im-addr',
      simIp,
      '--data-dir',
      join(tmp.path, h),
      '--network',
      networkFile,
      '--log-level',
      'debug',
      ...(h === 'h5' ? ['--no-offload'] : []),
    ])

  /** JSON-RPC from inside `from`'s namespace to the node at `to` (through the tunnel unless from === to). */
  const rpc = async <T = unknown>(from: Host, to: Host, method: string, params: unknown[] = []): Promise<T> => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
    const r = await lab.exec(
      from,
      ['curl', '-sS', '-m', '5', '-H', 'content-type: application/json', '-d', body, `http://${IP[to]}:8888/`],
      { timeoutMs: 10_000 },
    )
    if (r.code !== 0) throw new Error(`rpc ${method} ${from}->${to}: curl exit ${r.code}: ${r.stderr}`)
    const reply = JSON.parse(r.stdout) as { result?: T; error?: { message: string } }
    if (reply.error !== undefined) throw new Error(`rpc ${method} ${from}->${to}: ${reply.error.message}`)
    return reply.result as T
  }
  const tryRpc = async <T>(from: Host, to: Host, method: string, params: unknown[] = []): Promise<T | undefined> => {
    try {
      return await rpc<T>(from, to, method, params)
    } catch {
      return undefined
    }
  }
  /** A report script run inside the host's namespace, as a student would on that VM. */
  const sh = async (h: Host, script: string, ...args: string[]) => {
    const r = await lab.exec(h, [join(SCRIPTS_DIR, script), ...args], { timeoutMs: 30_000 })
    const line = r.stdout.trim()
    return {
      code: r.code,
      json: (line === '' ? {} : JSON.parse(line)) as { result?: unknown; error?: { code: number; message: string } },
      raw: r.stdout + r.stderr,
    }
  }
  type Status = { height: number; hash: string; peers: number; mining: boolean; pending: number }
  const status = (h: Host) => rpc<Status>(h, h, 'getStatus')
  const allOnOneTip = async (): Promise<Status | false> => {
    const s = await Promise.all(HOSTS.map((h) => tryRpc<Status>(h, h, 'getStatus')))
    if (s.some((x) => x === undefined)) return false
    return s.every((x) => x!.hash === s[0]!.hash) ? s[0]! : false
  }
  const simStats = async () => {
    const r = await lab.exec('sim', ['curl', '-sS', '-m', '5', `http://${simIp}:${STATS_PORT}/stats`])
    return JSON.parse(r.stdout) as { clients: Array<{ ip: string; key: string; drops: Record<string, number>; packetsIn: number }> }
  }
  const ping = async (from: Host, to: Host, count = 5) => {
    const r = await lab.exec(
      from,
      ['python3', join(PACKAGE_DIR, 'test', 'helpers', 'icmp_ping.py'), IP[to], '-c', String(count), '-i', '0.1', '-W', '2'],
      { timeoutMs: 30_000 },
    )
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sent: number; received: number; median_ms: number | null }
    return { code: r.code, ...summary }
  }

  // ---- step 3: the simulator and five VMs -------------------------------------------
  let sim = startSim()
  await waitFor('the simulator', () => sim.log.join('').includes('simulator listening'), { timeoutMs: 20_000, intervalMs: 100 })
  const host: Record<string, Proc> = {}
  for (const h of HOSTS) host[h] = startHost(h)
  await waitFor(
    'five nodes answering over their TUN address',
    async () => {
      for (const h of HOSTS) if (host[h]!.child.exitCode !== null) throw new Error(`${h} exited: ${host[h]!.log.join('')}`)
      const s = await Promise.all(HOSTS.map((h) => tryRpc<Status>(h, h, 'getStatus')))
      return s.every((x) => x !== undefined)
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
  await waitFor(
    'every node connected to a peer (bootstrap 192.168.53.5)',
    async () => {
      const s = await Promise.all(HOSTS.map((h) => status(h)))
      return s.every((x) => x.peers >= 1)
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
  const tun = await lab.exec('h1', ['ip', '-o', 'addr', 'show', 'dev', 'bkc0'])
  t.match(tun.stdout, /inet 192\.168\.53\.5\/16/, 'h1 has its TUN with 192.168.53.5/16')
  t.match((await lab.exec('h1', ['ip', 'link', 'show', 'dev', 'bkc0'])).stdout, /mtu 1400/, 'MTU 1400')
  t.match((await lab.exec('h1', ['ip', 'route', 'show', '192.168.0.0/16'])).stdout, /dev bkc0/, 'a route for 192.168.0.0/16 through it')
  t.notMatch((await lab.exec('h1', ['ip', '-6', 'addr', 'show', 'dev', 'bkc0'])).stdout, /inet6/, 'no IPv6 on the TUN')

  // ---- step 4: accounts on three VMs ------------------------------------------------
  const pk: Record<string, string> = {}
  const owners: Array<[string, Host]> = [
    ['test1', 'h1'],
    ['test2', 'h2'],
    ['test3', 'h3'],
  ]
  for (const [name, h] of owners) {
    const r = await sh(h, 'createAccount.sh', name, '123', SUB[h])
    t.equal(r.code, 0, `createAccount.sh ${name} on ${h}: ${r.raw}`)
    pk[name] = r.json.result as string
  }

  // ---- steps 5-6: mine on three VMs, then stop ------------------------------------------
  for (const [name, h] of owners) t.equal((await sh(h, 'mining.sh', name, '123', SUB[h])).code, 0, `mining.sh on ${h}`)
  await waitFor('10 blocks', async () => (await status('h1')).height >= 10, { timeoutMs: 120_000, intervalMs: 250 })
  for (const [, h] of owners) t.equal((await sh(h, 'stopMine.sh', SUB[h])).code, 0, `stopMine.sh on ${h}`)
  const tip1 = await waitFor('all five on one tip', allOnOneTip, { timeoutMs: 60_000, intervalMs: 250 })

  // ---- step 7: balances identical on all five -----------------------------------------
  const balancesOn = async (h: Host): Promise<number[]> => {
    const out: number[] = []
    for (const name of ['test1', 'test2', 'test3']) {
      const r = await sh(h, 'getBalance.sh', pk[name]!, SUB[h])
      if (r.code !== 0) throw new Error(`getBalance.sh on ${h}: ${r.raw}`)
      out.push(r.json.result as number)
    }
    return out
  }
  const before = await balancesOn('h1')
  for (const h of HOSTS.slice(1)) t.same(await balancesOn(h), before, `balances on ${h} equal h1's`)
  t.equal(
    before.reduce((a, b) => a + b, 0),
    20 * tip1.height,
    'the three miners hold every reward',
  )

  // ---- step 8: a transfer, pending everywhere, then mined --------------------------------
  const from = before[0]! >= 20 ? 'test1' : before[1]! >= 20 ? 'test2' : 'test3'
  const fromHost = owners.find(([n]) => n === from)![1]
  const to = from === 'test3' ? 'test1' : 'test3'
  const sent = await sh(fromHost, 'sendTx.sh', from, '123', pk[to]!, '20', SUB[fromHost])
  t.equal(sent.code, 0, `sendTx.sh ${from} -> ${to}: ${sent.raw}`)
  const txHash = sent.json.result as string
  await waitFor(
    'the transaction pending on h5',
    async () => {
      const r = await sh('h5', 'getTx.sh', txHash, SUB.h5)
      return r.code === 0 && (r.json.result as { status?: string } | null)?.status === 'pending'
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  )
  t.pass('h5 sees the transaction pending')
  t.equal((await sh('h4', 'mining.sh', 'test1', '123', SUB.h4)).code, 1, 'h4 has no test1 account: mining.sh fails there')
  t.equal((await sh('h2', 'mining.sh', 'test2', '123', SUB.h2)).code, 0, 'mining again on h2')
  try {
    await waitFor(
      'the transfer confirmed on h4',
      async () => {
        const r = await sh('h4', 'getTx.sh', txHash, SUB.h4)
        return (r.json.result as { status?: string } | null)?.status === 'confirmed'
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    )
  } finally {
    await sh('h2', 'stopMine.sh', SUB.h2)
  }
  const tip2 = await waitFor('all five on one tip again', allOnOneTip, { timeoutMs: 60_000, intervalMs: 250 })
  const after = await balancesOn('h5')
  for (const h of HOSTS.slice(0, 4)) t.same(await balancesOn(h), after, `balances on ${h} equal h5's`)
  const idx = (name: string) => ['test1', 'test2', 'test3'].indexOf(name)
  const newRewards = 20 * (tip2.height - tip1.height)
  const expected = [...before]
  expected[idx(from)]! -= 20
  expected[idx(to)]! += 20
  expected[1]! += newRewards
  t.same(after, expected, `the 20 moved from ${from} to ${to}; test2 got ${newRewards} in new rewards`)

  // ---- ping and a 50 MB transfer through the tunnel -------------------------------------
  const p = await ping('h1', 'h2')
  t.equal(p.code, 0, 'ping h1 -> h2 through the tunnel')
  t.ok(p.received >= 4, `${p.received}/5 replies (median ${p.median_ms} ms)`)
  const server = lab.spawn('h5', [
    process.execPath,
    join(PACKAGE_DIR, 'dist', 'bench', 'tcp-stream.js'),
    'server',
    '--host',
    IP.h5,
    '--port',
    '5201',
    '--once',
  ])
  let serverOut = ''
  server.stdout!.on('data', (c: Buffer) => (serverOut += c.toString()))
  const serverDone = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)))
  await waitFor('the receiver listening', async () => (await lab.exec('h5', ['ss', '-ltn', 'sport = :5201'])).stdout.includes('5201'), {
    timeoutMs: 10_000,
    intervalMs: 100,
  })
  const send = await lab.exec(
    'h4',
    [process.execPath, join(PACKAGE_DIR, 'dist', 'bench', 'tcp-stream.js'), 'client', '--host', IP.h5, '--port', '5201', '--bytes', '50M'],
    { timeoutMs: 120_000 },
  )
  t.equal(send.code, 0, `50 MB sent h4 (offloads) -> h5 (--no-offload): ${send.stderr}`)
  t.equal(await serverDone, 0, 'the receiver got the whole stream')
  const sentStat = JSON.parse(send.stdout.trim()) as { bytes: number; sha256: string; mbps: number }
  const gotStat = JSON.parse(serverOut.trim().split('\n').pop()!) as { bytes: number; sha256: string }
  t.equal(gotStat.bytes, 50_000_000, '50,000,000 bytes arrived')
  t.equal(gotStat.sha256, sentStat.sha256, `same sha256 (${Math.round(sentStat.mbps)} Mbit/s)`)

  // ---- a host killed and restarted rejoins and catches up ----------------------------------
  host.h5!.child.kill('SIGKILL')
  await host.h5!.exited
  await waitFor('h5 TUN gone with its process', async () => (await lab.exec('h5', ['ip', 'link', 'show', 'dev', 'bkc0'])).code !== 0, {
    timeoutMs: 10_000,
    intervalMs: 100,
  })
  t.equal((await sh('h3', 'mining.sh', 'test3', '123', SUB.h3)).code, 0, 'mining on h3 while h5 is down')
  const h3Target = tip2.height + 5
  try {
    await waitFor('5 more blocks', async () => (await status('h3')).height >= h3Target, { timeoutMs: 60_000, intervalMs: 250 })
  } finally {
    await sh('h3', 'stopMine.sh', SUB.h3)
  }
  host.h5 = startHost('h5')
  const tip3 = await waitFor('h5 back on the common tip', allOnOneTip, { timeoutMs: 90_000, intervalMs: 250 })
  t.ok(tip3.height >= h3Target, `h5 caught up to height ${tip3.height} after a SIGKILL (same key: its IP at once)`)

  // ---- the simulator restarted mid-run: everyone recovers on their own -----------------------
  sim.child.kill('SIGTERM')
  t.equal(await sim.exited, 0, 'the simulator exits 0 on SIGTERM (after telling clients RESTARTING)')
  await sleep(1000)
  sim = startSim()
  await waitFor(
    'all five VPN clients registered again',
    async () => {
      const s = await simStats().catch(() => undefined)
      return s !== undefined && s.clients.length === 5
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
  const p2 = await ping('h2', 'h3')
  t.equal(p2.code, 0, 'ping h2 -> h3 works after the simulator restart')
  t.equal((await sh('h1', 'mining.sh', 'test1', '123', SUB.h1)).code, 0, 'mining on h1 after the restart')
  try {
    await waitFor(
      'a new block reaches all five',
      async () => {
        const s = await allOnOneTip()
        return s !== false && s.height > tip3.height
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    )
  } finally {
    await sh('h1', 'stopMine.sh', SUB.h1)
  }
  t.pass('blocks propagate through the restarted simulator')
  for (const h of HOSTS) t.equal(host[h]!.child.exitCode, null, `${h} never exited`)

  // ---- a second client claiming a held IP is refused ----------------------------------------
  const thief = await lab.exec(
    'sim',
    [process.execPath, BKC_BIN, 'vpn', '--ip', IP.h2, '--im-addr', simIp, '--data-dir', join(tmp.path, 'thief')],
    { timeoutMs: 30_000 },
  )
  t.equal(thief.code, 1, 'a second key claiming 192.168.54.5 exits 1')
  t.match(thief.stderr, /192\.168\.54\.5 is in use by another client/, 'with the reason')
  t.not((await lab.exec('sim', ['ip', 'link', 'show', 'dev', 'bkc0'])).code, 0, 'and leaves no TUN behind')

  // ---- a spoofed source is dropped ------------------------------------------------------------
  const dropsOf = async (ip: string) => (await simStats()).clients.find((c) => c.ip === ip)?.drops.SPOOFED ?? 0
  const spoofedBefore = await dropsOf(IP.h2)
  const spoof = await lab.exec('h2', ['python3', '-c', SPOOF_PY, IP.h1, IP.h3], { timeoutMs: 10_000 })
  t.equal(spoof.code, 0, `a raw packet from ${IP.h1} sent on h2 ${spoof.stderr}`)
  await waitFor('the SPOOFED drop counted against h2', async () => (await dropsOf(IP.h2)) > spoofedBefore, {
    timeoutMs: 10_000,
    intervalMs: 100,
  })
  t.pass('the simulator dropped the spoofed packet and counted it')

  // ---- packets the kernel refuses (link down: EIO) are dropped, not fatal ----------------------
  await lab.exec('h3', ['ip', 'link', 'set', 'dev', 'bkc0', 'down'])
  await ping('h2', 'h3', 3)
  await lab.exec('h3', ['ip', 'link', 'set', 'dev', 'bkc0', 'up'])
  t.equal((await ping('h2', 'h3')).code, 0, 'h3 answers again after its TUN was down while packets came in')
  t.equal(host.h3!.child.exitCode, null, 'h3 kept running')

  // ---- the TUN deleted under a client: it stops (exit 1), it does not linger -------------------
  await lab.exec('h5', ['ip', 'link', 'del', 'dev', 'bkc0'])
  t.equal(await host.h5!.exited, 1, 'h5 exits 1 when its TUN is deleted')

  // ---- clean exit on SIGTERM removes the TUN --------------------------------------------------
  const termAt = performance.now()
  host.h4!.child.kill('SIGTERM')
  t.equal(await host.h4!.exited, 0, 'h4 exits 0 on SIGTERM')
  t.comment(`h4 (node + VPN) exited ${Math.round(performance.now() - termAt)} ms after SIGTERM`)
  t.not((await lab.exec('h4', ['ip', 'link', 'show', 'dev', 'bkc0'])).code, 0, 'its TUN is gone')
}

/** Sends one UDP packet with a forged IPv4 source (IPPROTO_RAW sets IP_HDRINCL). */
const SPOOF_PY = `
import socket, struct, sys
src, dst = sys.argv[1], sys.argv[2]
payload = b'spoofed'
udp = struct.pack('!HHHH', 40000, 40000, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
`
