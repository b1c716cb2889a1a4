// --reindex re-checks the contextual rules (target, median time past) of
// stored blocks, and the rejection survives a plain restart.
import t, { type Test } from 'tap'
import { toHex } from '../../../../protocol/wire/bytes.js'
import type { Block } from '../../../../protocol/chain/block-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { targetFromLeadingZeroBits } from '../../../../node/consensus/pow.js'
import { GENESIS_TIME, genesisRef, mine, mineChain, parentOf, testNetwork } from '../../../../bench/lib/fixtures.js'
import { hashOf, openChain, storeUnconnected, submitAll, testDir } from '../../../helpers/node-fixtures.js'

const alice = generateKeyPair()
const net = testNetwork({ balances: { [toHex(alice.address)]: 1000 } })

// ---------------------------------------------------------------- reindex re-checks context

/**
 * Builds a 5-block chain, then stores (without connecting) a crafted child of
 * its tip plus descendants that make the crafted branch the best one; reopens
 * with reindex, and checks the branch is rejected (also after a plain restart).
 */
async function reindexWithCrafted(t: Test, craft: (tip: Block) => Block): Promise<void> {
  const d = testDir(t, 'bkc-chain-')
  const main = mineChain(net, genesisRef(net), 5)
  const crafted = craft(main[4]!)
  const descendants = mineChain(net, { ...parentOf(crafted), timestamp: main[4]!.header.timestamp + 1000 }, 3)
  const first = await openChain(net, d)
  await submitAll(first.chain, main)
  await storeUnconnected(first.db, [crafted, ...descendants])
  await first.close()

  const reindexed = await openChain(net, d, { reindex: true })
  t.equal(reindexed.chain.tip.hash, hashOf(main[4]!), 'the node stays on the old tip')
  t.equal(reindexed.chain.tip.height, 5, 'at height 5')
  t.equal(reindexed.chain.entry(hashOf(crafted))?.status, 'invalid', 'the crafted block is marked invalid')
  t.ok(
    descendants.every((b) => reindexed.chain.entry(hashOf(b))?.status === 'invalid'),
    'and its descendants too',
  )
  t.equal(await reindexed.chain.getBlockByHeight(6), undefined, 'nothing above the old tip')
  await reindexed.close()

  // A plain restart afterwards must not pick the rejected branch up again.
  const plain = await openChain(net, d)
  t.teardown(plain.close)
  t.equal(plain.chain.tip.hash, hashOf(main[4]!), 'a plain restart stays on the old tip')
  t.equal(plain.chain.entry(hashOf(crafted))?.status, 'invalid', 'the crafted block is still invalid')
  t.equal((await plain.chain.submitBlock(crafted)).status, 'invalid', 'and is refused when offered again')
}

t.test('--reindex rejects a stored block with the wrong target (PoW valid for its own target)', async (t) => {
  const easier = targetFromLeadingZeroBits(2)
  t.notOk(easier.equals(net.consensus.target), 'the crafted target differs from the network target')
  await reindexWithCrafted(t, (tip) => mine(net, parentOf(tip), { tamper: (h) => void (h.target = easier) }))
})

t.test('--reindex rejects a stored block whose timestamp is not after the median time past', async (t) => {
  // Timestamps G+0 .. G+5000 for heights 0..5: the median of those six is G+3000.
  await reindexWithCrafted(t, (tip) => mine(net, parentOf(tip), { timestamp: GENESIS_TIME + 3000 }))
})
