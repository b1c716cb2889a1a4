// sendFromUnlocked on a whole node: each send signs with the key unlocked at
// its call even while it waits for the chain lock, and one sender can queue
// long runs of consecutive nonces.
import t from 'tap'
import { toHex } from '../../../protocol/wire/bytes.js'
import { txSigningMessage } from '../../../protocol/chain/tx-codec.js'
import { generateKeyPair, verify } from '../../../protocol/chain/keys.js'
import { PoolError } from '../../../node/mempool/pool.js'
import { testNetwork, transfer } from '../../../bench/lib/fixtures.js'
import { fund, nodeDataDir, rpcResult, startTestNode } from '../../helpers/node-fixtures.js'

const net = testNetwork({ bits: 8 })
const PW = 'correct horse'

// ---------------------------------------------------------------- a send racing an unlock

t.test('sendFromUnlocked racing unlock(B): the send is from A and its signature verifies', async (t) => {
  const { node } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const a = (await node.wallet.create('a', PW)).address
  const b = (await node.wallet.create('b', PW)).address
  await fund(node, a, 1)
  await fund(node, b, 1)
  await node.wallet.unlock('a', PW)
  const to = generateKeyPair().address

  // Hold the chain lock (as a block being connected would) so the send waits
  // for it while the unlock of B completes.
  let release!: () => void
  const held = node.chain.exclusive(() => new Promise<void>((r) => (release = r)))
  const sending = node.sendFromUnlocked(to, 5)
  const unlocking = node.wallet.unlock('b', PW)
  await unlocking
  release()
  await held
  const sent = await sending.then(
    (e) => e,
    (err: Error) => err,
  )
  if (sent instanceof Error) {
    t.fail(`the send failed: ${sent.message}`)
    return
  }
  t.equal(sent.from, a, 'the transaction is from A, the account unlocked when send was called')
  t.equal(toHex(sent.tx.from), a, 'tx.from is A')
  t.equal(sent.tx.amount, 5, 'amount as asked')
  t.ok(verify(sent.tx.from, txSigningMessage(net.networkId, sent.tx), sent.tx.signature), 'its signature verifies against A')
  t.equal(node.wallet.unlocked?.address, b, 'B is unlocked now')
  t.notOk(
    node.wallet.unlocked?.privateKey.every((x) => x === 0),
    "B's key was not zeroed by the send",
  )

  const next = await node.sendFromUnlocked(to, 3)
  t.equal(next.from, b, 'the next send is from B')
  t.ok(verify(next.tx.from, txSigningMessage(net.networkId, next.tx), next.tx.signature), 'and verifies against B')
})

t.test('many sends queued behind the lock while the account changes: each signs with the key current at its call', async (t) => {
  const { node } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const a = (await node.wallet.create('a', PW)).address
  const b = (await node.wallet.create('b', PW)).address
  await fund(node, a, 1)
  await fund(node, b, 1)
  const to = generateKeyPair().address
  await node.wallet.unlock('a', PW)
  let release!: () => void
  const held = node.chain.exclusive(() => new Promise<void>((r) => (release = r)))
  const sends = [node.sendFromUnlocked(to, 1), node.sendFromUnlocked(to, 1)]
  await node.wallet.unlock('b', PW)
  sends.push(node.sendFromUnlocked(to, 1))
  await node.wallet.unlock('a', PW) // A again: a fresh key buffer, the old one zeroed
  sends.push(node.sendFromUnlocked(to, 1))
  release()
  await held
  const results = await Promise.allSettled(sends)
  const entries = results.map((r) => (r.status === 'fulfilled' ? r.value : null))
  t.same(
    entries.map((e) => e?.from ?? 'failed'),
    [a, a, b, a],
    'senders follow the account unlocked at each call',
  )
  t.same(
    entries.map((e) => e?.tx.nonce ?? -1),
    [0, 1, 0, 2],
    'consecutive nonces per sender',
  )
  t.ok(
    entries.every((e) => e !== null && verify(e.tx.from, txSigningMessage(net.networkId, e.tx), e.tx.signature)),
    'every signature verifies',
  )
})

// ---------------------------------------------------------------- the nonce window

t.test('200 sends in a row from one account all succeed (nonces far past the 64-wide gap)', async (t) => {
  const { node, url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const a = (await node.wallet.create('a', PW)).address
  await fund(node, a, 11) // 220 coins
  await node.wallet.unlock('a', PW)
  const to = generateKeyPair().address
  const failures: string[] = []
  for (let i = 0; i < 200; i++) {
    try {
      const e = await node.sendFromUnlocked(to, 1)
      if (e.tx.nonce !== i) failures.push(`send ${i}: nonce ${e.tx.nonce}`)
    } catch (err) {
      failures.push(`send ${i}: ${(err as Error).message}`)
      if (failures.length > 3) break
    }
  }
  t.same(failures, [], 'every send is accepted with the next nonce')
  t.equal(node.mempool.fromSender(a).length, 200, '200 pending from A')
  const acct = await rpcResult<{ pending: number; nonce: number }>(url, 'getAccount', [a])
  t.same([acct.nonce, acct.pending], [0, 200], 'getAccount: nonce 0, 200 pending')

  // The gap rule still holds from the next free nonce (200): 200 + 64 is fine, one more is not.
  const key = { address: Buffer.from(a, 'hex'), privateKey: Buffer.from(node.wallet.unlocked!.privateKey) }
  const far = transfer(net, key, to, 1, 200 + 64 + 1, Date.now())
  const refused = await node.admission.submit(far).then(
    () => null,
    (err: unknown) => err,
  )
  t.ok(refused instanceof PoolError && refused.code === 'BAD_NONCE', `a gap wider than 64 is refused (${String(refused)})`)
  const edge = transfer(net, key, to, 1, 200 + 64, Date.now())
  t.equal((await node.admission.submit(edge)).tx.nonce, 264, 'a gap of exactly 64 is accepted')
})
