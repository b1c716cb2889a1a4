// JSON-RPC getBalance throughput of a real node (BkcNode in this process,
// LevelDB reads included) against a bare node:http server answering a
// constant JSON-RPC reply on another port: the ratio bkc/bare is what the
// node costs over HTTP itself. The load comes from a forked client process
// (bench/rpc-client.ts) on keep-alive connections, so client work does not
// share the server's event loop. Replies are checked against the genesis
// balances on a sample, so speed is never reported for errors.
//
//   node dist/bench/rpc.js [--requests 20000] [--runs 3] [--accounts 300]
import { fork, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { toHex } from '../protocol/wire/bytes.js'
import { silentLogger } from '../lib/log.js'
import { BkcNode } from '../node/node.js'
import { benchNetwork, fmtInt, fmtMs, fmtRatio, intFlag, keyPairs, median, printHeader, printTable, tempDir } from './lib/harness.js'
import type { ClientJob, ClientResult } from './rpc-client.js'

const REQUESTS = intFlag('requests', 20_000)
const RUNS = intFlag('runs', 3)
const ACCOUNTS = intFlag('accounts', 300, 100)
const MAX_MS = 15_000
const CONCURRENCIES = [1, 8, 32]
const BATCH = 100 // the node's largest accepted batch
const BATCH_REQUESTS = Math.max(1, Math.round(REQUESTS / 20))
const BATCH_CONCURRENCY = 8
const WARMUP = 2_000

// ---- the baseline server --------------------------------------------------------

const BARE_ONE = JSON.stringify({ jsonrpc: '2.0', id: 0, result: 1_000_000 })
const BARE_BATCH = JSON.stringify(Array.from({ length: BATCH }, (_, id) => ({ jsonrpc: '2.0', id, result: 1_000_000 })))

/** Reads the whole body, as the node does, then answers a constant reply. */
async function startBareServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.from(Buffer.concat(chunks)[0] === 0x5b ? BARE_BATCH : BARE_ONE) // '[': a batch
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// ---- the client process -----------------------------------------------------------

function runClient(child: ChildProcess, job: ClientJob): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the client process exited (code ${code}) during a run`))
    child.once('exit', onExit)
    child.once('message', (r) => {
      child.off('exit', onExit)
      resolve(r as ClientResult)
    })
    child.send(job)
  })
}

/** A client run plus the CPU time this (server) process spent meanwhile. */
interface Run extends ClientResult {
  serverCpuMs: number
}

interface Measured {
  rates: number[]
  /** The run with the median rate: its latencies are the ones printed. */
  mid: Run
  /** Median server CPU time per call, µs: barely moved by other load on the machine. */
  cpuPerCallUs: number
  checked: number
  capped: boolean
}

function summarise(runs: Run[], callsPerRequest: number): Measured {
  const rates = runs.map((r) => (r.done * callsPerRequest * 1000) / r.ms)
  return {
    rates,
    mid: runs[rates.indexOf(median(rates))]!,
    cpuPerCallUs: median(runs.map((r) => (r.serverCpuMs * 1000) / (r.done * callsPerRequest))),
    checked: runs.reduce((n, r) => n + r.checked, 0),
    capped: runs.some((r) => r.ms >= MAX_MS),
  }
}

async function measure(child: ChildProcess, job: ClientJob, label: string): Promise<Run> {
  const cpu = process.cpuUsage()
  const r = await runClient(child, job)
  const used = process.cpuUsage(cpu)
  if (r.failure !== null) throw new Error(`${label}: ${r.failure}`)
  if (r.done === 0) throw new Error(`${label}: no request completed`)
  return { ...r, serverCpuMs: (used.user + used.system) / 1000 }
}

async function main(): Promise<void> {
  printHeader(
    'bench/rpc — JSON-RPC getBalance, forked keep-alive client',
    `${ACCOUNTS} funded accounts; ${fmtInt(REQUESTS)} requests a run (${fmtInt(BATCH_REQUESTS)} batches of ${BATCH} calls), at most ${MAX_MS / 1000} s; medians of ${RUNS} runs, bare and bkc runs interleaved`,
  )
  const accounts = keyPairs(ACCOUNTS)
  const balances = accounts.map((_, i) => 1_000_000 + i * 7)
  const network = benchNetwork(Object.fromEntries(accounts.map((k, i) => [toHex(k.address), balances[i]!])))

  const single = accounts.map((k, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'getBalance', params: [toHex(k.address)] }))
  const singleExpected = balances.map((b) => [b])
  // Batch j asks for accounts j*BATCH .. j*BATCH+99 (wrapping): every account is asked for.
  const batchCount = Math.ceil(ACCOUNTS / BATCH)
  const batchAccounts = Array.from({ length: batchCount }, (_, j) => Array.from({ length: BATCH }, (_, m) => (j * BATCH + m) % ACCOUNTS))
  const batches = batchAccounts.map((idx) =>
    JSON.stringify(idx.map((a, id) => ({ jsonrpc: '2.0', id, method: 'getBalance', params: [toHex(accounts[a]!.address)] }))),
  )
  const batchExpected = batchAccounts.map((idx) => idx.map((a) => balances[a]!))

  const tmp = tempDir()
  let node: BkcNode | undefined
  let bare: Awaited<ReturnType<typeof startBareServer>> | undefined
  let child: ChildProcess | undefined
  try {
    node = await BkcNode.start({
      listen: '127.0.0.1',
      port: 0,
      rpcPort: 0,
      dataDir: tmp.path,
      network,
      logger: silentLogger(),
      minerThreads: 1,
    })
    bare = await startBareServer()
    const client = fork(fileURLToPath(new URL('./rpc-client.js', import.meta.url)), [], { execArgv: [], stdio: 'inherit' })
    child = client
    const bkcPort = node.rpcAddress!.port
    const barePort = bare.port
    const job = (server: 'bkc' | 'bare', concurrency: number, batch: boolean, count: number): ClientJob => ({
      port: server === 'bkc' ? bkcPort : barePort,
      concurrency,
      count,
      maxMs: MAX_MS,
      bodies: batch ? batches : single,
      expected: server === 'bare' ? null : batch ? batchExpected : singleExpected,
      checkEvery: batch ? 5 : 10,
    })
    // Warm-up: JIT on both sides, LevelDB's block cache, the client's agent code.
    for (const server of ['bare', 'bkc'] as const) {
      await measure(client, job(server, 8, false, WARMUP), `warm-up ${server}`)
      await measure(client, job(server, 8, true, Math.ceil(WARMUP / BATCH) * 4), `warm-up ${server} batch`)
    }

    const rates: string[][] = []
    const costs: string[][] = []
    let checked = 0
    const notes: string[] = []
    /** Interleaved bare and bkc runs of one load; adds the rows and returns bkc's median calls/s. */
    const compare = async (name: string, concurrency: number, batch: boolean, count: number): Promise<number> => {
      const runs: Record<'bkc' | 'bare', Run[]> = { bkc: [], bare: [] }
      for (let r = 0; r < RUNS; r++) {
        for (const server of ['bare', 'bkc'] as const) {
          runs[server].push(await measure(client, job(server, concurrency, batch, count), `${name} ${server} run ${r + 1}`))
        }
      }
      const calls = batch ? BATCH : 1
      const bkc = summarise(runs.bkc, calls)
      const base = summarise(runs.bare, calls)
      checked += bkc.checked
      if (bkc.capped || base.capped) notes.push(`${name}: some runs stopped at the ${MAX_MS / 1000} s bound`)
      rates.push([
        name,
        fmtInt(median(bkc.rates)),
        bkc.rates.map(fmtInt).join(' / '),
        fmtInt(median(base.rates)),
        base.rates.map(fmtInt).join(' / '),
        fmtRatio(median(bkc.rates) / median(base.rates)),
      ])
      costs.push([
        name,
        fmtMs(bkc.mid.p50Ms),
        fmtMs(bkc.mid.p95Ms),
        fmtMs(base.mid.p50Ms),
        fmtMs(base.mid.p95Ms),
        fmtMs(bkc.cpuPerCallUs / 1000),
        fmtMs(base.cpuPerCallUs / 1000),
        fmtRatio(bkc.cpuPerCallUs / base.cpuPerCallUs),
      ])
      return median(bkc.rates)
    }
    const singleRate = new Map<number, number>()
    for (const c of CONCURRENCIES) singleRate.set(c, await compare(`getBalance, concurrency ${c}`, c, false, REQUESTS))
    const batched = await compare(`batch of ${BATCH}, concurrency ${BATCH_CONCURRENCY}`, BATCH_CONCURRENCY, true, BATCH_REQUESTS)

    printTable(['load', 'bkc calls/s', 'bkc each run', 'bare calls/s', 'bare each run', 'bkc/bare'], rates)
    console.log('')
    printTable(
      ['load (run of median rate)', 'bkc p50', 'bkc p95', 'bare p50', 'bare p95', 'bkc CPU/call', 'bare CPU/call', 'CPU bkc/bare'],
      costs,
    )
    console.log('')
    console.log(`calls/s: requests/s for single calls, ${BATCH} calls per request for batches (latency is per request);`)
    console.log('CPU/call: CPU time of the server process (all threads) per call, median of the runs; on 2 cores the client')
    console.log('takes one, so where bare and bkc calls/s are close the client is the limit and CPU/call is the fair comparison')
    console.log(
      `batch calls/s / single-call requests/s at concurrency ${BATCH_CONCURRENCY}: ${fmtRatio(batched / singleRate.get(BATCH_CONCURRENCY)!)}`,
    )
    console.log(`${fmtInt(checked)} sampled bkc replies matched the genesis balances; every reply was a JSON-RPC result`)
    for (const n of notes) console.log(n)
  } finally {
    if (child?.connected) child.disconnect()
    await bare?.close()
    await node?.stop()
    tmp.cleanup()
  }
}

await main()
