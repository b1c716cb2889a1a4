// A damaged keystore file over RPC: an internal error that does not leak the
// data dir, with the details in the node's log.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testNetwork } from '../../../../bench/lib/fixtures.js'
import { capturingLogger, nodeDataDir, rpcCall, rpcResult, startTestNode } from '../../../helpers/node-fixtures.js'

const net = testNetwork({ bits: 8 })
const PW = 'correct horse'
const BOUND_MS = 5000

// ---------------------------------------------------------------- damaged keystore

t.test('a damaged keystore file: unlock answers -32603 "internal error" without the path; the log has it', async (t) => {
  const dir = nodeDataDir(t)
  const { logger, lines } = capturingLogger()
  const { node, url } = await startTestNode(t, { dataDir: dir, network: net, logger })
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
