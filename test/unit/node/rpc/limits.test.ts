// Resource limits over JSON-RPC: the BUSY answer a flood of unlocks gets
// (the scrypt semaphore, lib/semaphore.ts, is tested on its own), and the
// HTTP server's caps on connections and on request bytes held in flight
// (node/rpc/http-server.ts).
import t, { type Test } from 'tap'
import net from 'node:net'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { createDispatcher } from '../../../../node/rpc/dispatcher.js'
import { startRpcServer } from '../../../../node/rpc/http-server.js'
import { defineMethod } from '../../../../node/rpc/params.js'
import { testNetwork } from '../../../../bench/lib/fixtures.js'
import { rpcCall, settlesWithin, sleep, startTestNode, testDir, type RpcReply } from '../../../helpers/node-fixtures.js'

const BOUND_MS = 5000

t.test('40 concurrent unlocks with a wrong password: some BUSY, the rest WRONG_PASSWORD; getBalance still answers', async (t) => {
  const someone = toHex(generateKeyPair().address)
  const { node, url } = await startTestNode(t, {
    dataDir: testDir(t, 'bkc-limits-'),
    network: testNetwork({ balances: { [someone]: 1234 } }),
    // Default scrypt parameters: each unlock takes a while.
    keystoreKdf: undefined,
  })
  await node.wallet.create('alice', 'right password')

  let outstanding = 40
  const unlocks = Array.from({ length: 40 }, () => rpcCall(url, 'unlock', ['alice', 'wrong password']).finally(() => outstanding--))
  await sleep(20) // the burst is on its way
  const balance = await rpcCall(url, 'getBalance', [someone])
  const outstandingWhenAnswered = outstanding
  const replies: RpcReply[] = await Promise.all(unlocks)

  t.same(balance, { jsonrpc: '2.0', id: (balance as { id: number }).id, result: 1234 }, 'getBalance answers during the burst')
  t.ok(outstandingWhenAnswered > 0, `getBalance did not wait for the burst to end (${outstandingWhenAnswered} unlocks still running)`)
  const codes = replies.map((r) => r.error?.code)
  const busy = codes.filter((c) => c === -32031).length
  const wrong = codes.filter((c) => c === -32012).length
  t.equal(busy + wrong, 40, `every reply is BUSY or WRONG_PASSWORD (got ${JSON.stringify([...new Set(codes)])})`)
  t.ok(busy > 0, `some unlocks were refused as busy (${busy})`)
  t.ok(wrong >= 2, `the ones admitted ran to the password check (${wrong})`)
  t.ok(
    wrong <= 2 + 16 + 2,
    'no more ran than two slots and a queue of 16 allow (plus a little slack for replies that came back before the rest arrived)',
  )
  t.match(replies.find((r) => r.error?.code === -32031)?.error?.message, /busy|too many/i, 'the BUSY message says so')
  // After the burst the node unlocks normally again.
  t.equal((await rpcCall(url, 'unlock', ['alice', 'right password'])).error, undefined, 'a later correct unlock works')
})

// ---------------------------------------------------------------- HTTP limits

interface RawConn {
  socket: net.Socket
  /** Everything received so far (latin1). */
  received: () => string
  closed: Promise<void>
  isClosed: () => boolean
  /** Resolves once a whole HTTP response (headers + Content-Length body) has arrived. */
  response: () => Promise<{ status: number; body: string }>
}

function openRaw(port: number): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    let closed = false
    const waiters: Array<() => void> = []
    socket.on('data', (d) => {
      data += d.toString('latin1')
      for (const w of waiters.splice(0)) w()
    })
    socket.on('error', () => {}) // a reset from the server shows as 'close'
    const closedP = new Promise<void>((r) =>
      socket.on('close', () => {
        closed = true
        for (const w of waiters.splice(0)) w()
        r()
      }),
    )
    const parse = (): { status: number; body: string } | undefined => {
      const end = data.indexOf('\r\n\r\n')
      if (end < 0) return undefined
      const head = data.slice(0, end)
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN)
      const body = data.slice(end + 4)
      if (!Number.isFinite(length) || body.length < length) return undefined
      return { status: Number(head.split(' ')[1]), body: body.slice(0, length) }
    }
    const response = async (): Promise<{ status: number; body: string }> => {
      for (;;) {
        const r = parse()
        if (r) return r
        if (closed) throw new Error(`connection closed before a whole response: ${JSON.stringify(data.slice(0, 200))}`)
        await new Promise<void>((w) => waiters.push(w))
      }
    }
    socket.once('connect', () => resolve({ socket, received: () => data, closed: closedP, isClosed: () => closed, response }))
    socket.once('error', reject)
  })
}

function write(socket: net.Socket, data: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())))
}

