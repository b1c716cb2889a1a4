// The report's walkthrough, steps 4-8, end to end: the real `bkc start`
// process on a loopback address, driven only through the report's curl
// scripts (test/scripts/*.sh), with fetch used to cross-check the chain.
import t, { type Test } from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { tempDir, testNetworkJson } from '../../bench/lib/fixtures.js'
import { slotsNetworkJson } from '../../bench/lib/slot-fixtures.js'
import {
  BKC_BIN,
  randomLoopbackOctet,
  rpcCall,
  rpcResult,
  runScript,
  spawnBkc,
  stopProcess,
  waitFor,
  type ScriptRun,
} from '../helpers/node-fixtures.js'

let haveCurl = true
try {
  execFileSync('curl', ['--version'], { stdio: 'ignore' })
} catch {
  haveCurl = false
}

interface Tx {
  hash: string
  status: 'pending' | 'confirmed'
  from: string
  to: string
  amount: number
  blockHeight?: number
}

/** A script's single line of JSON output, parsed. */
function json<T = unknown>(run: ScriptRun): { result?: T; error?: { code: number; message: string } } {
  const lines = run.stdout.trimEnd().split('\n')
  if (lines.length !== 1) throw new Error(`expected one line of output, got: ${run.stdout}${run.stderr}`)
  return JSON.parse(lines[0]!) as { result?: T; error?: { code: number; message: string } }
}

/** A slots network with 1 s slots, so the walkthrough runs in seconds. */
function fastSlotsNetwork(): Record<string, unknown> {
  const json = slotsNetworkJson({ networkId: 'bkc-walkthrough-slots', target: `0000000000000000${'01'}${'00'.repeat(23)}` })
  const limit = `0000000000000000${'40'}${'00'.repeat(23)}`
  ;(json.consensus as { slots: unknown }).slots = { slotMs: 1000, graceMs: 300, maxDriftMs: 200, targetLimit: limit }
  return json
}

for (const kind of ['work', 'slots'] as const) {
  t.test(
    `report steps 4-8 through the shell scripts against a real node process (${kind} network)`,
    { skip: haveCurl ? false : 'curl is not installed' },
    (t) => walkthrough(t, kind),
  )
}

/**
 * On a slots network the metronome adds empty blocks (no miner, no reward)
 * while nobody validates, so the checks count the blocks test1 won rather
 * than the height.
 */
