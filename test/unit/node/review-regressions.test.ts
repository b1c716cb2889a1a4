// Regressions from the review, node side (fixed in 80737f6): a mining call
// landing mid-shutdown must not restart the miner (nor keep the process
// alive), a send racing an unlock signs with the key it started with, a
// damaged keystore file is an internal error that does not leak the data dir,
// and one sender can queue long runs of consecutive nonces.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import winston from 'winston'
import { toHex } from '../../../protocol/wire/bytes.js'
import { txSigningMessage } from '../../../protocol/chain/tx-codec.js'
import { generateKeyPair, verify } from '../../../protocol/chain/keys.js'
import { silentLogger, type Logger } from '../../../lib/log.js'
import { BkcNode, type NodeConfig } from '../../../node/node.js'
import { PoolError } from '../../../node/mempool/pool.js'
import { mine, tempDir, testNetwork, testNetworkJson, transfer } from '../../../bench/lib/fixtures.js'
import {
  BKC_BIN,
  randomLoopbackOctet,
  readyUrl,
  rpcCall,
  rpcResult,
  sleep,
  spawnBkc,
  stopProcess,
  tipRef,
  urlOf,
  waitFor,
  type RpcReply,
} from '../../helpers/node-fixtures.js'

const net = testNetwork({ bits: 8 })
const PW = 'correct horse'
const BOUND_MS = 5000

function dataDir(t: Test): string {
  const d = tempDir('bkc-review-')
  t.teardown(d.cleanup)
  return d.path
}

async function startNode(t: Test, dir: string, extra: Partial<NodeConfig> = {}): Promise<BkcNode> {
  const node = await BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: dir,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
    minerThreads: 1,
    ...extra,
  })
  let stopped = false
  t.teardown(async () => {
    if (stopped) return
    stopped = true
    await node.stop()
  })
  return node
}

/** Credits `address` with `n` block rewards (20 each) by submitting blocks mined in-process. */
async function fund(node: BkcNode, address: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await node.chain.submitBlock(mine(net, tipRef(node.chain), { miner: Buffer.from(address, 'hex') }))
    if (r.status !== 'connected') throw new Error(`funding block not connected: ${r.status}`)
  }
}

/** Resolves true when `p` settles (either way) within `ms`. */
function settlesWithin(p: Promise<unknown>, ms = BOUND_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    late,
  ]).finally(() => clearTimeout(timer))
}

const SHUTDOWN_BATCH = (name: string): string =>
  JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'createAccount', params: [name, PW] },
    { jsonrpc: '2.0', id: 2, method: 'unlock', params: [name, PW] },
    { jsonrpc: '2.0', id: 3, method: 'unlock', params: [name, PW] },
    { jsonrpc: '2.0', id: 4, method: 'unlock', params: [name, PW] },
    { jsonrpc: '2.0', id: 5, method: 'mining', params: [name, PW] },
  ])

/** Posts a body; resolves with the parsed reply, or with the transport error (the server may close mid-reply). */
async function postRaw(url: string, body: string): Promise<unknown> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(15_000),
    })
    return JSON.parse(await res.text()) as unknown
  } catch (err) {
    return err as Error
  }
}

// ---------------------------------------------------------------- shutdown

t.test('stop() while a batch ending in "mining" runs: stop resolves and the miner stays off', async (t) => {
  // scrypt at N=2^14 takes tens of milliseconds, so the batch (five key
  // derivations) is still running when stop() begins.
  const node = await startNode(t, dataDir(t), { keystoreKdf: { N: 2 ** 14, r: 8, p: 1 } })
  const url = urlOf(node.rpcAddress)
  const reply = postRaw(url, SHUTDOWN_BATCH('late'))
  await sleep(50)
  const stopping = node.stop()
  const stopped = await settlesWithin(stopping)
  // If the miner was restarted after stop (the bug), turn it off so this file can still end.
  t.teardown(() => settlesWithin(node.mining.stop(), 3000))
  t.ok(stopped, 'stop() resolves')
  t.equal(node.mining.mining, false, 'the miner is not running after stop()')
  const got = await reply
  if (Array.isArray(got)) {
    const mining = (got as Array<RpcReply & { id: number }>).find((r) => r.id === 5)
    t.equal(mining?.error?.code, -32030, 'the mining call, reached during shutdown, answers NOT_READY')
  } else {
    t.pass(`the batch got no reply (connection closed by the shutdown: ${String(got)})`)
  }
  await sleep(300)
  t.equal(node.mining.mining, false, 'and it does not start later either')
})

