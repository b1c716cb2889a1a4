// Stateless block rules: each test breaks exactly one rule of an otherwise
// valid block (re-solving the PoW) and expects that rule's code.
import t from 'tap'
import { blockHash, type Block, type BlockHeader } from '../../../../protocol/chain/block-codec.js'
import { ZERO_ADDRESS, txId, type Transaction } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { RejectCode } from '../../../../node/chain/errors.js'
import {
  checkBlockContext,
  checkBlockSanity,
  checkReward,
  checkTransferSanity,
  type BlockContext,
} from '../../../../node/chain/validation.js'
import { targetFromLeadingZeroBits } from '../../../../node/consensus/pow.js'
import {
  GENESIS_TIME,
  MINER,
  genesisRef,
  hexAddress,
  mine,
  parentOf,
  reward,
  testNetwork,
  transfer,
} from '../../../../bench/lib/fixtures.js'
import { be32, flipBit, highSTwin, mineEdited, offCurveX, rootOf, withFailingPow } from '../../../helpers/tamper.js'

const alice = generateKeyPair()
const bob = generateKeyPair()
const net = testNetwork({ balances: { [hexAddress(alice)]: 1000 } })
const g = genesisRef(net)
const rejects = (code: RejectCode) => ({ name: 'ValidationError', code })
const sane = (b: Block) => checkBlockSanity(b, net)
const ctxOf = (b: Block, patch: Partial<BlockContext> = {}): BlockContext => ({
  parentHeight: b.header.height - 1,
  medianTimePast: b.header.timestamp - 1,
  expectedTarget: net.consensus.target,
  now: b.header.timestamp,
  ...patch,
})
const pay = (amount: number, nonce: number) => transfer(net, alice, bob.address, amount, nonce)
const replaceTx = (i: number, patch: Partial<Transaction>) => (txs: Transaction[]) => {
  txs[i] = { ...txs[i]!, ...patch }
}

t.test('baseline: a mined block with transfers passes every check', async (t) => {
  const block = mine(net, g, { txs: [pay(5, 0), pay(6, 1)] })
  const checked = sane(block)
  t.same(checked.hash, blockHash(block.header))
  t.same(checked.txIds, block.txs.map(txId))
  t.equal(checked.size, 153 + 4 + 3 * 155, 'a 153-byte work header, the count, three transactions')
  t.doesNotThrow(() => checkBlockContext(block.header, ctxOf(block), net.consensus))
})

t.test('proof of work', async (t) => {
  const unsolved = mine(net, g, { unsolved: true })
  const failing = withFailingPow(unsolved)
  t.throws(() => sane(failing), rejects('BAD_POW'), 'nonce whose hash misses the target')
  const solved = mine(net, g)
  t.doesNotThrow(() => sane(solved), 'the same block solved is valid')
  const impossible = { ...solved, header: { ...solved.header, target: Buffer.alloc(32) } }
  t.throws(() => sane(impossible), rejects('BAD_POW'), 'a target lowered after solving')
})

t.test('proof type: only pow is accepted', async (t) => {
  for (const name of ['space', 'memory', 'toString', '__proto__']) {
    const block = mine(net, g, { unsolved: true })
    const header = { ...block.header, proofType: name } as unknown as BlockHeader
    t.throws(() => sane({ header, txs: block.txs }), rejects('BAD_PROOF_TYPE'), `proof type "${name}"`)
  }
})

t.test('reward rules', async (t) => {
  const other = generateKeyPair().address
  const cases: Array<[string, (txs: Transaction[], h: BlockHeader) => void, RejectCode]> = [
    ['reward amount + 1', replaceTx(0, { amount: net.consensus.blockReward + 1 }), 'BAD_REWARD'],
    ['reward amount - 1', replaceTx(0, { amount: net.consensus.blockReward - 1 }), 'BAD_REWARD'],
    ['reward to someone else', replaceTx(0, { to: other }), 'BAD_REWARD'],
    ['reward nonce ≠ height', replaceTx(0, { nonce: 2 }), 'BAD_REWARD'],
    ['reward timestamp ≠ block timestamp', replaceTx(0, { timestamp: GENESIS_TIME + 999 }), 'BAD_REWARD'],
    ['reward with a signature', replaceTx(0, { signature: Buffer.alloc(64, 1) }), 'BAD_REWARD'],
    ['no reward (transfer first)', (txs) => txs.splice(0, 1), 'NO_REWARD'],
    ['no transactions at all', (txs) => txs.splice(0), 'NO_REWARD'],
    ['a second reward-form tx', (txs) => txs.push({ ...txs[0]!, nonce: 7 }), 'EXTRA_REWARD'],
    ['the reward twice', (txs) => txs.push(txs[0]!), 'DUPLICATE_TX'],
  ]
  for (const [label, edit, code] of cases) {
    t.throws(() => sane(mineEdited(net, g, edit, { txs: [pay(5, 0)] })), rejects(code), label)
  }
  // Control: the edit helper itself breaks nothing.
  t.doesNotThrow(() => sane(mineEdited(net, g, () => {}, { txs: [pay(5, 0)] })), 'unedited block passes')
})

