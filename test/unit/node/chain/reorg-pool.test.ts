// A reorg writes the abandoned transactions back to the stored pool in its
// own batch, so a crash right after it cannot lose them.
import t from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { ChainDb } from '../../../../node/storage/chain-db.js'
import { genesisRef, mine, mineChain, parentOf, testNetwork, transfer } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, storedPoolIds, submitAll, testDir } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })

t.test('a reorg writes the abandoned transactions back to the pool in its own batch', async (t) => {
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const miner = generateKeyPair()
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  a.push(...mineChain(net, parentOf(a[0]!), 1))
  const b = mineChain(net, genesisRef(net), 3, { miner: miner.address })

  const seenInReorg: string[][] = []
  let db: ChainDb | undefined
  const o = await openChain(net, testDir(t, 'bkc-chain-'), {
    onTipChange: async (c) => {
      if (c.disconnected.length > 0 && db) seenInReorg.push(await storedPoolIds(db))
    },
  })
  db = o.db
  t.teardown(o.close)
  await submitAll(o.chain, a)
  t.ok(await o.chain.getTxLocation(tId), 'T is confirmed on chain A')
  t.same(await storedPoolIds(o.db), [], 'nothing pending yet')

  const results = await submitAll(o.chain, b)
  t.equal(results[2]!.status, 'connected', 'B is the best chain now')
  t.equal(seenInReorg.length, 1, 'one reorg')
  t.same(seenInReorg[0], [tId], 'T is in the pool on disk when the reorg is announced (same batch as the reorg)')
  t.same(await storedPoolIds(o.db), [tId], 'and it stays there')
  t.equal(await o.chain.getTxLocation(tId), undefined, 'T is no longer confirmed')

  // Back to a chain that holds T again: the connecting batch takes it out of the pool.
  const more = mineChain(net, parentOf(a[1]!), 2)
  await submitAll(o.chain, more)
  t.equal(o.chain.tip.hash, hashOf(more[1]!), 'A (extended) is best again')
  t.ok(await o.chain.getTxLocation(tId), 'T is confirmed again')
  t.same(await storedPoolIds(o.db), [], 'and no longer in the pool on disk')
})

t.test('a transaction in both branches is not left in the pool by the reorg', async (t) => {
  const T = transfer(net, alice, bob.address, 10, 0)
  const tId = toHex(txId(T))
  const a = [mine(net, genesisRef(net), { txs: [T] })]
  const b1 = mineChain(net, genesisRef(net), 1, { miner: bob.address })
  const b2 = mine(net, parentOf(b1[0]!), { txs: [T] })
  const o = await openChain(net, testDir(t, 'bkc-chain-'))
  t.teardown(o.close)
  await submitAll(o.chain, [...a, ...b1, b2])
  t.equal(o.chain.tip.hash, hashOf(b2), 'B is best')
  t.equal((await o.chain.getTxLocation(tId))?.blockHash, hashOf(b2), 'T is confirmed in B')
  t.same(await storedPoolIds(o.db), [], 'T is not also pending')
})
