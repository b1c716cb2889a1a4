// Five in-process nodes on their own loopback addresses, wired by bootstrap
// to node 0 and ADDR gossip: they converge on one chain with identical
// balances, a transaction sent to the first node is mined by another and
// seen confirmed on the fifth, and no node is sent the same block twice by
// the same peer (counted on every BLOCK message that arrives).
import t from 'tap'
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, decodeBlock } from '../../protocol/chain/block-codec.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import { rpcResult, waitFor } from '../helpers/node-fixtures.js'
import { mineBlocks, settle, startNet, unlockedAccount, waitConverged, waitPeers, type BlockView } from '../helpers/net-fixtures.js'

const REWARD = 20

interface TxJson {
  hash: string
  status: 'pending' | 'confirmed'
  blockHeight?: number
}

/** Blocks each address mined on the best chain, read through RPC getBlock 1..tip. */
async function minedCounts(url: string, tipHeight: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (let h = 1; h <= tipHeight; h++) {
    const b = await rpcResult<BlockView>(url, 'getBlock', [h])
    counts.set(b.miner, (counts.get(b.miner) ?? 0) + 1)
  }
  return counts
}

t.test(
  'five nodes converge on one tip and identical balances; a tx sent to the first is mined by another and confirmed on the fifth',
  async (t) => {
    const tn = await startNet(t, 5)
    const nodes = tn.running().map((n) => n.node)
    const urls = tn.running().map((n) => n.url)
    await waitPeers(nodes, 2)

    // Three miners at once, each to its own account; node 0's account will pay later.
    const alice = await unlockedAccount(nodes[0]!, 'alice')
    const miners = [alice, generateKeyPair().address, generateKeyPair().address]
    await Promise.all([mineBlocks(nodes[0]!, 4, miners[0]!), mineBlocks(nodes[1]!, 4, miners[1]!), mineBlocks(nodes[2]!, 4, miners[2]!)])
    const tip = await settle(nodes, miners[1]!)
    t.ok(tip.height >= 5, `the chain grew to ${tip.height}`)
    for (const n of tn.running())
      t.equal((await rpcResult<{ hash: string }>(n.url, 'getStatus')).hash, tip.hash, `node ${n.index} reports the common tip over RPC`)

    const counts = await minedCounts(urls[4]!, tip.height)
    t.equal(
      [...counts.values()].reduce((a, b) => a + b, 0),
      tip.height,
      'every block has a miner',
    )
    for (const m of miners) {
      const address = toHex(m)
      const expected = REWARD * (counts.get(address) ?? 0)
      for (const url of urls)
        t.equal(await rpcResult<number>(url, 'getBalance', [address]), expected, `balance of ${address.slice(0, 8)} on ${url}`)
    }
    t.ok((counts.get(toHex(alice)) ?? 0) >= 1, 'alice (node 0) has mined coins to spend')

    // Alice pays bob through node 0; node 3 mines it; node 4 sees it confirmed.
    const bob = toHex(generateKeyPair().address)
    const before = await rpcResult<number>(urls[4]!, 'getBalance', [toHex(alice)])
    const hash = await rpcResult<string>(urls[0]!, 'sendTransaction', [bob, 7])
    t.equal((await rpcResult<TxJson>(urls[0]!, 'getTransaction', [hash])).status, 'pending', 'pending on node 0')
    await waitFor('the tx to reach node 3 by relay', () => nodes[3]!.mempool.has(hash))
    const miner3 = generateKeyPair().address
    nodes[3]!.mining.start(miner3)
    try {
      await waitFor(
        'the tx confirmed on node 4',
        async () => (await rpcResult<TxJson>(urls[4]!, 'getTransaction', [hash])).status === 'confirmed',
      )
    } finally {
      await nodes[3]!.mining.stop()
    }
    const confirmed = await rpcResult<TxJson>(urls[4]!, 'getTransaction', [hash])
    const inBlock = await rpcResult<BlockView>(urls[4]!, 'getBlock', [confirmed.blockHeight!])
    t.equal(inBlock.miner, toHex(miner3), 'mined by node 3')
    const end = await waitConverged(nodes)
    for (const url of urls) {
      t.equal(await rpcResult<number>(url, 'getBalance', [bob]), 7, `bob has 7 on ${url}`)
      t.equal(await rpcResult<number>(url, 'getBalance', [toHex(alice)]), before - 7, `alice paid 7 on ${url}`)
      t.equal((await rpcResult<TxJson>(url, 'getTransaction', [hash])).status, 'confirmed', `confirmed on ${url}`)
    }
    t.ok(end.height > tip.height, 'the network moved on to a common tip after the tx')
    for (const n of nodes) t.equal(n.mempool.size, 0, 'no pool keeps the mined tx')
  },
)

t.test('de-duplication: no node gets a block twice from the same peer, and relays each block at most once per peer', async (t) => {
  const tn = await startNet(t, 5)
  const nodes = tn.running().map((n) => n.node)
  await waitPeers(nodes, 3)

  // Every BLOCK message received: (receiver, sender node id, block hash).
  const deliveries = new Map<string, number>()
  const peersSeen = nodes.map(() => new Set<string>())
  const connected = nodes.map(() => new Set<string>())
  nodes.forEach((node, i) => {
    node.connman!.on('message', (peer, msg) => {
      if (msg.type !== 'BLOCK') return
      const key = `${i}|${peer.remoteNodeId}|${toHex(blockHash(decodeBlock(msg.block).header))}`
      deliveries.set(key, (deliveries.get(key) ?? 0) + 1)
    })
    node.connman!.on('ready', (peer) => peersSeen[i]!.add(peer.remoteNodeId!))
    for (const p of node.connman!.ready()) peersSeen[i]!.add(p.remoteNodeId!)
    node.chain.on('tip', (c) => c.connected.forEach((b) => connected[i]!.add(b.hash)))
  })

  const keys = [generateKeyPair().address, generateKeyPair().address, generateKeyPair().address]
  await Promise.all(keys.map((k, i) => mineBlocks(nodes[i]!, 6, k)))
  await settle(nodes, keys[0]!)

  const repeats = [...deliveries].filter(([, n]) => n > 1)
  t.same(repeats, [], 'no (node, peer, block) BLOCK delivery happens twice')
  t.ok(deliveries.size > 0, `${deliveries.size} BLOCK deliveries recorded`)
  const received = nodes.map((_, i) => [...deliveries.keys()].filter((k) => k.startsWith(`${i}|`)).length)
  nodes.forEach((node, i) => {
    const s = node.net!.stats
    t.equal(s.blocksRepeatedByPeer, 0, `node ${i}: blocksRepeatedByPeer = 0`)
    t.equal(s.blocksReceived, received[i], `node ${i}: blocksReceived counts each BLOCK message once`)
    const bound = connected[i]!.size * peersSeen[i]!.size
    t.ok(s.blocksRelayed <= bound, `node ${i}: relayed ${s.blocksRelayed} <= ${connected[i]!.size} blocks x ${peersSeen[i]!.size} peers`)
  })
  // Every relayed BLOCK is one delivery: the totals match once the network is quiet.
  const relayed = (): number => nodes.reduce((a, n) => a + n.net!.stats.blocksRelayed, 0)
  await waitFor('every relayed block to be received', () => relayed() === deliveries.size).catch(() => undefined)
  t.equal(relayed(), deliveries.size, 'blocks relayed in all = BLOCK messages received in all')
})
