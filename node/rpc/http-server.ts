// The HTTP edge of JSON-RPC: POST bodies in, dispatcher replies out. Everything
// JSON-RPC-specific lives in the dispatcher; this file only guards the socket
// (size limits, timeouts, disconnects) and maps outcomes to status codes.

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { APP, RPC, errorResponseJson } from './errors.js'
import type { Dispatcher } from './dispatcher.js'

export interface RpcLogger {
  debug(msg: string, meta?: object): void
  warn(msg: string, meta?: object): void
}

export interface RpcServerOptions {
  host: string
  port: number
  dispatcher: Dispatcher
  /** Largest request body accepted (default 1 MiB); larger ones get 413 without being buffered. */
  maxBodyBytes?: number
  /** Open connections at most (default 256); Node closes further ones as soon as they connect. */
  maxConnections?: number
  /** Request bytes held across all requests until their replies are sent (default 32 MiB); past it, 503. */
  maxBufferedBytes?: number
  logger?: RpcLogger
}

export interface RpcServer {
  /** Where the server actually listens (the real port when 0 was asked for). */
  address: { host: string; port: number }
  /** Stops accepting, lets in-flight requests and their handlers finish for up to ~2 s, then drops what is left. */
  close(): Promise<void>
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_MAX_CONNECTIONS = 256
const DEFAULT_MAX_BUFFERED_BYTES = 32 * 1024 * 1024
const REQUEST_TIMEOUT_MS = 30_000
const HEADERS_TIMEOUT_MS = 10_000
const KEEP_ALIVE_TIMEOUT_MS = 5_000
/**
 * An inactivity timeout (which Node turns into a socket destroy) as a last
 * bound on idle sockets; headersTimeout closes silent new connections sooner.
 * Handlers are expected to answer well within it.
 */
const IDLE_SOCKET_TIMEOUT_MS = 120_000
const FORCE_CLOSE_AFTER_MS = 2_000
/** After a 413 we keep reading (and discarding) this long so the client sees the reply rather than a reset. */
const LINGER_MS = 1_000
const ALLOW = 'POST, OPTIONS'

/** A throwing logger must never turn into an uncaught exception inside a request handler. */
function safeLogger(logger: RpcLogger | undefined): RpcLogger {
  const guard =
    (level: 'debug' | 'warn') =>
    (msg: string, meta?: object): void => {
      try {
        logger?.[level](msg, meta)
      } catch {
        // nowhere better to report it
      }
    }
  return { debug: guard('debug'), warn: guard('warn') }
}

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { host, port, dispatcher } = opts
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const logger = safeLogger(opts.logger)
  const where = formatHostPort(host, port)
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1)
    throw new TypeError(`maxBodyBytes must be a positive integer, got ${maxBodyBytes}`)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`cannot listen for JSON-RPC on ${where}: port must be an integer from 0 to 65535`)

  const server = http.createServer({
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: HEADERS_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // The timeouts above are only checked this often (Node's default is every 30 s).
    connectionsCheckingInterval: 1_000,
  })
  server.timeout = IDLE_SOCKET_TIMEOUT_MS
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS

  // Bodies are held from their first byte until the reply is sent, so many
  // clients each sending just under the body limit cannot exhaust memory.
  const maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  let buffered = 0
  const inflight = new Set<Promise<void>>()
  let closing: Promise<void> | undefined

  const tooLarge = (req: http.IncomingMessage, res: http.ServerResponse, bytes: string): void => {
    logger.warn('JSON-RPC request body too large', { remote: req.socket.remoteAddress, bytes, limit: maxBodyBytes })
    rejectTooLarge(req, res, maxBodyBytes)
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.on('error', () => {}) // client went away mid-body: 'close' follows, nothing to do
    res.on('error', () => {})

    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: ALLOW })
      res.end()
      return
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, errorResponseJson(null, RPC.INVALID_REQUEST, 'use HTTP POST'), { Allow: ALLOW })
      return
    }
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      sendJson(res, 415, errorResponseJson(null, RPC.INVALID_REQUEST, `unsupported Content-Encoding "${encoding.slice(0, 32)}"`))
      return
    }
    const declared = req.headers['content-length']
    // Node has already rejected malformed Content-Length values with 400.
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      tooLarge(req, res, declared)
      return
    }
    readBody(req, res)
  }

  const readBody = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = []
    let size = 0
    let held = 0
    let rejected = false
    const release = (): void => {
      buffered -= held
      held = 0
    }
    res.on('close', release)
    req.on('data', (chunk: Buffer) => {
      if (rejected) return
      size += chunk.length
      if (size > maxBodyBytes) {
        rejected = true
        chunks.length = 0
        release()
        tooLarge(req, res, `more than ${maxBodyBytes}`)
        return
      }
      if (buffered + chunk.length > maxBuffered) {
        rejected = true
        chunks.length = 0
        release()
        logger.warn('JSON-RPC busy: request bytes in flight over the limit', { remote: req.socket.remoteAddress, limit: maxBuffered })
        sendJson(res, 503, errorResponseJson(null, APP.BUSY, 'server busy: too many requests in flight; retry shortly'), {
          Connection: 'close',
        })
        return
      }
      buffered += chunk.length
      held += chunk.length
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (rejected) return
      const done = answer(req, res, Buffer.concat(chunks, size))
      inflight.add(done)
      void done.finally(() => inflight.delete(done))
    })
  }

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): Promise<void> => {
    const started = Date.now()
    let body: string
    try {
      body = UTF8.decode(raw)
    } catch {
      sendJson(res, 200, errorResponseJson(null, RPC.PARSE_ERROR, 'parse error: body is not valid UTF-8'))
      return
    }
    let reply: string | null
    try {
      reply = await dispatcher.handle(body)
    } catch (err) {
      // The dispatcher promises never to reject; if it does, it is our bug, not the client's.
      logger.warn('JSON-RPC dispatcher failed', { error: String(err) })
      sendJson(res, 500, errorResponseJson(null, RPC.INTERNAL, 'internal error'))
      return
    }
    logger.debug('JSON-RPC request', {
      remote: req.socket.remoteAddress,
      bytes: raw.length,
      ms: Date.now() - started,
      replied: reply !== null,
    })
    // Shutting down: this reply ends the connection, so close() need not wait for an idle keep-alive socket.
    if (closing !== undefined && !res.headersSent) res.setHeader('Connection', 'close')
    if (reply === null) {
      if (!res.destroyed) {
        res.writeHead(204)
        res.end()
      }
      return
    }
    sendJson(res, 200, reply)
  }

  server.on('request', onRequest)
  // curl sends "Expect: 100-continue" for large bodies: refuse oversized ones before the body is sent.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const declared = req.headers['content-length']
    if (req.method === 'POST' && declared !== undefined && Number(declared) > maxBodyBytes) {
      req.on('error', () => {})
      res.on('error', () => {})
      tooLarge(req, res, declared)
      return
    }
    res.writeContinue()
    onRequest(req, res)
  })

  await listen(server, host, port, where)
  server.on('error', (err) => logger.warn('JSON-RPC server error', { error: String(err) }))
  const info = server.address() as AddressInfo

  return {
    address: { host: info.address, port: info.port },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), FORCE_CLOSE_AFTER_MS)
        server.close(() => {
          // Sockets are gone; handlers already running may still be working.
          const handlers = Promise.allSettled([...inflight])
          const giveUp = new Promise((r) => setTimeout(r, FORCE_CLOSE_AFTER_MS).unref())
          void Promise.race([handlers, giveUp]).then(() => {
            clearTimeout(force)
            resolve()
          })
        })
        server.closeIdleConnections()
      })),
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function sendJson(res: http.ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return
  const body = Buffer.from(json, 'utf8')
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  })
  res.end(body)
}

