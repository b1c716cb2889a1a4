// The log lines for a moved tip, read back from a real winston logger.
import t, { type Test } from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { TipChange } from '../../../../node/chain/chainstate.js'
import { logTipChange } from '../../../../node/chain/tip-log.js'
import { genesisRef, mine, mineChain, tempDir, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { capturingLogger, openChain, submitAll } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const miner = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 100 } })

type Line = { level: string; message: string } & Record<string, unknown>
const parse = (lines: string[]): Line[] => lines.map((l) => JSON.parse(l) as Line)

/** The tip changes a chain announces while `blocks` are submitted. */
async function changesOf(t: Test, blocks: Parameters<typeof submitAll>[1]): Promise<TipChange[]> {
  const d = tempDir('bkc-tip-log-')
  t.teardown(d.cleanup)
  const o = await openChain(net, d.path)
  t.teardown(o.close)
  const changes: TipChange[] = []
  o.chain.on('tip', (c) => changes.push(c))
  await submitAll(o.chain, blocks)
  return changes
}

t.test('"block connected" counts every transaction (txs) and the transfers among them (transfers)', async (t) => {
  const txs = [transfer(net, alice, bob.address, 1, 0), transfer(net, alice, bob.address, 2, 1)]
  const block = mine(net, genesisRef(net), { miner: miner.address, txs })
  const [change] = await changesOf(t, [block])
  const { logger, lines } = capturingLogger()
  logTipChange(logger, change!)
  const [line, ...rest] = parse(lines)
  t.same(rest, [], 'one line')
  t.match(line, { level: 'info', message: 'block connected', height: 1, txs: 3, transfers: 2, miner: toHex(miner.address) })
})

t.test('up to three blocks get a line each; more get one summary line', async (t) => {
  const blocks = mineChain(net, genesisRef(net), 4)
  const changes = await changesOf(t, blocks)
  const { logger, lines } = capturingLogger()
  logTipChange(logger, { ...changes[2]!, connected: changes.slice(0, 3).flatMap((c) => c.connected) })
  t.same(
    parse(lines).map((l) => [l.message, l.height]),
    [
      ['block connected', 1],
      ['block connected', 2],
      ['block connected', 3],
    ],
  )
  lines.length = 0
  logTipChange(logger, { ...changes[3]!, connected: changes.flatMap((c) => c.connected) })
  t.match(parse(lines), [{ message: 'blocks connected', count: 4, height: 4 }])
  t.equal(lines.length, 1)
})

t.test('a reorganisation is a warning with both counts', async (t) => {
  const a = mineChain(net, genesisRef(net), 1)
  const b = mineChain(net, genesisRef(net), 2, { miner: miner.address })
  const changes = await changesOf(t, [...a, ...b])
  const reorg = changes.find((c) => c.disconnected.length > 0)
  t.ok(reorg, 'the chain reorganised')
  const { logger, lines } = capturingLogger()
  logTipChange(logger, reorg!)
  // B's first block may already win the tie with A's (the fork rule's tie-breaks), or B's second does.
  const { connected, tip } = reorg!
  t.match(parse(lines)[0], {
    level: 'warn',
    message: 'chain reorganised',
    disconnected: 1,
    connected: connected.length,
    height: tip.height,
  })
  t.ok(connected.length >= 1 && tip.hash === connected[connected.length - 1]!.hash, 'counts the blocks of the winning branch')
})
