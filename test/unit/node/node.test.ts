// BkcNode in-process on 127.0.0.1 with a real LevelDB, keystore, miner
// threads and HTTP JSON-RPC: every call here goes over a socket.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { toHex } from '../../../protocol/wire/bytes.js'
import { generateKeyPair } from '../../../protocol/chain/keys.js'
import { ChainBatch, ChainDb } from '../../../node/storage/chain-db.js'
import { MINER, mine, parentOf, testNetwork, transfer } from '../../../bench/lib/fixtures.js'
import { fund, hashOf, nodeDataDir, rpcCall, rpcResult, sleep, startTestNode, tipRef, waitFor } from '../../helpers/node-fixtures.js'

// 8 leading zero bits: ~256 hashes a block, so the real miner finds blocks at once.
const net = testNetwork({ bits: 8 })
const PW = 'correct horse'

interface TxJson {
  hash: string
  from: string
  to: string
  amount: number
  nonce: number
  status: 'pending' | 'confirmed'
  blockHeight?: number
  blockHash?: string
  confirmations?: number
}

t.test('JSON-RPC over HTTP: accounts, errors, params, queries', async (t) => {
  const { node, url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const bob = toHex(generateKeyPair().address)

  const alice = await rpcResult<string>(url, 'createAccount', ['alice', PW])
  t.match(alice, /^0[23][0-9a-f]{64}$/, 'createAccount returns a compressed public key')
  const dup = await rpcCall(url, 'createAccount', ['alice', 'other'])
  t.equal(dup.error?.code, -32010, 'an existing name is refused')
  t.match(dup.error?.message, /alice/)

  t.equal((await rpcCall(url, 'sendTransaction', [bob, 1])).error?.code, -32013, 'sendTransaction without unlock')
  t.equal((await rpcCall(url, 'unlock', ['alice', 'wrong password'])).error?.code, -32012, 'wrong password')
  t.equal((await rpcCall(url, 'unlock', ['nobody', PW])).error?.code, -32011, 'unknown account')
  t.equal((await rpcCall(url, 'sendTransaction', [bob, 1])).error?.code, -32013, 'a failed unlock unlocks nothing')

  await fund(node, alice, 3)
  t.equal(await rpcResult(url, 'getBalance', [alice]), 60)
  t.equal(await rpcResult(url, 'unlock', ['alice', PW]), alice)

  const poor = await rpcCall(url, 'sendTransaction', [bob, 61])
  t.equal(poor.error?.code, -32020, 'insufficient balance')
  for (const bad of ['abc', 0, -1, '0', '1e3', 1.5, null]) {
    const r = await rpcCall(url, 'sendTransaction', [bob, bad])
    t.equal(r.error?.code, -32602, `amount ${JSON.stringify(bad)} is an invalid param`)
    t.match(r.error?.message, /"amount"/, 'the message names the param')
  }
  const badTo = await rpcCall(url, 'sendTransaction', ['02' + '00'.repeat(32), 1])
  t.equal(badTo.error?.code, -32602)
  t.match(badTo.error?.message, /"to"/)

  const id = await rpcResult<string>(url, 'sendTransaction', [bob, '20'])
  t.match(id, /^[0-9a-f]{64}$/, 'amount as a numeric string is accepted')
  const pending = await rpcResult<TxJson>(url, 'getTransaction', [id])
  t.match(pending, { hash: id, from: alice, to: bob, amount: 20, nonce: 0, status: 'pending' })
  t.equal(await rpcResult(url, 'getBalance', [alice]), 60, 'a pending spend does not change the balance')
  t.equal(await rpcResult(url, 'getBalance', [bob]), 0, 'unknown address: balance 0')

  t.equal(await rpcResult(url, 'getTransaction', ['ab'.repeat(32)]), null, 'unknown transaction: null')
  t.equal(await rpcResult(url, 'getBlock', [4]), null, 'beyond the tip: null')
  t.equal(await rpcResult(url, 'getBlock', [4_000_000_000]), null)
  t.match(await rpcResult(url, 'getBlock', [0]), { height: 0, hash: toHex(net.genesisHash) })
  t.match(await rpcResult(url, 'getBlock', ['3']), { height: 3, miner: alice })

  const status = await rpcResult<Record<string, unknown>>(url, 'getStatus')
  t.same(
    { ...status, hashRate: typeof status.hashRate },
    {
      network: 'bkc-test',
      height: 3,
      hash: node.chain.tip.hash,
      peers: 0,
      mining: false,
      miner: null,
      hashRate: 'number',
      pending: 1,
      unlocked: alice,
      engine: 'work',
      proofType: 'pow',
      target: net.consensus.target.toString('hex'),
      difficulty: 256,
    },
  )

  // A confirming block, built here so the test controls what is in it.
  const tx = node.mempool.get(id)!.tx
  const block = mine(net, tipRef(node.chain), { txs: [tx] })
  t.equal((await node.chain.submitBlock(block)).status, 'connected')
  const confirmed = await rpcResult<TxJson>(url, 'getTransaction', [id])
  t.match(confirmed, { hash: id, status: 'confirmed', blockHeight: 4, blockHash: hashOf(block), confirmations: 1 })
  t.equal(await rpcResult(url, 'getBalance', [alice]), 40)
  t.equal(await rpcResult(url, 'getBalance', [bob]), 20)
  t.equal((await rpcResult<Record<string, unknown>>(url, 'getStatus')).pending, 0, 'the pool dropped it')

  // A second send: pending first, then the confirmed one, newest first.
  const id2 = await rpcResult<string>(url, 'sendTransaction', [bob, 5])
  const list = await rpcResult<TxJson[]>(url, 'getTransactionsByAccount', [bob])
  t.same(
    list.map((x) => [x.hash, x.status]),
    [
      [id2, 'pending'],
      [id, 'confirmed'],
    ],
  )
  const aliceList = await rpcResult<TxJson[]>(url, 'getTransactionsByAccount', [alice, 2])
  t.equal(aliceList.length, 2, 'limit is honoured')
  t.same(
    aliceList.map((x) => x.hash),
    [id2, id],
  )

  // An invalid block (overdraft found at connect time) is not served.
  const overdraft = mine(net, tipRef(node.chain), { txs: [transfer(net, generateKeyPair(), Buffer.from(bob, 'hex'), 1, 0, Date.now())] })
  t.equal((await node.chain.submitBlock(overdraft)).status, 'invalid')
  t.equal(await rpcResult(url, 'getBlockByHash', [hashOf(overdraft)]), null, 'an invalid block is not served by hash')
  t.match(await rpcResult(url, 'getBlockByHash', [hashOf(block)]), { height: 4, onBestChain: true })
})

t.test('two quick sendTransaction calls get consecutive nonces', async (t) => {
  const { node, url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const addr = await rpcResult<string>(url, 'createAccount', ['quick', PW])
  await fund(node, addr, 2)
  await rpcResult(url, 'unlock', ['quick', PW])
  const to = toHex(generateKeyPair().address)
  const ids = await Promise.all([rpcResult<string>(url, 'sendTransaction', [to, 3]), rpcResult<string>(url, 'sendTransaction', [to, 4])])
  t.not(ids[0], ids[1])
  const txs = await Promise.all(ids.map((id) => rpcResult<TxJson>(url, 'getTransaction', [id])))
  t.same(txs.map((x) => x.nonce).sort(), [0, 1])
  t.same(
    txs.map((x) => x.status),
    ['pending', 'pending'],
  )
  // Both fit in one block, in nonce order.
  const inOrder = txs.sort((a, b) => a.nonce - b.nonce).map((x) => node.mempool.get(x.hash)!.tx)
  t.equal((await node.chain.submitBlock(mine(net, tipRef(node.chain), { txs: inOrder }))).status, 'connected')
  t.equal(await rpcResult(url, 'getBalance', [to]), 7)
})

t.test('the pending pool survives a restart, then the miner confirms it', async (t) => {
  const dir = nodeDataDir(t)
  const first = await startTestNode(t, { dataDir: dir, network: net })
  const addr = await rpcResult<string>(first.url, 'createAccount', ['keeper', PW])
  await fund(first.node, addr, 2)
  await rpcResult(first.url, 'unlock', ['keeper', PW])
  const to = toHex(generateKeyPair().address)
  const id = await rpcResult<string>(first.url, 'sendTransaction', [to, 25])
  t.equal((await rpcResult<TxJson>(first.url, 'getTransaction', [id])).status, 'pending')
  await first.stop()

  const second = await startTestNode(t, { dataDir: dir, network: net })
  const url = second.url
  const again = await rpcResult<TxJson>(url, 'getTransaction', [id])
  t.match(again, { hash: id, status: 'pending', amount: 25, to })
  t.equal((await rpcResult<Record<string, unknown>>(url, 'getStatus')).pending, 1)
  t.equal((await rpcResult<Record<string, unknown>>(url, 'getStatus')).unlocked, null, 'unlocking does not survive a restart')

  t.equal(await rpcResult(url, 'mining', ['keeper', PW]), true)
  try {
    const done = await waitFor('the transaction to confirm', async () => {
      const x = await rpcResult<TxJson>(url, 'getTransaction', [id])
      return x.status === 'confirmed' ? x : undefined
    })
    t.type(done.blockHeight, 'number')
    t.ok(done.blockHeight! >= 3)
  } finally {
    await rpcResult(url, 'stopMining')
  }
  t.equal(await rpcResult(url, 'getBalance', [to]), 25)
  const height = second.node.chain.tip.height
  t.equal(await rpcResult(url, 'getBalance', [addr]), 20 * height - 25, 'every block was mined by keeper')
})

t.test('mining: blocks appear, RPC stays responsive, stopMining stops the chain', async (t) => {
  const { url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const addr = await rpcResult<string>(url, 'createAccount', ['miner', PW])
  t.equal(await rpcResult(url, 'mining', ['miner', PW]), true)
  try {
    // Answers while the workers search; a few rounds so some land mid-search.
    for (let i = 0; i < 5; i++) {
      const s = await rpcResult<Record<string, unknown>>(url, 'getStatus')
      t.equal(s.mining, true, 'getStatus answers while mining')
      t.equal(s.miner, addr)
    }
    await waitFor('three mined blocks', async () => (await rpcResult<{ height: number }>(url, 'getStatus')).height >= 3 || undefined)
  } finally {
    t.equal(await rpcResult(url, 'stopMining'), true)
  }
  const h1 = (await rpcResult<{ height: number }>(url, 'getStatus')).height
  t.equal((await rpcResult<Record<string, unknown>>(url, 'getStatus')).mining, false)
  await sleep(1000)
  const h2 = (await rpcResult<{ height: number }>(url, 'getStatus')).height
  t.equal(h2, h1, 'no block after stopMining returned')
  t.equal(await rpcResult(url, 'getBalance', [addr]), 20 * h1)
  const tip = await rpcResult<{ miner: string; transactions: Array<{ type: string; to: string; amount: number }> }>(url, 'getBlock', [h1])
  t.equal(tip.miner, addr)
  t.match(tip.transactions[0], { type: 'reward', to: addr, amount: 20 })
  t.equal(await rpcResult(url, 'stopMining'), true, 'stopping twice is fine')
})

t.test('a reorg returns abandoned transactions to the pool and drops double-spent ones (also on disk)', async (t) => {
  const dir = nodeDataDir(t)
  const first = await startTestNode(t, { dataDir: dir, network: net })
  let { node, url } = first
  const alice = await rpcResult<string>(url, 'createAccount', ['alice', PW])
  await fund(node, alice, 3) // 60 coins at height 3
  const fork = tipRef(node.chain)
  await rpcResult(url, 'unlock', ['alice', PW])
  const bob = toHex(generateKeyPair().address)
  const carol = generateKeyPair().address
  const t1 = await rpcResult<string>(url, 'sendTransaction', [bob, 10]) // nonce 0
  const t2 = await rpcResult<string>(url, 'sendTransaction', [bob, 11]) // nonce 1
  const a4 = mine(net, fork, { txs: [node.mempool.get(t1)!.tx, node.mempool.get(t2)!.tx] })
  t.equal((await node.chain.submitBlock(a4)).status, 'connected')
  t.equal((await rpcResult<TxJson>(url, 'getTransaction', [t2])).status, 'confirmed')
  t.equal(node.mempool.size, 0)

  // A heavier branch from height 3 whose first block spends alice's nonce 0
  // differently (30 to carol): t1 is double-spent, t2 (nonce 1, 11 of the
  // 30 left) is still valid and must come back.
  const privateKey = Buffer.from((await node.wallet.unlock('alice', PW)).privateKey)
  const aliceKey = { privateKey, address: Buffer.from(alice, 'hex') }
  const other = generateKeyPair().address
  const b4 = mine(net, fork, {
    miner: other,
    timestamp: a4.header.timestamp + 500,
    txs: [transfer(net, aliceKey, carol, 30, 0, fork.timestamp)],
  })
  const b5 = mine(net, parentOf(b4), { miner: other })
  t.equal((await node.chain.submitBlock(b4)).status, 'side')
  t.equal((await node.chain.submitBlock(b5)).status, 'connected')
  t.equal(await rpcResult(url, 'getTransaction', [t1]), null, 'the double-spent transaction is gone')
  t.match(await rpcResult(url, 'getTransaction', [t2]), { status: 'pending', nonce: 1 }, 'the other one is pending again')
  t.equal(await rpcResult(url, 'getBalance', [alice]), 30)
  t.equal(await rpcResult(url, 'getBalance', [bob]), 0)
  t.equal(await rpcResult(url, 'getBalance', [toHex(carol)]), 30)

  // The pool on disk followed the reorg.
  await first.stop()
  ;({ node, url } = await startTestNode(t, { dataDir: dir, network: net }))
  t.equal(await rpcResult(url, 'getTransaction', [t1]), null)
  t.match(await rpcResult(url, 'getTransaction', [t2]), { status: 'pending' })
  t.equal(node.mempool.size, 1)
  t.equal((await node.chain.submitBlock(mine(net, tipRef(node.chain), { txs: [node.mempool.get(t2)!.tx] }))).status, 'connected')
  t.equal(await rpcResult(url, 'getBalance', [alice]), 19)
  t.equal(await rpcResult(url, 'getBalance', [bob]), 11)
})

/** Balances of the given addresses and the whole height index, over RPC. */
async function chainView(url: string, addresses: string[]): Promise<unknown> {
  const status = await rpcResult<{ height: number; hash: string }>(url, 'getStatus')
  const blocks = []
  for (let h = 0; h <= status.height; h++) blocks.push((await rpcResult<{ hash: string }>(url, 'getBlock', [h])).hash)
  const balances = await Promise.all(addresses.map((a) => rpcResult(url, 'getAccount', [a])))
  return { tip: status.hash, blocks, balances }
}

async function chainWithTransfers(t: Test, dir: string): Promise<{ addresses: string[]; view: unknown }> {
  const { node, url, stop } = await startTestNode(t, { dataDir: dir, network: net })
  const a = await rpcResult<string>(url, 'createAccount', ['a', PW])
  await fund(node, a, 2)
  await rpcResult(url, 'unlock', ['a', PW])
  const b = toHex(generateKeyPair().address)
  const id = await rpcResult<string>(url, 'sendTransaction', [b, 7])
  await node.chain.submitBlock(mine(net, tipRef(node.chain), { txs: [node.mempool.get(id)!.tx] }))
  const addresses = [a, b, toHex(MINER.address)]
  const view = await chainView(url, addresses)
  await stop()
  return { addresses, view }
}

t.test('start with reindex: true rebuilds the same state', async (t) => {
  const dir = nodeDataDir(t)
  const { addresses, view } = await chainWithTransfers(t, dir)
  // Damage the derived state so only a real rebuild gets it right.
  const db = await ChainDb.open(join(dir, 'chain'))
  await db.write(new ChainBatch().putAccount(addresses[0]!, { balance: 1, nonce: 9 }).delHeight(2))
  await db.close()
  const { node, url } = await startTestNode(t, { dataDir: dir, network: net, reindex: true })
  t.equal(node.chain.tip.height, 3)
  t.same(await chainView(url, addresses), view)
})

t.test('an interrupted reindex is finished at the next start, with or without reindex: true', async (t) => {
  for (const withFlag of [true, false]) {
    const dir = nodeDataDir(t)
    const { addresses, view } = await chainWithTransfers(t, dir)
    // A rebuild that crashed right after clearing the state: no tip is left.
    const db = await ChainDb.open(join(dir, 'chain'))
    await db.write(new ChainBatch().putMeta('reindexing', Buffer.from([1])))
    await db.clearState()
    await db.close()
    const { node, url } = await startTestNode(t, { dataDir: dir, network: net, reindex: withFlag })
    t.equal(node.chain.tip.height, 3, `tip restored (reindex flag ${withFlag})`)
    t.same(await chainView(url, addresses), view, 'with the same state')
  }
})

t.test('a rebuild that crashed part-way (tip present, state half rebuilt) resumes by itself', async (t) => {
  const dir = nodeDataDir(t)
  const { addresses, view } = await chainWithTransfers(t, dir)
  const db = await ChainDb.open(join(dir, 'chain'))
  // The mark is set and the state is wrong, but a tip exists: only the mark tells.
  await db.write(new ChainBatch().putMeta('reindexing', Buffer.from([1])).putAccount(addresses[0]!, { balance: 1, nonce: 9 }))
  await db.close()
  const { node, url } = await startTestNode(t, { dataDir: dir, network: net })
  t.equal(node.chain.tip.height, 3)
  t.same(await chainView(url, addresses), view, 'state rebuilt, not the damaged copy')
  t.equal(await node.db.getMeta('reindexing'), undefined, 'the mark is cleared once done')
})
