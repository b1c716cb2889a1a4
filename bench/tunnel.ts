// TCP throughput and idle RTT between two "VMs" through the internet
// simulator, next to plain veth between the same two namespaces, measured in
// the same run. Builds a namespace lab (simulator + two hosts on a bridge;
// nothing in the root namespace), runs `bkc simulator` and two `bkc vpn`
// processes, and for each tunnel setting (encrypted or --no-encrypt, TUN
// offloads on or --no-offload) measures several rounds, each round also
// measuring veth, and prints medians. Needs root.
//
// The traffic tool is iperf3 when installed (the figures in
// founders' measurements are iperf3's), else bench/tcp-stream.js; the table
// says which. The targets (README) are printed with the figures.
//
//   sudo node dist/bench/tunnel.js [--rounds 3] [--seconds 5] [--pings 50]
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { canRunNetns, NetnsLab } from './lib/netns-lab.js'
import { DEFAULT_SIMULATOR_PORT } from '../protocol/tunnel/defaults.js'
import { fmtRatio, intFlag, loadAverage, median, printHeader, printTable, tempDir } from './lib/harness.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BKC = join(ROOT, 'dist', 'bin', 'bkc.js')
const TCP_STREAM = join(ROOT, 'dist', 'bench', 'tcp-stream.js')
const PING = join(ROOT, 'test', 'helpers', 'icmp_ping.py')
const A = '192.168.53.5'
const B = '192.168.54.5'

interface Setting {
  name: string
  encrypt: boolean
  offload: boolean
}

const SETTINGS: Setting[] = [
  { name: 'tunnel, encrypted (default)', encrypt: true, offload: true },
  { name: 'tunnel, --no-encrypt', encrypt: false, offload: true },
  { name: 'tunnel, encrypted, --no-offload', encrypt: true, offload: false },
  { name: 'tunnel, --no-encrypt --no-offload', encrypt: false, offload: false },
]

