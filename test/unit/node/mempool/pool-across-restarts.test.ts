// A whole node's pending pool across reorgs and restarts: abandoned
// transactions still valid stay pending (also on disk, also when the reorg
// happens during the catch-up at open); double-spent ones are dropped.
import t from 'tap'
import { join } from 'node:path'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { genesisRef, mine, mineChain, parentOf, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import {
  hashOf,
  nodeDataDir,
  openChain,
  rpcResult,
  startTestNode,
  storedPoolIds,
  storeUnconnected,
  submitAll,
} from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })

t.test('startup: a reorg during the catch-up at open keeps the abandoned transaction pending', async (t) => {
  const data = nodeDataDir(t)
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  a.push(...mineChain(net, parentOf(a[0]!), 1))
  const b = mineChain(net, genesisRef(net), 4, { miner: bob.address })

  const chain = await openChain(net, join(data, 'chain'))
  await submitAll(chain.chain, a)
  t.ok(await chain.chain.getTxLocation(tId), 'T confirmed on A')
  await storeUnconnected(chain.db, b)
  await chain.close()

  const { node, url } = await startTestNode(t, { dataDir: data, network: net })
  t.equal(node.chain.tip.hash, hashOf(b[3]!), 'the node moved to B while opening')
  const tx = await rpcResult<{ status: string; hash: string } | null>(url, 'getTransaction', [tId])
  t.equal(tx?.status, 'pending', 'T is pending again')
  t.equal(tx?.hash, tId, 'it is T')
  t.equal(node.mempool.size, 1, 'one pending transaction')
})

t.test('startup: an abandoned transaction that B double-spends is dropped, also from disk', async (t) => {
  const data = nodeDataDir(t)
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const conflict = transfer(net, alice, bob.address, 11, 0) // same nonce: T can never be mined on B
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = [mine(net, genesisRef(net), { miner: bob.address, txs: [conflict] })]
  b.push(...mineChain(net, parentOf(b[0]!), 2, { miner: bob.address }))

  const chain = await openChain(net, join(data, 'chain'))
  await submitAll(chain.chain, a)
  await storeUnconnected(chain.db, b)
  await chain.close()

  const first = await startTestNode(t, { dataDir: data, network: net })
  t.equal(first.node.chain.tip.hash, hashOf(b[2]!), 'the node moved to B while opening')
  t.equal(await rpcResult(first.url, 'getTransaction', [tId]), null, 'T is gone: its nonce is spent on B')
  t.same(await storedPoolIds(first.node.db), [], 'and not kept on disk')
  await first.stop()
  const again = await startTestNode(t, { dataDir: data, network: net })
  t.equal(again.node.mempool.size, 0, 'nothing comes back after a restart')
})

t.test('in a running node: T abandoned by a reorg is pending, on disk too, and survives a restart', async (t) => {
  const data = nodeDataDir(t)
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = mineChain(net, genesisRef(net), 2, { miner: bob.address })
  const first = await startTestNode(t, { dataDir: data, network: net })
  for (const blk of [...a, ...b]) await first.node.chain.submitBlock(blk)
  t.equal(first.node.chain.tip.hash, hashOf(b[1]!), 'B is best')
  t.equal(first.node.mempool.get(tId)?.id, tId, 'T is pending in memory')
  t.same(await storedPoolIds(first.node.db), [tId], 'and on disk')
  await first.stop()
  const again = await startTestNode(t, { dataDir: data, network: net })
  t.equal((await rpcResult<{ status: string }>(again.url, 'getTransaction', [tId])).status, 'pending', 'still pending after a restart')
})