t.test('miner must be a public key', async (t) => {
  const notKey = Buffer.concat([Buffer.from([2]), be32(offCurveX())])
  t.throws(() => sane(mine(net, g, { miner: notKey })), rejects('BAD_MINER'))
  t.throws(() => sane(mine(net, g, { miner: ZERO_ADDRESS })), rejects('BAD_MINER'))
})

t.test('transaction root', async (t) => {
  t.throws(
    () => sane(mine(net, g, { txs: [pay(5, 0)], tamper: (h) => (h.txRoot = Buffer.alloc(32)) })),
    rejects('BAD_TX_ROOT'),
    'zero root',
  )
  t.throws(
    () => sane(mine(net, g, { txs: [pay(5, 0), pay(6, 1)], tamper: (h, txs) => (h.txRoot = rootOf([txs[0]!, txs[2]!, txs[1]!])) })),
    rejects('BAD_TX_ROOT'),
    'root of the same transactions in another order',
  )
  t.throws(
    () => sane(mine(net, g, { txs: [pay(5, 0)], tamper: (_h, txs) => txs.push(pay(6, 1)) })),
    rejects('BAD_TX_ROOT'),
    'a transaction added after the root was computed',
  )
})

t.test('duplicate transaction', async (t) => {
  const tx = pay(5, 0)
  t.throws(() => sane(mineEdited(net, g, (txs) => txs.push(tx), { txs: [tx] })), rejects('DUPLICATE_TX'))
  t.throws(
    () => sane(mineEdited(net, g, (txs) => txs.push({ ...tx }), { txs: [tx, pay(6, 1)] })),
    rejects('DUPLICATE_TX'),
    'non-adjacent copy',
  )
})

t.test('transfer signatures', async (t) => {
  const tx = pay(5, 0)
  const cases: Array<[string, Transaction]> = [
    ['flipped bit in r', { ...tx, signature: flipBit(tx.signature, 3) }],
    ['high-S twin', { ...tx, signature: highSTwin(tx.signature) }],
    ['zero signature', { ...tx, signature: Buffer.alloc(64) }],
    ['amount changed after signing', { ...tx, amount: 6 }],
    ['signed by someone else', { ...transfer(net, bob, bob.address, 5, 0), from: alice.address }],
    ['signed for another network', transfer(testNetwork({ networkId: 'elsewhere' }), alice, bob.address, 5, 0)],
  ]
  for (const [label, bad] of cases) {
    t.throws(() => sane(mine(net, g, { txs: [bad] })), rejects('BAD_SIGNATURE'), label)
    t.throws(() => checkTransferSanity(bad, net.networkId), rejects('BAD_SIGNATURE'), `${label} (alone)`)
  }
  t.doesNotThrow(() => checkTransferSanity(tx, net.networkId))
})

t.test('transfer amount and recipient', async (t) => {
  t.throws(() => sane(mine(net, g, { txs: [pay(0, 0)] })), rejects('BAD_AMOUNT'), 'zero amount, validly signed')
  const offCurve = Buffer.concat([Buffer.from([3]), be32(offCurveX(1000n))])
  for (const [label, to] of [
    ['zero address', ZERO_ADDRESS],
    ['off-curve x', offCurve],
    ['prefix 04', Buffer.concat([Buffer.from([4]), bob.address.subarray(1)])],
  ] as const) {
    t.throws(() => sane(mine(net, g, { txs: [transfer(net, alice, to, 5, 0)] })), rejects('BAD_ADDRESS'), `recipient: ${label}`)
  }
  t.throws(() => checkTransferSanity(reward(net, bob.address, 1, 5), net.networkId), rejects('EXTRA_REWARD'), 'reward form alone')
  t.doesNotThrow(() => checkTransferSanity(transfer(net, alice, alice.address, 1, 0), net.networkId), 'paying oneself is allowed')
})