t.test('after stop() begins, RPC methods answer NOT_READY and start no work', async (t) => {
  const node = await startNode(t, dataDir(t))
  const url = urlOf(node.rpcAddress)
  await node.wallet.create('miner', PW)
  await node.wallet.unlock('miner', PW)
  // The batch's first call waits for the chain lock, held here, so the batch
  // is still running when stop() begins; the calls after it start during shutdown.
  let release!: () => void
  const held = node.chain.exclusive(() => new Promise<void>((r) => (release = r)))
  const reply = postRaw(
    url,
    JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'sendTransaction', params: [toHex(generateKeyPair().address), 1] },
      { jsonrpc: '2.0', id: 2, method: 'mining', params: ['miner', PW] },
      { jsonrpc: '2.0', id: 3, method: 'getStatus', params: [] },
    ]),
  )
  await sleep(200) // the request is in and blocked on the lock
  const stopping = node.stop()
  await sleep(20)
  release()
  await held
  t.ok(await settlesWithin(stopping), 'stop() resolves')
  t.teardown(() => settlesWithin(node.mining.stop(), 3000))
  const got = await reply
  t.ok(Array.isArray(got), `the batch is answered before the server goes away (${String(got)})`)
  if (Array.isArray(got)) {
    const byId = new Map((got as Array<RpcReply & { id: number }>).map((r) => [r.id, r]))
    t.equal(byId.get(1)?.error?.code, -32020, 'the call already running finishes normally (here: no funds)')
    t.equal(byId.get(2)?.error?.code, -32030, 'mining: NOT_READY')
    t.equal(byId.get(3)?.error?.code, -32030, 'getStatus: NOT_READY')
  }
  t.equal(node.mining.mining, false, 'the miner is not running')
})

t.test('the bkc process: the same batch, then SIGINT → exits 0 within 5 s', async (t) => {
  if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)
  const tmp = tempDir('bkc-review-proc-')
  t.teardown(tmp.cleanup)
  const network = join(tmp.path, 'network.json')
  writeFileSync(network, JSON.stringify(testNetworkJson({ networkId: 'bkc-review', bits: 12 })))
  const host = `127.${randomLoopbackOctet()}.55.${1 + Math.floor(Math.random() * 250)}`
  // Default scrypt parameters: each of the batch's five key derivations takes a while.
  const proc = spawnBkc(
    ['start', '--listen', host, '--rpc-port', '0', '--data-dir', join(tmp.path, 'data'), '--network', network, '--log-level', 'info'],
    { cwd: tmp.path },
  )
  t.teardown(() => stopProcess(proc, 1000))
  const url = await waitFor(
    '"node ready" in the log',
    () => {
      if (proc.hasExited()) throw new Error(`bkc exited early:\n${proc.stderr()}`)
      return readyUrl(proc.stderr())
    },
    { timeoutMs: 20_000 },
  )

  const reply = postRaw(url, SHUTDOWN_BATCH('late'))
  await sleep(50)
  proc.child.kill('SIGINT')
  const exited = await settlesWithin(proc.exited)
  t.ok(exited, `the process exits within ${BOUND_MS} ms of SIGINT`)
  if (exited) t.equal((await proc.exited).code, 0, 'with status 0')
  else t.comment(proc.stderr().split('\n').slice(-8).join('\n'))
  t.notMatch(proc.stderr(), /mining started/, 'mining never started')
  await reply
})

// ---------------------------------------------------------------- a send racing an unlock

t.test('sendFromUnlocked racing unlock(B): the send is from A and its signature verifies', async (t) => {
  const node = await startNode(t, dataDir(t))
  const a = (await node.wallet.create('a', PW)).address
  const b = (await node.wallet.create('b', PW)).address
  await fund(node, a, 1)
  await fund(node, b, 1)
  await node.wallet.unlock('a', PW)
  const to = generateKeyPair().address

  // Hold the chain lock (as a block being connected would) so the send waits
  // for it while the unlock of B completes.
  let release!: () => void
  const held = node.chain.exclusive(() => new Promise<void>((r) => (release = r)))
  const sending = node.sendFromUnlocked(to, 5)
  const unlocking = node.wallet.unlock('b', PW)
  await unlocking
  release()
  await held
  const sent = await sending.then(
    (e) => e,
    (err: Error) => err,
  )
  if (sent instanceof Error) {
    t.fail(`the send failed: ${sent.message}`)
    return
  }
  t.equal(sent.from, a, 'the transaction is from A, the account unlocked when send was called')
  t.equal(toHex(sent.tx.from), a, 'tx.from is A')
  t.equal(sent.tx.amount, 5, 'amount as asked')
  t.ok(verify(sent.tx.from, txSigningMessage(net.networkId, sent.tx), sent.tx.signature), 'its signature verifies against A')
  t.equal(node.wallet.unlocked?.address, b, 'B is unlocked now')
  t.notOk(
    node.wallet.unlocked?.privateKey.every((x) => x === 0),
    "B's key was not zeroed by the send",
  )

  const next = await node.sendFromUnlocked(to, 3)
  t.equal(next.from, b, 'the next send is from B')
  t.ok(verify(next.tx.from, txSigningMessage(net.networkId, next.tx), next.tx.signature), 'and verifies against B')
})

