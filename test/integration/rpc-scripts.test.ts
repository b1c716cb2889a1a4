// The curl scripts in test/scripts against an in-process JSON-RPC stand-in on
// 127.0.0.1: the exact request each one sends, what it prints and its exit code.
import t from 'tap'
import fc from 'fast-check'
import http from 'node:http'
import { execFile, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

const SCRIPTS = fileURLToPath(new URL('../scripts/', import.meta.url))

let haveCurl = true
try {
  execFileSync('curl', ['--version'], { stdio: 'ignore' })
} catch {
  haveCurl = false
}

interface Request {
  jsonrpc: unknown
  method: string
  params: unknown[]
  id: unknown
}

/** What the stand-in node answers for a method; anything unlisted gets { result: true }. */
type Reply = { result: unknown } | { error: { code: number; message: string } } | { status: number; raw: string }

class FakeNode {
  readonly requests: Request[] = []
  replies = new Map<string, Reply>()
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Request
      this.requests.push(body)
      const reply = this.replies.get(body.method) ?? { result: true }
      if ('raw' in reply) {
        res.writeHead(reply.status, { 'content-type': 'text/plain' })
        res.end(reply.raw)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', ...reply, id: body.id }))
    })
  })

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return (this.server.address() as AddressInfo).port
  }

  reset(replies: Record<string, Reply> = {}): void {
    this.requests.length = 0
    this.replies = new Map(Object.entries(replies))
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

function runScript(port: number, script: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, BKC_NET_PREFIX: '127.0', BKC_RPC_PORT: String(port), ...extraEnv }
  for (const proxy of ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY']) delete env[proxy]
  return new Promise((resolve) => {
    execFile(join(SCRIPTS, script), args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

const ok = (result: unknown): string => JSON.stringify({ jsonrpc: '2.0', result, id: 1 }) + '\n'
const failure = (message: string): Reply => ({ error: { code: -32000, message } })

t.test('scripts', { skip: !haveCurl && 'curl is not installed' }, async (t) => {
  const node = new FakeNode()
  const port = await node.start()
  t.teardown(() => node.close())
  const run = (script: string, args: string[], env?: Record<string, string>): Promise<Run> => runScript(port, script, args, env)

  const ADDRESS = '02' + 'ab'.repeat(32)
  const TXHASH = 'cd'.repeat(32)
  const WEIRD_NAME = 'we"ird\\name'
  const WEIRD_PASSWORD = "p\"s\\w \n\t\r\u0001\u001f\b\f\u007f é ✓ $(x) `y` 'z'"

  // [script, args, expected method, expected params, result the node returns]
  const cases: Array<[string, string[], string, unknown[], unknown]> = [
    ['createAccount.sh', [WEIRD_NAME, WEIRD_PASSWORD, '0.1'], 'createAccount', [WEIRD_NAME, WEIRD_PASSWORD], ADDRESS],
    ['createAccount.sh', ['alice', '123', '0.1'], 'createAccount', ['alice', '123'], ADDRESS],
    ['mining.sh', ['alice', '123', '0.1'], 'mining', ['alice', '123'], true],
    ['mining.sh', [WEIRD_NAME, WEIRD_PASSWORD, '0.1'], 'mining', [WEIRD_NAME, WEIRD_PASSWORD], true],
    ['stopMine.sh', ['0.1'], 'stopMining', [], true],
    ['getBalance.sh', [ADDRESS, '0.1'], 'getBalance', [ADDRESS], 1000],
    ['getTx.sh', [TXHASH, '0.1'], 'getTransaction', [TXHASH], null],
    ['getTx.sh', [TXHASH, '0.1'], 'getTransaction', [TXHASH], { hash: TXHASH, error: 'not a top-level error' }],
    ['getBlock.sh', ['12', '0.1'], 'getBlock', [12], { height: 12 }],
    ['getBlock.sh', ['0', '0.1'], 'getBlock', [0], { height: 0 }],
    ['getBlock.sh', ['007', '0.1'], 'getBlock', [7], null],
    ['getBlock.sh', ['latest', '0.1'], 'getBlock', ['latest'], null],
    ['getBlock.sh', ['-1', '0.1'], 'getBlock', ['-1'], null],
  ]
  for (const [script, args, method, params, result] of cases) {
    t.test(`${script} ${JSON.stringify(args)}`, async (t) => {
      node.reset({ [method]: { result } })
      const r = await run(script, args)
      t.equal(r.code, 0, r.stderr)
      t.same(node.requests, [{ jsonrpc: '2.0', method, params, id: 1 }])
      t.equal(r.stdout, ok(result), 'raw response and a newline')
    })
  }

  t.test('sendTx.sh unlocks, then sends, and prints only the send response', async (t) => {
    node.reset({ unlock: { result: true }, sendTransaction: { result: TXHASH } })
    const r = await run('sendTx.sh', [WEIRD_NAME, WEIRD_PASSWORD, ADDRESS, '100', '0.1'])
    t.equal(r.code, 0, r.stderr)
    t.same(
      node.requests.map((q) => [q.method, q.params]),
      [
        ['unlock', [WEIRD_NAME, WEIRD_PASSWORD]],
        ['sendTransaction', [ADDRESS, '100']],
      ],
    )
    t.equal(r.stdout, ok(TXHASH))
  })

  t.test('sendTx.sh stops when unlock fails', async (t) => {
    node.reset({ unlock: failure('wrong password for account "alice"') })
    const r = await run('sendTx.sh', ['alice', 'bad', ADDRESS, '100', '0.1'])
    t.equal(r.code, 1)
    t.same(
      node.requests.map((q) => q.method),
      ['unlock'],
      'no sendTransaction request',
    )
    t.equal(
      r.stdout,
      JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'wrong password for account "alice"' }, id: 1 }) + '\n',
    )
  })

  t.test('sendTx.sh reports a refused transaction', async (t) => {
    node.reset({ sendTransaction: failure('insufficient balance') })
    const r = await run('sendTx.sh', ['alice', '123', ADDRESS, '99999999999999999999', '0.1'])
    t.equal(r.code, 1)
    t.same(
      node.requests.map((q) => [q.method, q.params]),
      [
        ['unlock', ['alice', '123']],
        ['sendTransaction', [ADDRESS, '99999999999999999999']],
      ],
    )
    t.match(r.stdout, /^\{"jsonrpc":"2.0","error":\{"code":-32000,"message":"insufficient balance"\},"id":1\}\n$/)
  })

  t.test('an error reply exits 1 and is still printed', async (t) => {
    for (const [script, args, method] of cases) {
      node.reset({ [method]: failure(`no ${method}`) })
      const r = await run(script, args)
      t.equal(r.code, 1, script)
      t.match(r.stdout, `"message":"no ${method}"`, script)
    }
  })

  t.test('a non-JSON or non-2xx answer exits 1', async (t) => {
    node.reset({ getBalance: { status: 500, raw: 'internal error' } })
    let r = await run('getBalance.sh', [ADDRESS, '0.1'])
    t.equal(r.code, 1)
    t.equal(r.stdout, 'internal error\n')
    node.reset({ getBalance: { status: 200, raw: '<html>result</html>' } })
    r = await run('getBalance.sh', [ADDRESS, '0.1'])
    t.equal(r.code, 1)
  })

  t.test('wrong argument count exits 2 with a usage line and sends nothing', async (t) => {
    const counts: Record<string, number> = {
      'createAccount.sh': 3,
      'mining.sh': 3,
      'stopMine.sh': 1,
      'getBalance.sh': 2,
      'getTx.sh': 2,
      'getBlock.sh': 2,
      'sendTx.sh': 5,
    }
    node.reset()
    for (const [script, n] of Object.entries(counts)) {
      for (const count of [0, n - 1, n + 1]) {
        if (count < 0 || count === n) continue
        const r = await run(
          script,
          Array.from({ length: count }, () => '0.1'),
        )
        t.equal(r.code, 2, `${script} with ${count} args`)
        t.match(r.stderr, `usage: ${script}`)
        t.equal(r.stdout, '')
      }
    }
    t.same(node.requests, [])
  })

  t.test('a malformed subnet exits 2 and sends nothing', async (t) => {
    node.reset()
    for (const subnet of ['53', '53.5.1', 'a.b', '256.1', '', '1.2 ', '53,5', '1.-1']) {
      const r = await run('getBalance.sh', [ADDRESS, subnet])
      t.equal(r.code, 2, JSON.stringify(subnet))
      t.match(r.stderr, 'subnet', JSON.stringify(subnet))
    }
    const r = await run('sendTx.sh', ['alice', '123', ADDRESS, '1', 'x'])
    t.equal(r.code, 2)
    t.same(node.requests, [])
  })

  t.test('an unreachable node exits 1', async (t) => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const deadPort = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const r = await runScript(deadPort, 'getBalance.sh', [ADDRESS, '0.1'])
    t.equal(r.code, 1)
    t.equal(r.stdout, '')
    t.match(r.stderr, 'curl')
  })

  t.test('property: any name and password reach the node unchanged', async (t) => {
    const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' })).filter((s) => !s.includes('\0'))
    await fc.assert(
      fc.asyncProperty(text, text, fc.constantFrom('C', 'C.UTF-8'), async (name, password, locale) => {
        node.reset({ createAccount: { result: ADDRESS } })
        const r = await run('createAccount.sh', [name, password, '0.1'], { LC_ALL: locale })
        return (
          r.code === 0 && node.requests.length === 1 && node.requests[0]!.params[0] === name && node.requests[0]!.params[1] === password
        )
      }),
      { numRuns: 60 },
    )
    t.pass('round-trips')
  })
})
