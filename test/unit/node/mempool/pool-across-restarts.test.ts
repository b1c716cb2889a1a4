// A whole node's pending pool across reorgs and restarts: abandoned
// transactions still valid stay pending (also on disk, also when the reorg
// happens during the catch-up at open); double-spent ones are dropped.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { silentLogger } from '../../../../lib/log.js'
import { BkcNode } from '../../../../node/node.js'
import { genesisRef, mine, mineChain, parentOf, tempDir, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, rpcResult, storedPoolIds, storeUnconnected, submitAll, urlOf } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })

function dir(t: Test, prefix = 'bkc-chain-'): string {
  const d = tempDir(prefix)
  t.teardown(d.cleanup)
  return d.path
}

t.test('startup: a reorg during the catch-up at open keeps the abandoned transaction pending', async (t) => {
  const data = dir(t, 'bkc-node-')
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

  const node = await BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  })
  t.teardown(() => node.stop())
  t.equal(node.chain.tip.hash, hashOf(b[3]!), 'the node moved to B while opening')
  const url = urlOf(node.rpcAddress)
  const tx = await rpcResult<{ status: string; hash: string } | null>(url, 'getTransaction', [tId])
  t.equal(tx?.status, 'pending', 'T is pending again')
  t.equal(tx?.hash, tId, 'it is T')
  t.equal(node.mempool.size, 1, 'one pending transaction')
})

t.test('startup: an abandoned transaction that B double-spends is dropped, also from disk', async (t) => {
  const data = dir(t, 'bkc-node-')
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

  const opts = {
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  }
  const node = await BkcNode.start(opts)
  t.equal(node.chain.tip.hash, hashOf(b[2]!), 'the node moved to B while opening')
  t.equal(await rpcResult(urlOf(node.rpcAddress), 'getTransaction', [tId]), null, 'T is gone: its nonce is spent on B')
  t.same(await storedPoolIds(node.db), [], 'and not kept on disk')
  await node.stop()
  const again = await BkcNode.start(opts)
  t.teardown(() => again.stop())
  t.equal(again.mempool.size, 0, 'nothing comes back after a restart')
})

t.test('in a running node: T abandoned by a reorg is pending, on disk too, and survives a restart', async (t) => {
  const data = dir(t, 'bkc-node-')
  const opts = {
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: data,
    network: net,
    logger: silentLogger(),
    keystoreKdf: { N: 1024, r: 8, p: 1 },
  }
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b = mineChain(net, genesisRef(net), 2, { miner: bob.address })
  const node = await BkcNode.start(opts)
  for (const blk of [...a, ...b]) await node.chain.submitBlock(blk)
  t.equal(node.chain.tip.hash, hashOf(b[1]!), 'B is best')
  t.equal(node.mempool.get(tId)?.id, tId, 'T is pending in memory')
  t.same(await storedPoolIds(node.db), [tId], 'and on disk')
  await node.stop()
  const again = await BkcNode.start(opts)
  t.teardown(() => again.stop())
  t.equal(
    (await rpcResult<{ status: string }>(urlOf(again.rpcAddress), 'getTransaction', [tId])).status,
    'pending',
    'still pending after a restart',
  )
})
