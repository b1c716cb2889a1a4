// Catch-up: a node started after 50 blocks downloads them and joins the
// common tip; a real `bkc start` process that is stopped, left behind while
// the others mine, and restarted on the same data dir without --bootstrap
// redials its peers from peers.json and catches up.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toHex } from '../../protocol/wire/bytes.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import { tempDir } from '../../bench/lib/fixtures.js'
import { BKC_BIN, rpcResult, spawnBkc, stopProcess, waitFor, waitForReady, type BkcProcess } from '../helpers/node-fixtures.js'
import { hostOf, mineBlocks, startNet, waitConverged, waitPeers } from '../helpers/net-fixtures.js'

interface Status {
  height: number
  hash: string
  peers: number
}
interface PeerJson {
  address: string
  listen: string | null
  direction: 'inbound' | 'outbound'
  state: string
}

t.test('a sixth node started after 50 blocks catches up', async (t) => {
  const tn = await startNet(t, 5)
  const five = tn.running().map((n) => n.node)
  await waitPeers(five, 1)
  const miner = generateKeyPair().address
  await mineBlocks(five[0]!, 50, miner, { by: 'height' })
  const tip = await waitConverged(five)
  t.ok(tip.height >= 50, `the five agree on height ${tip.height}`)

  const sixth = await tn.start(5)
  t.equal(sixth.node.chain.tip.height, 0, 'the sixth node starts from genesis')
  await waitConverged([...five, sixth.node])
  t.equal(sixth.node.chain.tip.hash, tip.hash, 'and reaches the same tip')
  t.ok(
    sixth.node.net!.stats.blocksDownloaded >= tip.height,
    `it downloaded the blocks in batches (${sixth.node.net!.stats.blocksDownloaded})`,
  )
  t.equal(await rpcResult<number>(sixth.url, 'getBalance', [toHex(miner)]), 20 * tip.height, 'with the same balances')

  // And it follows new blocks by relay from then on.
  await mineBlocks(five[2]!, 2, miner)
  const next = await waitConverged([...five, sixth.node])
  t.ok(next.height >= tip.height + 2, 'new blocks reach it')
})

/** Starts `bkc start` for node slot `i` of the test net; resolves with its RPC URL once it answers. */
async function startProcess(
  t: Test,
  i: number,
  dataDir: string,
  networkFile: string,
  extra: string[],
): Promise<{ proc: BkcProcess; url: string }> {
  const proc = spawnBkc([
    'start',
    '--listen',
    hostOf(i),
    '--port',
    '5555',
    '--rpc-port',
    '0',
    '--data-dir',
    dataDir,
    '--network',
    networkFile,
    '--log-level',
    'info',
    ...extra,
  ])
  t.teardown(() => stopProcess(proc))
  const url = await waitForReady(proc, 30_000)
  return { proc, url }
}

t.test(
  'a real bkc process, stopped and left behind, restarts without --bootstrap and catches up through peers.json',
  { skip: existsSync(BKC_BIN) ? false : `${BKC_BIN} is missing: build first` },
  async (t) => {
    const tn = await startNet(t, 3)
    const nodes = tn.running().map((n) => n.node)
    await waitPeers(nodes, 1)
    const miner = generateKeyPair().address
    await mineBlocks(nodes[0]!, 5, miner)
    const first = await waitConverged(nodes)

    const dir = tempDir('bkc-sync-proc-')
    t.teardown(dir.cleanup)
    const networkFile = join(dir.path, 'network.json')
    writeFileSync(networkFile, JSON.stringify(tn.networkJson))
    const dataDir = join(dir.path, 'data')
    const hub = tn.at(0).p2p
    const self = { host: hostOf(5), port: 5555 }

    // First run: bootstraps to node 0, catches up, learns the others by ADDR.
    const run1 = await startProcess(t, 5, dataDir, networkFile, ['--bootstrap', `${hub.host}:${hub.port}`])
    await waitFor('the process to reach the tip', async () => (await rpcResult<Status>(run1.url, 'getStatus')).hash === first.hash)
    t.pass(`the process caught up to height ${first.height}`)
    await waitFor(
      'the process to know more peers than its bootstrap',
      async () => (await rpcResult<{ knownAddresses: number }>(run1.url, 'getNetStats')).knownAddresses >= 2,
    )
    await stopProcess(run1.proc)
    t.equal((await run1.proc.exited).code, 0, 'it exits 0 on SIGTERM')
    const peersFile = join(dataDir, 'peers.json')
    t.ok(existsSync(peersFile), 'peers.json was written')
    const saved = JSON.parse(readFileSync(peersFile, 'utf8')) as { entries: Array<{ host: string; port: number }> }
    t.ok(
      saved.entries.some((e) => e.host === hub.host && e.port === hub.port),
      'it holds node 0',
    )

    // While it is down the others forget it (so only its own dialling can bring the links back) and mine on.
    for (const n of nodes) n.connman!.removePeer(self)
    await mineBlocks(nodes[1]!, 10, miner)
    const second = await waitConverged(nodes)
    t.ok(second.height >= first.height + 10, `the network moved on to ${second.height}`)

    // Second run: no --bootstrap at all.
    const run2 = await startProcess(t, 5, dataDir, networkFile, [])
    await waitFor('the restarted process to catch up', async () => (await rpcResult<Status>(run2.url, 'getStatus')).hash === second.hash, {
      timeoutMs: 30_000,
    })
    t.pass(`the restarted process caught up to height ${second.height}`)
    const downloaded = (await rpcResult<{ blocksDownloaded: number }>(run2.url, 'getNetStats')).blocksDownloaded
    t.ok(
      downloaded > 0 && downloaded <= second.height - first.height,
      `it resumed its own chain and downloaded only the ${downloaded} missing blocks`,
    )
    const peers = await rpcResult<PeerJson[]>(run2.url, 'getPeers')
    const outbound = peers.filter((p) => p.direction === 'outbound' && p.state === 'ready')
    t.ok(outbound.length >= 1, `peers.json brought its peers back: ${outbound.map((p) => p.address).join(', ')}`)
    t.equal(
      await rpcResult<number>(run2.url, 'getBalance', [toHex(miner)]),
      await rpcResult<number>(tn.at(2).url, 'getBalance', [toHex(miner)]),
      'same balance as the others',
    )

    // It is a full member again: a block it hears about by relay arrives too.
    await mineBlocks(nodes[2]!, 1, miner)
    const third = await waitConverged(nodes)
    await waitFor('the relayed block', async () => (await rpcResult<Status>(run2.url, 'getStatus')).hash === third.hash)
    t.pass('new blocks reach it by relay')
    await stopProcess(run2.proc)
    t.equal((await run2.proc.exited).code, 0, 'the second run exits 0 too')
  },
)