const hasIperf3 = (() => {
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

async function main(): Promise<void> {
  const reason = canRunNetns()
  if (reason !== null) {
    console.error(`bench:tunnel ${reason}`)
    process.exit(1)
  }
  const rounds = intFlag('rounds', 3)
  const seconds = intFlag('seconds', 5)
  const pings = intFlag('pings', 50)
  const tmp = tempDir('bkc-bench-tunnel-')
  const lab = await NetnsLab.create({ hosts: ['sim', 'a', 'b'] })
  const cleanup = async (): Promise<void> => {
    await lab.destroy()
    tmp.cleanup()
  }
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  try {
    printHeader(
      'Tunnel throughput and RTT',
      `${rounds} rounds x ${seconds} s per setting, one TCP stream (${hasIperf3 ? 'iperf3' : 'bench/tcp-stream.js'}); idle RTT: ${pings} ICMP echoes 50 ms apart`,
    )
    const simIp = lab.addressOf('sim')

    const throughput = async (server: string, dst: string, from: string): Promise<number> => {
      if (hasIperf3) {
        const srv = lab.spawn(server, ['iperf3', '-s', '-1', '-B', dst])
        const srvDone = new Promise((resolve) => srv.once('exit', resolve))
        await waitListening(lab, server, 5201)
        const r = await lab.exec(from, ['iperf3', '-c', dst, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 })
        await srvDone
        if (r.code !== 0) throw new Error(`iperf3 ${from} -> ${dst}: ${r.stdout.slice(0, 500)} ${r.stderr}`)
        const json = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }
        return json.end.sum_received.bits_per_second / 1e6
      }
      const srv = lab.spawn(server, [process.execPath, TCP_STREAM, 'server', '--host', dst, '--port', '5201', '--once'])
      let out = ''
      srv.stdout!.on('data', (c: Buffer) => (out += c.toString()))
      const srvDone = new Promise((resolve) => srv.once('exit', resolve))
      await waitListening(lab, server, 5201)
      const r = await lab.exec(
        from,
        [process.execPath, TCP_STREAM, 'client', '--host', dst, '--port', '5201', '--seconds', String(seconds)],
        { timeoutMs: (seconds + 20) * 1000 },
      )
      await srvDone
      if (r.code !== 0) throw new Error(`tcp-stream ${from} -> ${dst}: ${r.stderr}`)
      return (JSON.parse(out.trim().split('\n').pop()!) as { mbps: number }).mbps
    }
    const rtt = async (from: string, dst: string): Promise<number> => {
      const r = await lab.exec(from, ['python3', PING, dst, '-c', String(pings), '-i', '0.05', '-W', '2'], { timeoutMs: 60_000 })
      const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { median_ms: number | null; received: number }
      if (summary.median_ms === null) throw new Error(`no echo replies ${from} -> ${dst}`)
      return summary.median_ms
    }

    const rows: string[][] = []
    const vethMbps: number[] = []
    const vethRtt: number[] = []
    for (const setting of SETTINGS) {
      const procs = [
        lab.spawn('sim', [
          process.execPath,
          BKC,
          'simulator',
          '--host',
          simIp,
          '--data-dir',
          join(tmp.path, 'sim'),
          '--log-level',
          'warn',
          ...(setting.encrypt ? [] : ['--no-encrypt']),
        ]),
      ]
      await waitListening(lab, 'sim', DEFAULT_SIMULATOR_PORT)
      for (const [host, ip] of [
        ['a', A],
        ['b', B],
      ] as const) {
        const p = lab.spawn(host, [
          process.execPath,
          BKC,
          'vpn',
          '--ip',
          ip,
          '--im-addr',
          simIp,
          '--data-dir',
          join(tmp.path, host),
          ...(setting.offload ? [] : ['--no-offload']),
        ])
        let log = ''
        p.stderr!.on('data', (c: Buffer) => (log += c.toString()))
        p.stdout!.on('data', (c: Buffer) => (log += c.toString()))
        await waitUntil(() => log.includes('tunnel up'), 20_000, `${host} tunnel up: ${log}`)
        procs.push(p)
      }
      const tunnel: number[] = []
      const tunnelRtt: number[] = []
      for (let r = 0; r < rounds; r++) {
        vethMbps.push(await throughput('b', lab.addressOf('b'), 'a'))
        tunnel.push(await throughput('b', B, 'a'))
      }
      vethRtt.push(await rtt('a', lab.addressOf('b')))
      tunnelRtt.push(await rtt('a', B))
      rows.push([
        setting.name,
        fmtMbit(median(tunnel)),
        fmtMbit(Math.min(...tunnel)) + ' / ' + fmtMbit(Math.max(...tunnel)),
        `${median(tunnelRtt).toFixed(2)} ms`,
      ])
      for (const p of procs.reverse()) await lab.kill(p, 'SIGTERM')
    }
    const veth = median(vethMbps)
    rows.push([
      `veth, same namespaces (${vethMbps.length} runs)`,
      fmtMbit(veth),
      fmtMbit(Math.min(...vethMbps)) + ' / ' + fmtMbit(Math.max(...vethMbps)),
      `${median(vethRtt).toFixed(2)} ms`,
    ])
    printTable(['path', 'TCP Mbit/s (median)', 'min / max', 'idle RTT (median)'], rows)
    console.log('')
    for (const row of rows.slice(0, SETTINGS.length)) {
      console.log(`${row[0]}: ${fmtRatio(Number(row[1]!.replace(/,/g, '')) / veth)} of veth`)
    }
    console.log(`load average ${loadAverage()}; targets: >= 700 Mbit/s plain, >= 300 encrypted, idle RTT <= 1.5 ms`)
  } finally {
    await cleanup()
  }
}

function fmtMbit(mbps: number): string {
  return Math.round(mbps).toLocaleString('en-US')
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function waitListening(lab: NetnsLab, host: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const r = await lab.exec(host, ['ss', '-Hltn', `sport = :${port}`])
    if (r.stdout.trim() !== '') return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

main().catch((err: Error) => {
  console.error(`bench:tunnel failed: ${err.stack ?? err.message}`)
  process.exit(1)
})
