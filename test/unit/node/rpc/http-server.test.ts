import t, { type Test as Tap } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { createDispatcher } from '../../../../node/rpc/dispatcher.js'
import { startRpcServer } from '../../../../node/rpc/http-server.js'
import { defineMethod, integer, required, string, type MethodTable } from '../../../../node/rpc/params.js'

const LIMIT = 1000

interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** Methods that record their calls; `hold` lets a test decide when a handler finishes. */
function makeTable(calls: string[], hold?: Promise<void>): MethodTable {
  return {
    echo: defineMethod({
      params: [required('text', string())],
      handler: (text) => {
        calls.push(text)
        return text
      },
    }),
    add: defineMethod({ params: [required('a', integer()), required('b', integer())], handler: (a, b) => a + b }),
    slow: defineMethod({
      params: [],
      handler: async () => {
        calls.push('slow started')
        await hold
        return 'done'
      },
    }),
  }
}

async function startServer(t: Tap, opts: { hold?: Promise<void>; warnings?: string[] } = {}) {
  const calls: string[] = []
  const warnings = opts.warnings ?? []
  const server = await startRpcServer({
    host: '127.0.0.1',
    port: 0,
    dispatcher: createDispatcher(makeTable(calls, opts.hold)),
    maxBodyBytes: LIMIT,
    logger: { debug: () => {}, warn: (msg) => warnings.push(msg) },
  })
  t.teardown(() => server.close())
  return { server, port: server.address.port, calls, warnings }
}

function request(
  port: number,
  opts: { method?: string; body?: string | Buffer; headers?: http.OutgoingHttpHeaders; agent?: http.Agent | false } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/', method: opts.method ?? 'POST', headers: opts.headers ?? {}, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

const rpc = (method: string, params: unknown, id: unknown = 1) => JSON.stringify({ jsonrpc: '2.0', method, params, id })

/** Opens a raw socket, sends `data`, and resolves with everything the server sent back once it closes. */
function rawExchange(port: number, data: string | Buffer, opts: { destroyAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    socket.on('data', (d) => (received += d.toString('latin1')))
    socket.on('error', reject)
    socket.on('close', () => resolve(received))
    socket.write(data, () => {
      if (opts.destroyAfterWrite) socket.destroy()
    })
  })
}

t.test('POST works with curl --data style form content type, and with fetch', async (t) => {
  const { port, calls } = await startServer(t)
  const reply = await request(port, {
    body: rpc('echo', ['hello']),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  })
  t.equal(reply.status, 200)
  t.equal(reply.headers['content-type'], 'application/json')
  t.same(JSON.parse(reply.body), { jsonrpc: '2.0', id: 1, result: 'hello' })
  t.same(calls, ['hello'])

  const res = await fetch(`http://127.0.0.1:${port}/any/path`, { method: 'POST', body: rpc('add', [2, 3], 'a') })
  t.equal(res.status, 200)
  t.same(await res.json(), { jsonrpc: '2.0', id: 'a', result: 5 })
})

t.test('JSON-RPC errors travel with HTTP 200', async (t) => {
  const { port } = await startServer(t)
  const unknown = await request(port, { body: rpc('nope', []) })
  t.equal(unknown.status, 200)
  t.equal(JSON.parse(unknown.body).error.code, -32601)
  const garbage = await request(port, { body: '{not json' })
  t.equal(garbage.status, 200)
  t.same(JSON.parse(garbage.body), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error: body is not valid JSON' } })
  const notUtf8 = await request(port, { body: Buffer.from([0x22, 0xff, 0xfe, 0x22]) })
  t.same(JSON.parse(notUtf8.body).error, { code: -32700, message: 'parse error: body is not valid UTF-8' })
  const batch = await request(port, { body: `[${rpc('add', [1, 1], 1)},${rpc('add', [2, 2], 2)}]` })
  t.same(
    JSON.parse(batch.body).map((r: { result: number }) => r.result),
    [2, 4],
  )
})

t.test('methods other than POST get 405 with Allow; OPTIONS gets 204', async (t) => {
  const { port } = await startServer(t)
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const reply = await request(port, { method })
    t.equal(reply.status, 405, method)
    t.match(reply.headers.allow, /\bPOST\b/, method)
    t.same(JSON.parse(reply.body), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'use HTTP POST' } }, method)
  }
  const head = await request(port, { method: 'HEAD' })
  t.equal(head.status, 405)
  t.equal(head.body, '')
  const options = await request(port, { method: 'OPTIONS' })
  t.equal(options.status, 204)
  t.match(options.headers.allow, /\bPOST\b/)
})