/**
 * Answers 413 and closes the connection without buffering the body. Closing a
 * socket that still has unread input makes the kernel send a reset, which can
 * destroy the reply before the client has read it; so, like Go's net/http, we
 * half-close after the reply and keep discarding input for a moment (or until
 * the client closes), then drop the connection for good.
 */
function rejectTooLarge(req: http.IncomingMessage, res: http.ServerResponse, limit: number): void {
  const socket = req.socket
  // Node ends a "Connection: close" socket with destroySoon(): FIN, then destroy
  // as soon as it is flushed. For this one socket, stop at the FIN.
  socket.destroySoon = () => {
    socket.end()
  }
  const linger = setTimeout(() => socket.destroy(), LINGER_MS)
  socket.once('close', () => clearTimeout(linger))
  req.removeAllListeners('data')
  req.resume()
  sendJson(res, 413, errorResponseJson(null, RPC.INVALID_REQUEST, `request body too large (limit ${limit} bytes)`), { Connection: 'close' })
}

function listen(server: http.Server, host: string, port: number, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      reject(new Error(`cannot listen for JSON-RPC on ${where}: ${describeListenError(err)}`, { cause: err }))
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port })
  })
}

function describeListenError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use'
    case 'EADDRNOTAVAIL':
      return 'address not available on this machine'
    case 'EACCES':
      return 'permission denied'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name could not be resolved'
    default:
      return err.message
  }
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
