// The load generator of bench/rpc.ts, in its own process (forked) so that
// client work never shares the server's event loop. It takes one job at a
// time over IPC: `concurrency` loops of back-to-back POSTs on keep-alive
// connections until `count` requests are done or `maxMs` has passed. Every
// reply is parsed and must be a JSON-RPC result (not an error); every
// `checkEvery`-th is compared with the expected results.
import http from 'node:http'

export interface ClientJob {
  port: number
  concurrency: number
  count: number
  maxMs: number
  /** Request bodies, used round-robin. */
  bodies: string[]
  /** Expected `result`s per body (one per call of a batch); null: only check for a result. */
  expected: number[][] | null
  checkEvery: number
}

export interface ClientResult {
  done: number
  ms: number
  p50Ms: number
  p95Ms: number
  /** Replies compared with the expected results. */
  checked: number
  /** First problem seen (HTTP error, JSON-RPC error, wrong value); the run stops at it. */
  failure: string | null
}

function post(agent: http.Agent, port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
          else resolve(text)
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

interface Reply {
  id?: unknown
  result?: unknown
  error?: unknown
}

/** The `result`s of a reply (one, or one per batch entry in id order); throws on anything else. */
function results(text: string): unknown[] {
  const parsed = JSON.parse(text) as Reply | Reply[]
  // A batch reply may come in any order (JSON-RPC 2.0 §6); the bench's batch ids are 0..n-1.
  const replies = Array.isArray(parsed) ? [...parsed].sort((a, b) => Number(a.id) - Number(b.id)) : [parsed]
  return replies.map((r) => {
    if (r.error !== undefined || !('result' in r)) throw new Error(`JSON-RPC error: ${JSON.stringify(r.error ?? r).slice(0, 200)}`)
    return r.result
  })
}

function check(got: unknown[], want: number[] | undefined): void {
  if (want === undefined) return
  if (got.length !== want.length) throw new Error(`expected ${want.length} results, got ${got.length}`)
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`result ${i}: expected ${want[i]}, got ${JSON.stringify(got[i])}`)
  }
}

export async function runJob(job: ClientJob): Promise<ClientResult> {
  // A fresh agent per job: sockets left idle between jobs may be closed by the server.
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency })
  const latencies = new Float64Array(job.count)
  let issued = 0
  let done = 0
  let checked = 0
  let failure: string | null = null
  const start = performance.now()
  const deadline = start + job.maxMs

  async function loop(): Promise<void> {
    while (failure === null && issued < job.count && performance.now() < deadline) {
      const i = issued++
      const body = job.bodies[i % job.bodies.length]!
      const sent = performance.now()
      try {
        const text = await post(agent, job.port, body)
        latencies[done++] = performance.now() - sent
        const got = results(text)
        if (job.expected !== null && i % job.checkEvery === 0) {
          check(got, job.expected[i % job.bodies.length])
          checked++
        }
      } catch (err) {
        failure ??= `request ${i}: ${(err as Error).message}`
      }
    }
  }

  await Promise.all(Array.from({ length: job.concurrency }, loop))
  const ms = performance.now() - start
  agent.destroy()
  const sorted = latencies.subarray(0, done).sort()
  const at = (p: number): number => (done === 0 ? NaN : sorted[Math.min(done - 1, Math.ceil((p / 100) * done) - 1)]!)
  return { done, ms, p50Ms: at(50), p95Ms: at(95), checked, failure }
}

// Forked: serve jobs until the parent disconnects.
if (process.send !== undefined) {
  process.on('message', (job: ClientJob) => {
    runJob(job).then(
      (r) => process.send!(r),
      (err: unknown) => process.send!({ done: 0, ms: 0, p50Ms: NaN, p95Ms: NaN, checked: 0, failure: String(err) } satisfies ClientResult),
    )
  })
  process.on('disconnect', () => process.exit(0))
}