t.test('a notification gets 204 with an empty body', async (t) => {
  const { port, calls } = await startServer(t)
  const reply = await request(port, { body: JSON.stringify({ jsonrpc: '2.0', method: 'echo', params: ['quiet'] }) })
  t.equal(reply.status, 204)
  t.equal(reply.body, '')
  t.same(calls, ['quiet'], 'the notification ran')
})

t.test('body size limit: exactly the limit passes, one byte more gets 413, server keeps serving', async (t) => {
  const warnings: string[] = []
  const { port, calls } = await startServer(t, { warnings })
  const base = rpc('echo', ['x'])
  const atLimit = base + ' '.repeat(LIMIT - base.length)
  t.equal(Buffer.byteLength(atLimit), LIMIT)
  t.equal((await request(port, { body: atLimit })).status, 200)

  const expected = { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request body too large (limit ${LIMIT} bytes)` } }
  const declared = await request(port, { body: atLimit + ' ' })
  t.equal(declared.status, 413, 'declared Content-Length over the limit')
  t.equal(declared.headers.connection, 'close')
  t.equal(declared.headers['content-type'], 'application/json')
  t.same(JSON.parse(declared.body), expected)

  // Chunked: no Content-Length, so the limit is enforced while counting bytes.
  const chunked = await new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent: false }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.write(rpc('echo', ['y']))
    req.end(' '.repeat(LIMIT))
  })
  t.equal(chunked.headers['transfer-encoding'], undefined)
  t.equal(chunked.status, 413, 'streamed body over the limit')
  t.same(JSON.parse(chunked.body), expected)

  const huge = await request(port, { body: Buffer.alloc(5 * 1024 * 1024, 0x20) })
  t.equal(huge.status, 413, 'a body far over the limit is still answered, not reset')

  t.same(calls, ['x'], 'no oversized body reached a handler')
  t.equal(warnings.filter((w) => /too large/.test(w)).length, 3, 'each rejection was logged')
  t.same(JSON.parse((await request(port, { body: rpc('add', [1, 2]) })).body).result, 3, 'still serving')
})

t.test('Expect: 100-continue with an oversized length is refused before the body is sent', async (t) => {
  const { port } = await startServer(t)
  let continued = false
  const reply = await new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', agent: false, headers: { Expect: '100-continue', 'Content-Length': 10 * LIMIT } },
      (res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
      },
    )
    req.on('continue', () => {
      continued = true
      req.end(Buffer.alloc(10 * LIMIT, 0x20))
    })
    req.on('error', reject)
    req.flushHeaders()
  })
  t.equal(reply.status, 413)
  t.notOk(continued, 'the server never asked for the body')

  // A small body with Expect: 100-continue goes through normally.
  const ok = await new Promise<Reply>((resolve, reject) => {
    const body = rpc('add', [4, 5])
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', agent: false, headers: { Expect: '100-continue', 'Content-Length': body.length } },
      (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
      },
    )
    req.on('continue', () => req.end(body))
    req.on('error', reject)
    req.flushHeaders()
  })
  t.same(JSON.parse(ok.body).result, 9)
})

t.test('clients that lie or vanish do not crash the server', async (t) => {
  const { port, calls } = await startServer(t)
  // Declares 500 bytes, sends 20, then disconnects.
  const partial = rpc('echo', ['never']).slice(0, 20)
  await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n${partial}`, { destroyAfterWrite: true })
  // Declares far more than the limit and vanishes right after the headers.
  await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n`, { destroyAfterWrite: true })
  // Chunked body that stops mid-chunk.
  await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n{"jsonrpc"`, { destroyAfterWrite: true })
  // Sends more than it declared: the surplus is not a valid request, so Node answers 400 and closes.
  const surplus = await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}garbage\r\n\r\n`)
  t.match(surplus, /HTTP\/1\.1 400 Bad Request/)
  // Malformed Content-Length.
  t.match(await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`), /^HTTP\/1\.1 400/)

  t.same(calls, [], 'no truncated body was dispatched')
  t.same(JSON.parse((await request(port, { body: rpc('echo', ['alive']) })).body).result, 'alive', 'still serving')
})