async function walkthrough(t: Test, kind: 'work' | 'slots'): Promise<void> {
  {
    if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)
    const x = randomLoopbackOctet()
    const prefix = `127.${x}`
    const subnet = '53.5'
    const host = `${prefix}.${subnet}`
    const url = `http://${host}:8888/`
    const tmp = tempDir('bkc-walkthrough-')
    t.teardown(tmp.cleanup)
    const networkFile = join(tmp.path, 'network.json')
    // 14 zero bits: a block every few milliseconds of hashing, like a tiny devnet.
    writeFileSync(
      networkFile,
      JSON.stringify(kind === 'work' ? testNetworkJson({ bits: 14, networkId: 'bkc-walkthrough' }) : fastSlotsNetwork()),
    )

    const node = spawnBkc(
      ['start', '--listen', host, '--data-dir', join(tmp.path, 'data'), '--network', networkFile, '--log-level', 'warn'],
      { cwd: tmp.path },
    )
    t.teardown(() => stopProcess(node))
    await waitFor(
      'the node to answer JSON-RPC',
      async () => {
        if (node.hasExited()) throw new Error(`bkc exited early: ${node.stderr()}`)
        return (await rpcCall(url, 'getStatus')).result !== undefined
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nstderr:\n${node.stderr()}`)
    })
    const env = { BKC_NET_PREFIX: prefix }
    const sh = (script: string, ...args: string[]) => runScript(script, args, env)
    const status = () => rpcResult<{ height: number; mining: boolean; pending: number }>(url, 'getStatus')
    const balance = async (pk: string): Promise<number> => {
      const r = await sh('getBalance.sh', pk, subnet)
      t.equal(r.code, 0, 'getBalance.sh exits 0')
      return json<number>(r).result!
    }

    // Step 4: create accounts.
    const pk: Record<string, string> = {}
    for (const name of ['test1', 'test2', 'test3']) {
      const r = await sh('createAccount.sh', name, '123', subnet)
      t.equal(r.code, 0, `createAccount.sh ${name} exits 0`)
      pk[name] = json<string>(r).result!
      t.match(pk[name], /^0[23][0-9a-f]{64}$/, `${name} gets a public key`)
    }
    const again = await sh('createAccount.sh', 'test1', '123', subnet)
    t.equal(again.code, 1, 'creating test1 twice fails')
    t.equal(json(again).error?.code, -32010)

    // Step 5: start mining to test1.
    const mining = await sh('mining.sh', 'test1', '123', subnet)
    t.equal(mining.code, 0)
    t.equal(json(mining).result, true)
    const wonBy = async (key: string, from: number, to: number): Promise<number[]> => {
      const out: number[] = []
      for (let h = from; h <= to; h++) if ((await rpcResult<{ miner: string }>(url, 'getBlock', [h])).miner === key) out.push(h)
      return out
    }
    await waitFor('a few mined blocks', async () => (await wonBy(pk.test1!, 1, (await status()).height)).length >= 3, { timeoutMs: 30_000 })

    // Step 6: stop mining; no more blocks after that.
    const stop = await sh('stopMine.sh', subnet)
    t.equal(stop.code, 0)
    t.equal(json(stop).result, true)
    const s1 = await status()
    t.equal(s1.mining, false)

    // Step 7: rewards. Every block was mined by test1: 20 coins each.
    // Nothing was mined after mining stopped; on a slots network only empty blocks follow.
    await new Promise((r) => setTimeout(r, 1500))
    const s1b = await status()
    const won = await wonBy(pk.test1!, 1, s1b.height)
    const minedByTest1 = won.length
    if (kind === 'work') t.equal(minedByTest1, s1.height, 'test1 mined every block')
    else {
      const empty = `00${'0'.repeat(64)}`
      for (let h = 1; h <= s1b.height; h++) {
        const b = await rpcResult<{ miner: string; proofType: string }>(url, 'getBlock', [h])
        t.ok(b.miner === pk.test1 || (b.miner === empty && b.proofType === 'empty'), `block ${h}: test1's or empty`)
      }
    }
    const lastWon = won[won.length - 1]!
    const bal1 = await balance(pk.test1!)
    t.equal(bal1, 20 * minedByTest1, 'test1 balance = 20 x blocks mined')
    t.equal(await balance(pk.test2!), 0)
    t.equal(await balance(pk.test3!), 0)
    const tipBlock = await sh('getBlock.sh', String(lastWon), subnet)
    t.equal(tipBlock.code, 0)
    t.match(json(tipBlock).result, { height: lastWon, miner: pk.test1 })
    t.equal(json(await sh('getBlock.sh', String((await status()).height + 5), subnet)).result, null, 'no block beyond the tip')

    // Step 8: send 20 from test1 to test3 (test2 has nothing on a one-node chain: refused).
    const broke = await sh('sendTx.sh', 'test2', '123', pk.test3!, '20', subnet)
    t.equal(broke.code, 1, 'test2 cannot pay')
    t.equal(json(broke).error?.code, -32020)
    const sent = await sh('sendTx.sh', 'test1', '123', pk.test3!, '20', subnet)
    t.equal(sent.code, 0, `sendTx.sh exits 0 (${sent.stdout}${sent.stderr})`)
    const hash = json<string>(sent).result!
    t.match(hash, /^[0-9a-f]{64}$/)
    const pendingTx = await sh('getTx.sh', hash, subnet)
    t.equal(pendingTx.code, 0)
    t.match(json<Tx>(pendingTx).result, { hash, status: 'pending', from: pk.test1, to: pk.test3, amount: 20 })
    t.equal(await balance(pk.test1!), bal1, 'pending: test1 unchanged')
    t.equal(await balance(pk.test3!), 0, 'pending: test3 unchanged')
    const now = (await status()).height
    t.equal((await wonBy(pk.test1!, 1, now)).length, minedByTest1, 'nobody is mining')

    // Mine again until the transaction is in a block, then stop.
    t.equal((await sh('mining.sh', 'test1', '123', subnet)).code, 0)
    try {
      await waitFor('the transaction to confirm', async () => (await rpcResult<Tx>(url, 'getTransaction', [hash])).status === 'confirmed')
    } finally {
      t.equal((await sh('stopMine.sh', subnet)).code, 0)
    }
    const s2 = await status()
    const confirmed = json<Tx>(await sh('getTx.sh', hash, subnet)).result!
    t.match(confirmed, { hash, status: 'confirmed', amount: 20 })
    t.ok(confirmed.blockHeight! > s1.height && confirmed.blockHeight! <= s2.height, 'confirmed in a new block')
    const newBlocks = (await wonBy(pk.test1!, 1, s2.height)).length - minedByTest1
    t.equal(await balance(pk.test1!), bal1 - 20 + 20 * newBlocks, 'test1: -20, plus 20 per new block')
    t.equal(await balance(pk.test3!), 20, 'test3: +20')
    t.equal(await balance(pk.test2!), 0)
    t.equal(s2.pending, 0)

    // A clean shutdown on SIGTERM.
    await stopProcess(node)
    const { code } = await node.exited
    t.equal(code, 0, 'the node exits 0 on SIGTERM')
  }
}
