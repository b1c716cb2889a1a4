// A minimal JSON-RPC 2.0 client over HTTP for the CLI's own use (the devnet
// talks to its nodes). One connection per call (no keep-alive agent), so
// nothing lingers to hold the process open once the caller is done.
import { request } from 'node:http'

/** The node answered with a JSON-RPC error. */
export class RpcReplyError extends Error {
  override name = 'RpcReplyError'
  constructor(
    public readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

const MAX_REPLY_BYTES = 4 * 1024 * 1024
let nextId = 0

/** Calls `method` at `url` (http://host:port); resolves with the result, rejects on any failure. */
export function rpcCall(url: string, method: string, params: unknown[] = [], timeoutMs = 5000): Promise<unknown> {
  const body = JSON.stringify({ jsonrpc: '2.0', method, params, id: ++nextId })
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: timeoutMs,
    })
    req.on('timeout', () => req.destroy(new Error(`${method}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_REPLY_BYTES) req.destroy(new Error(`${method}: reply larger than ${MAX_REPLY_BYTES} bytes`))
        else chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let reply: { result?: unknown; error?: { code?: unknown; message?: unknown } }
        try {
          reply = JSON.parse(text) as typeof reply
        } catch {
          reject(new Error(`${method}: HTTP ${res.statusCode ?? '?'} with a body that is not JSON`))
          return
        }
        if (reply && typeof reply === 'object' && reply.error) {
          const code = typeof reply.error.code === 'number' ? reply.error.code : 0
          reject(new RpcReplyError(code, `${method}: ${String(reply.error.message)} (${code})`))
        } else if (reply && typeof reply === 'object' && 'result' in reply) {
          resolve(reply.result)
        } else {
          reject(new Error(`${method}: HTTP ${res.statusCode ?? '?'} without a JSON-RPC result`))
        }
      })
    })
    req.end(body)
  })
}