t.test('a client that disconnects while its handler runs does not break the server', async (t) => {
  let release!: () => void
  const hold = new Promise<void>((r) => (release = r))
  const { port, calls } = await startServer(t, { hold })
  const socket = net.connect(port, '127.0.0.1')
  const body = rpc('slow', [])
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  while (!calls.includes('slow started')) await new Promise((r) => setImmediate(r))
  socket.destroy()
  await once(socket, 'close')
  release()
  t.same(JSON.parse((await request(port, { body: rpc('add', [1, 1]) })).body).result, 2)
})

t.test('unsupported Content-Encoding gets 415', async (t) => {
  const { port, calls } = await startServer(t)
  const reply = await request(port, { body: rpc('echo', ['z']), headers: { 'Content-Encoding': 'gzip' } })
  t.equal(reply.status, 415)
  t.equal(JSON.parse(reply.body).error.code, -32600)
  t.same(calls, [])
  t.equal((await request(port, { body: rpc('echo', ['z']), headers: { 'Content-Encoding': 'identity' } })).status, 200)
})

t.test('listen failures reject with a clear message', async (t) => {
  const { port } = await startServer(t)
  const dispatcher = createDispatcher({})
  await t.rejects(startRpcServer({ host: '127.0.0.1', port, dispatcher }), {
    message: `cannot listen for JSON-RPC on 127.0.0.1:${port}: address already in use`,
  })
  // Binding only (no traffic): 192.0.2.1 is a documentation address no host here owns.
  await t.rejects(startRpcServer({ host: '192.0.2.1', port: 0, dispatcher }), {
    message: 'cannot listen for JSON-RPC on 192.0.2.1:0: address not available on this machine',
  })
  await t.rejects(startRpcServer({ host: '127.0.0.1', port: 70000, dispatcher }), {
    message: /cannot listen for JSON-RPC on 127\.0\.0\.1:70000: port must be/,
  })
})

t.test('port 0 reports the real port', async (t) => {
  const { server, port } = await startServer(t)
  t.equal(server.address.host, '127.0.0.1')
  t.ok(port > 0 && port < 65536)
})

t.test('close() resolves with an idle keep-alive connection open, and refuses new ones', async (t) => {
  const server = await startRpcServer({ host: '127.0.0.1', port: 0, dispatcher: createDispatcher(makeTable([])) })
  const port = server.address.port
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const reply = await request(port, { body: rpc('add', [1, 2]), agent })
  t.equal(JSON.parse(reply.body).result, 3)
  const idle = Object.values(agent.freeSockets).flat()
  t.equal(idle.length, 1, 'one idle keep-alive socket is open')
  // The agent unrefs idle sockets; ref it so the process waits to see the server close it.
  idle[0]!.ref()
  const closedByServer = once(idle[0]!, 'close')
  await server.close()
  await closedByServer
  await server.close() // idempotent
  await t.rejects(request(port, { body: rpc('add', [1, 2]) }), { code: 'ECONNREFUSED' })
})

t.test('close() lets an in-flight request finish', async (t) => {
  let release!: () => void
  const hold = new Promise<void>((r) => (release = r))
  const calls: string[] = []
  const server = await startRpcServer({ host: '127.0.0.1', port: 0, dispatcher: createDispatcher(makeTable(calls, hold)) })
  const pending = request(server.address.port, { body: rpc('slow', []) })
  while (!calls.includes('slow started')) await new Promise((r) => setImmediate(r))
  const closing = server.close()
  release()
  t.same(JSON.parse((await pending).body), { jsonrpc: '2.0', id: 1, result: 'done' })
  await closing
})
