// The --stats-port endpoint: GET / or /stats answers the simulator's
// counters as JSON (stats.ts StatsJSON). Read-only, no body accepted.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Stats } from './stats.js'

export interface StatsHttpServer {
  readonly address: { host: string; port: number }
  close(): Promise<void>
}

export async function serveStats(stats: Stats, host: string, port: number): Promise<StatsHttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
      return
    }
    if (path !== '/' && path !== '/stats') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /stats\n')
      return
    }
    const body = JSON.stringify(stats.toJSON(), null, 2) + '\n'
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  // A stats reader holding a connection open must not keep the simulator from stopping.
  server.keepAliveTimeout = 1000
  server.requestTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const a = server.address() as AddressInfo
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