t.test('many sends queued behind the lock while the account changes: each signs with the key current at its call', async (t) => {
  const node = await startNode(t, dataDir(t))
  const a = (await node.wallet.create('a', PW)).address
  const b = (await node.wallet.create('b', PW)).address
  await fund(node, a, 1)
  await fund(node, b, 1)
  const to = generateKeyPair().address
  await node.wallet.unlock('a', PW)
  let release!: () => void
  const held = node.chain.exclusive(() => new Promise<void>((r) => (release = r)))
  const sends = [node.sendFromUnlocked(to, 1), node.sendFromUnlocked(to, 1)]
  await node.wallet.unlock('b', PW)
  sends.push(node.sendFromUnlocked(to, 1))
  await node.wallet.unlock('a', PW) // A again: a fresh key buffer, the old one zeroed
  sends.push(node.sendFromUnlocked(to, 1))
  release()
  await held
  const results = await Promise.allSettled(sends)
  const entries = results.map((r) => (r.status === 'fulfilled' ? r.value : null))
  t.same(
    entries.map((e) => e?.from ?? 'failed'),
    [a, a, b, a],
    'senders follow the account unlocked at each call',
  )
  t.same(
    entries.map((e) => e?.tx.nonce ?? -1),
    [0, 1, 0, 2],
    'consecutive nonces per sender',
  )
  t.ok(
    entries.every((e) => e !== null && verify(e.tx.from, txSigningMessage(net.networkId, e.tx), e.tx.signature)),
    'every signature verifies',
  )
})

// ---------------------------------------------------------------- damaged keystore

/** A winston logger that keeps its lines (JSON) in memory. */
function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'))
      done()
    },
  })
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  })
  return { logger, lines }
}

t.test('a damaged keystore file: unlock answers -32603 "internal error" without the path; the log has it', async (t) => {
  const dir = dataDir(t)
  const { logger, lines } = capturingLogger()
  const node = await startNode(t, dir, { logger })
  const url = urlOf(node.rpcAddress)
  const keystore = join(dir, 'keystore')
  mkdirSync(keystore, { recursive: true })
  writeFileSync(join(keystore, 'broken.json'), 'this is not a keystore file \u0000\u00ff')
  writeFileSync(join(keystore, 'wrongname.json'), JSON.stringify({ version: 1, name: 'someone-else', address: '02' + '11'.repeat(32) }))

  for (const [method, name] of [
    ['unlock', 'broken'],
    ['loadAccount', 'broken'],
    ['mining', 'broken'],
    ['unlock', 'wrongname'],
  ] as const) {
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [name, PW] }),
      signal: AbortSignal.timeout(BOUND_MS),
    })
    const text = await res.text()
    t.same(
      JSON.parse(text),
      { jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'internal error' } },
      `${method}(${name}): internal error`,
    )
    t.notOk(text.includes(dir), `${method}(${name}): the reply does not contain the data dir`)
    t.notOk(text.includes('keystore'), `${method}(${name}): nor the keystore path`)
  }
  t.ok(
    lines.some((l) => l.includes(join(keystore, 'broken.json'))),
    "the node's log names the damaged file",
  )
  t.equal(node.mining.mining, false, 'mining did not start')
  // A healthy account next to the damaged one still works.
  await rpcResult(url, 'createAccount', ['fine', PW])
  t.match(await rpcResult(url, 'unlock', ['fine', PW]), /^0[23][0-9a-f]{64}$/, 'other accounts unlock normally')
  t.equal((await rpcCall(url, 'unlock', ['fine', 'wrong'])).error?.code, -32012, 'and a wrong password is still WRONG_PASSWORD')
})

// ---------------------------------------------------------------- the nonce window

t.test('200 sends in a row from one account all succeed (nonces far past the 64-wide gap)', async (t) => {
  const node = await startNode(t, dataDir(t))
  const a = (await node.wallet.create('a', PW)).address
  await fund(node, a, 11) // 220 coins
  await node.wallet.unlock('a', PW)
  const to = generateKeyPair().address
  const failures: string[] = []
  for (let i = 0; i < 200; i++) {
    try {
      const e = await node.sendFromUnlocked(to, 1)
      if (e.tx.nonce !== i) failures.push(`send ${i}: nonce ${e.tx.nonce}`)
    } catch (err) {
      failures.push(`send ${i}: ${(err as Error).message}`)
      if (failures.length > 3) break
    }
  }
  t.same(failures, [], 'every send is accepted with the next nonce')
  t.equal(node.mempool.fromSender(a).length, 200, '200 pending from A')
  const acct = await rpcResult<{ pending: number; nonce: number }>(urlOf(node.rpcAddress), 'getAccount', [a])
  t.same([acct.nonce, acct.pending], [0, 200], 'getAccount: nonce 0, 200 pending')

  // The gap rule still holds from the next free nonce (200): 200 + 64 is fine, one more is not.
  const key = { address: Buffer.from(a, 'hex'), privateKey: Buffer.from(node.wallet.unlocked!.privateKey) }
  const far = transfer(net, key, to, 1, 200 + 64 + 1, Date.now())
  const refused = await node.admission.submit(far).then(
    () => null,
    (err: unknown) => err,
  )
  t.ok(refused instanceof PoolError && refused.code === 'BAD_NONCE', `a gap wider than 64 is refused (${String(refused)})`)
  const edge = transfer(net, key, to, 1, 200 + 64, Date.now())
  t.equal((await node.admission.submit(edge)).tx.nonce, 264, 'a gap of exactly 64 is accepted')
})