/** Resolves with `p`'s value, or rejects after `ms` saying what did not happen. */
async function within<T>(what: string, p: Promise<T>, ms = BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

const KiB = 1024
const PING = '{"jsonrpc":"2.0","method":"ping","params":[],"id":7}'
/** A valid JSON-RPC body of `bytes` bytes: whitespace before the request is still JSON. */
const paddedPing = (bytes: number): string => ' '.repeat(bytes - PING.length) + PING
const head = (bodyBytes: number, extra = ''): string =>
  `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n${extra}\r\n`

async function limitedServer(t: Test, opts: { maxBufferedBytes?: number; maxBodyBytes?: number; maxConnections?: number }) {
  const warnings: string[] = []
  const server = await startRpcServer({
    host: '127.0.0.1',
    port: 0,
    dispatcher: createDispatcher({ ping: defineMethod({ params: [], handler: () => 'pong' }) }),
    logger: { debug: () => {}, warn: (msg) => warnings.push(msg) },
    ...opts,
  })
  t.teardown(() => server.close())
  return { port: server.address.port, warnings }
}

t.test('request bytes in flight are capped: a second half-sent body gets 503 BUSY, and the budget comes back', async (t) => {
  const { port, warnings } = await limitedServer(t, { maxBufferedBytes: 64 * KiB, maxBodyBytes: 60 * KiB })
  const bodyA = paddedPing(50 * KiB)
  const a = await openRaw(port)
  t.teardown(() => a.socket.destroy())
  await write(a.socket, head(bodyA.length, 'Connection: close\r\n') + bodyA.slice(0, 40 * KiB))
  await sleep(300) // let the server take A's 40 KiB in

  const bodyB = paddedPing(50 * KiB)
  const b = await openRaw(port)
  t.teardown(() => b.socket.destroy())
  await write(b.socket, head(bodyB.length) + bodyB.slice(0, 40 * KiB))
  const busy = await within('a reply to the second half-sent request', b.response()).catch((err: Error) => err)
  if (busy instanceof Error) {
    t.fail(busy.message)
  } else {
    t.equal(busy.status, 503, 'HTTP 503')
    const json = JSON.parse(busy.body) as RpcReply & { id: unknown }
    t.equal(json.error?.code, -32031, 'JSON-RPC BUSY')
    t.equal(json.id, null, 'id null: the request was never read')
    t.match(warnings.join('\n'), /busy/i, 'the node logs it')
  }
  t.notOk(a.isClosed(), 'the first request is still open')

  // A finishes and is answered in full.
  await write(a.socket, bodyA.slice(40 * KiB))
  const okA = await within('the reply to the first request', a.response()).catch((err: Error) => err)
  if (okA instanceof Error) t.fail(okA.message)
  else
    t.same(
      { status: okA.status, body: JSON.parse(okA.body) },
      { status: 200, body: { jsonrpc: '2.0', id: 7, result: 'pong' } },
      'the first request is answered in full',
    )
  await within('the first connection to close', a.closed).catch((err: Error) => t.fail(err.message))

  // Both bodies' bytes are released: a new 50 KiB request fits again (it would
  // not if A's 50 KiB or B's refused 40 KiB were still counted).
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      body: paddedPing(50 * KiB),
      signal: AbortSignal.timeout(BOUND_MS),
    })
    t.equal(res.status, 200, `request ${i + 1} after the release: HTTP 200`)
    t.same(await res.json(), { jsonrpc: '2.0', id: 7, result: 'pong' }, 'with the answer')
  }
})

t.test('a client that goes away mid-body gives its bytes back', async (t) => {
  const { port } = await limitedServer(t, { maxBufferedBytes: 64 * KiB, maxBodyBytes: 60 * KiB })
  for (let round = 0; round < 3; round++) {
    const body = paddedPing(50 * KiB)
    const quitter = await openRaw(port)
    await write(quitter.socket, head(body.length) + body.slice(0, 40 * KiB))
    await sleep(100)
    quitter.socket.destroy()
    await quitter.closed
  }
  await sleep(100)
  // Three abandoned 40 KiB bodies would be 120 KiB if they were still counted.
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    body: paddedPing(50 * KiB),
    signal: AbortSignal.timeout(BOUND_MS),
  })
  t.equal(res.status, 200, 'a 50 KiB request fits afterwards')
})

t.test('a body over maxBodyBytes releases its bytes too (413, then the budget is whole)', async (t) => {
  const { port } = await limitedServer(t, { maxBufferedBytes: 64 * KiB, maxBodyBytes: 60 * KiB })
  const big = await openRaw(port)
  t.teardown(() => big.socket.destroy())
  // No Content-Length up front (chunked), so the limit trips while reading.
  const chunk = (s: string): string => `${s.length.toString(16)}\r\n${s}\r\n`
  await write(
    big.socket,
    'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk(' '.repeat(30 * KiB)) + chunk(' '.repeat(31 * KiB)),
  )
  const tooLarge = await within('the 413', big.response()).catch((err: Error) => err)
  if (tooLarge instanceof Error) t.fail(tooLarge.message)
  else t.equal(tooLarge.status, 413, 'HTTP 413')
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      body: paddedPing(55 * KiB),
      signal: AbortSignal.timeout(BOUND_MS),
    })
    t.equal(res.status, 200, 'a 55 KiB request fits in the 64 KiB budget afterwards')
  }
})

t.test('maxConnections: a third simultaneous connection is closed by the server', async (t) => {
  const { port } = await limitedServer(t, { maxConnections: 2 })
  const first = await openRaw(port)
  const second = await openRaw(port)
  t.teardown(() => {
    first.socket.destroy()
    second.socket.destroy()
  })
  await sleep(100) // the server has accepted both
  const third = await openRaw(port).catch(() => null)
  t.teardown(() => third?.socket.destroy())
  if (third) {
    const closed = await settlesWithin(third.closed, 3000)
    t.ok(closed, 'the third connection is closed by the server')
    if (closed) t.equal(third.received(), '', 'without a reply')
  } else {
    t.pass('the third connection was refused outright')
  }
  t.notOk(first.isClosed() || second.isClosed(), 'the first two stay open')

  // The two admitted connections still work.
  await write(first.socket, head(PING.length) + PING)
  const r = await within('a reply on an admitted connection', first.response()).catch((err: Error) => err)
  if (r instanceof Error) t.fail(r.message)
  else t.equal(r.status, 200, 'HTTP 200 on an admitted connection')

  // Once one goes away, a new connection is admitted again.
  second.socket.destroy()
  await second.closed
  await sleep(100)
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: PING, signal: AbortSignal.timeout(BOUND_MS) })
  t.equal(res.status, 200, 'a new connection after one closed is served')
})