t.test('block size limit', async (t) => {
  const small = testNetwork({ balances: { [hexAddress(alice)]: 1000 }, maxBlockBytes: 1024 })
  const txs = [0, 1, 2, 3, 4].map((n) => transfer(small, alice, bob.address, 1, n))
  const fits = mine(small, genesisRef(small), { txs: txs.slice(0, 4) }) // 153 + 4 + 5 × 155 = 932
  t.doesNotThrow(() => checkBlockSanity(fits, small))
  const over = mine(small, genesisRef(small), { txs }) // 1087 bytes
  t.throws(() => checkBlockSanity(over, small), rejects('TOO_LARGE'))
  t.doesNotThrow(() => checkBlockSanity(over, net), 'the same block under a 1 MiB limit')
})

t.test('checkReward directly', async (t) => {
  const block = mine(net, g)
  t.throws(() => checkReward(undefined, block.header, net.consensus), rejects('NO_REWARD'))
  t.throws(() => checkReward(pay(5, 0), block.header, net.consensus), rejects('NO_REWARD'), 'a transfer is not a reward')
  t.doesNotThrow(() => checkReward(block.txs[0], block.header, net.consensus))
})

t.test('context: height', async (t) => {
  const block = mine(net, g)
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { parentHeight: 1 }), net.consensus),
    rejects('BAD_HEIGHT'),
    'same height as parent',
  )
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { parentHeight: -1 }), net.consensus),
    rejects('BAD_HEIGHT'),
    'skips a height',
  )
  const tall = mine(net, { ...g, height: 5 })
  t.doesNotThrow(() => sane(tall), 'stateless checks do not know the parent')
  t.throws(() => checkBlockContext(tall.header, ctxOf(tall, { parentHeight: 0 }), net.consensus), rejects('BAD_HEIGHT'))
})

t.test('context: time', async (t) => {
  const block = mine(net, parentOf(mine(net, g)))
  const ts = block.header.timestamp
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { medianTimePast: ts }), net.consensus),
    rejects('TIME_TOO_OLD'),
    'equal to median time past',
  )
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { medianTimePast: ts + 5000 }), net.consensus),
    rejects('TIME_TOO_OLD'),
    'before it',
  )
  t.doesNotThrow(() => checkBlockContext(block.header, ctxOf(block, { medianTimePast: ts - 1 }), net.consensus), '1 ms after it')
  const max = net.consensus.maxFutureBlockTimeMs
  t.doesNotThrow(() => checkBlockContext(block.header, ctxOf(block, { now: ts - max }), net.consensus), 'exactly at the future limit')
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { now: ts - max - 1 }), net.consensus),
    rejects('TIME_TOO_NEW'),
    '1 ms past it',
  )
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { now: ts - max - 1 }), net.consensus),
    { name: 'ValidationError', code: 'TIME_TOO_NEW', permanent: false },
    'a block from the future may become valid: not permanent',
  )
  t.throws(
    () => checkBlockContext(block.header, ctxOf(block, { medianTimePast: ts }), net.consensus),
    { code: 'TIME_TOO_OLD', permanent: true },
    'too old stays too old: permanent',
  )
})

t.test('context: target', async (t) => {
  const easier = targetFromLeadingZeroBits(3)
  const block = mine(net, g, { tamper: (h) => (h.target = easier) })
  // An easier target than the network allows is refused before any hashing
  // (a peer must not pick a target that makes its header pass).
  t.throws(() => sane(block), rejects('BAD_TARGET'), 'an easier target fails the header checks')
  t.throws(() => checkBlockContext(block.header, ctxOf(block), net.consensus), rejects('BAD_TARGET'), 'and the context check')
  const harder = mine(net, g, { tamper: (h) => (h.target = targetFromLeadingZeroBits(5)) })
  t.doesNotThrow(() => sane(harder), 'a harder target passes the header checks')
  t.throws(() => checkBlockContext(harder.header, ctxOf(harder), net.consensus), rejects('BAD_TARGET'), 'a harder target is also wrong')
})

t.test('MINER fixture sanity', async (t) => {
  t.same(mine(net, g).header.miner, MINER.address)
})
