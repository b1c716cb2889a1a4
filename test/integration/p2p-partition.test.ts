// Partition then heal: four nodes split into {A,B} and {C,D} by removePeer
// on both sides of the cut; both halves mine (to different accounts, with a
// transfer on the side that will lose); after addPeer heals the cut every
// node is on the heavier chain, every balance equals a fresh replay of that
// chain, and the losing side's transfer is back in its pool, then mined.
import t, { type Test } from 'tap'
import { toHex } from '../../protocol/wire/bytes.js'
import type { Block } from '../../protocol/chain/block-codec.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import type { BkcNode } from '../../node/node.js'
import { tempDir } from '../../bench/lib/fixtures.js'
import { addressesOf, openChain, rpcResult, sleep, submitAll, waitFor } from '../helpers/node-fixtures.js'
import {
  blockFromView,
  mineBlocks,
  startNet,
  unlockedAccount,
  waitConverged,
  waitPeers,
  type BlockView,
  type NetNode,
  type TestNet,
} from '../helpers/net-fixtures.js'

interface TxJson {
  status: 'pending' | 'confirmed'
  blockHash?: string
}

/** Connections (any state, either direction) between a node of `xs` and one of `ys`. */
function crossLinks(xs: readonly NetNode[], ys: readonly NetNode[]): string[] {
  const out: string[] = []
  for (const x of xs) {
    for (const p of x.node.connman!.all()) {
      const other = ys.find((y) => p.address.host === y.host || p.hello?.listenHost === y.host)
      if (other) out.push(`${x.index}-${other.index} (${p.direction}, ${p.state})`)
    }
  }
  return out
}

function linked(x: NetNode, y: NetNode): boolean {
  return x.node.connman!.ready().some((p) => p.hello?.listenHost === y.host)
}

/**
 * Splits the network: every node forgets every node across the cut and
 * drops its links to it. Repeated until no cross link has come back for two
 * dial rounds, so no gossip in flight can sneak one back in.
 */
async function cut(t: Test, xs: readonly NetNode[], ys: readonly NetNode[]): Promise<void> {
  for (let round = 0; round < 10; round++) {
    for (const [a, b] of [
      [xs, ys],
      [ys, xs],
    ] as const)
      for (const x of a) for (const y of b) x.node.connman!.removePeer(y.p2p)
    await sleep(2500)
    const left = [...crossLinks(xs, ys), ...crossLinks(ys, xs)]
    if (left.length === 0) return void t.pass(`no link crosses the cut (after ${round + 1} round(s))`)
    t.comment(`links across the cut came back: ${left.join(', ')}; cutting again`)
  }
  throw new Error('the cut never held')
}

/** The best chain of `url` from height 1, rebuilt from RPC getBlock views. */
async function chainOf(url: string, height: number): Promise<Block[]> {
  const blocks: Block[] = []
  for (let h = 1; h <= height; h++) blocks.push(blockFromView(await rpcResult<BlockView>(url, 'getBlock', [h])))
  return blocks
}

/**
 * Submits the winning chain to a fresh chainstate on a temp dir and checks
 * that every node reports, over RPC, the balance and nonce the replay has
 * for every address the chain touches (plus `extra`).
 */
async function checkAgainstReplay(t: Test, tn: TestNet, nodes: readonly NetNode[], extra: readonly string[]): Promise<void> {
  const tip = nodes[0]!.node.chain.tip
  const blocks = await chainOf(nodes[0]!.url, tip.height)
  const dir = tempDir('bkc-replay-')
  const replay = await openChain(tn.network, dir.path)
  try {
    const results = await submitAll(replay.chain, blocks)
    t.ok(
      results.every((r) => r.status === 'connected'),
      `the fresh chainstate connects all ${blocks.length} blocks`,
    )
    t.equal(replay.chain.tip.hash, tip.hash, 'and ends on the same tip')
    const addresses = [...new Set([...addressesOf(tn.network, blocks), ...extra])]
    let mismatches = 0
    for (const a of addresses) {
      const expected = await replay.chain.getAccount(a)
      for (const n of nodes) {
        const got = await rpcResult<{ balance: number; nonce: number }>(n.url, 'getAccount', [a])
        if (got.balance !== expected.balance || got.nonce !== expected.nonce) {
          mismatches++
          t.fail(`node ${n.index}, ${a.slice(0, 10)}: ${got.balance}/${got.nonce}, replay ${expected.balance}/${expected.nonce}`)
        }
      }
    }
    t.equal(mismatches, 0, `${addresses.length} addresses x ${nodes.length} nodes match the replay`)
  } finally {
    await replay.close()
    dir.cleanup()
  }
}

t.test('two halves mine apart, then converge on the heavier chain; balances equal a fresh replay', async (t) => {
  const tn = await startNet(t, 4, { maxOutbound: 2 })
  const all = tn.running()
  const [A, B, C, D] = all as [NetNode, NetNode, NetNode, NetNode]
  const nodes: BkcNode[] = all.map((n) => n.node)
  await waitPeers(nodes, 1)

  // The loser's miner account gets coins on the shared chain first.
  const loser = await unlockedAccount(C.node, 'loser')
  await mineBlocks(C.node, 3, loser)
  const shared = await waitConverged(nodes)
  for (const n of all)
    t.equal(
      await rpcResult<number>(n.url, 'getBalance', [toHex(loser)]),
      20 * shared.height,
      `node ${n.index}: the loser account has a reward per block`,
    )

  A.node.connman!.addPeer(B.p2p)
  C.node.connman!.addPeer(D.p2p)
  await waitFor('A-B and C-D links', () => linked(A, B) && linked(C, D))
  await cut(t, [A, B], [C, D])
  t.ok(linked(A, B) && linked(C, D), 'each half is still connected inside')

  // The losing half: a transfer, confirmed there.
  const payee = toHex(generateKeyPair().address)
  const txHash = await rpcResult<string>(C.url, 'sendTransaction', [payee, 7])
  await waitFor('the tx to reach D', () => D.node.mempool.has(txHash))
  await mineBlocks(C.node, 2, loser)
  await waitFor('the tx confirmed on C', async () => (await rpcResult<TxJson>(C.url, 'getTransaction', [txHash])).status === 'confirmed')
  const losing = await waitConverged([C.node, D.node])

  // The winning half mines more, to another account.
  const winner = generateKeyPair().address
  await mineBlocks(A.node, losing.height + 3 - A.node.chain.tip.height, winner, { by: 'height' })
  const winning = await waitConverged([A.node, B.node])
  t.ok(winning.height >= losing.height + 3, `the winning half (${winning.height}) is heavier than the losing one (${losing.height})`)
  t.not(winning.hash, losing.hash, 'the halves are on different tips')
  t.equal(C.node.chain.tip.hash, losing.hash, 'the losing half did not see the winning blocks')
  t.equal(await rpcResult(A.url, 'getTransaction', [txHash]), null, 'the winning half never saw the transfer')
  t.same([...crossLinks([A, B], [C, D]), ...crossLinks([C, D], [A, B])], [], 'the cut held while both halves mined')
  t.ok(losing.height > shared.height && winning.height > shared.height, 'both halves mined past the shared tip')

  // Heal through RPC addPeer.
  t.equal(await rpcResult(A.url, 'addPeer', [`${C.p2p.host}:${C.p2p.port}`]), true, 'addPeer A -> C')
  t.equal(await rpcResult(D.url, 'addPeer', [`${B.p2p.host}:${B.p2p.port}`]), true, 'addPeer D -> B')
  const healed = await waitConverged(nodes)
  t.equal(healed.hash, winning.hash, 'every node is on the heavier chain')
  await checkAgainstReplay(t, tn, all, [toHex(loser), toHex(winner), payee])

  for (const n of [C, D]) {
    t.equal(
      (await rpcResult<TxJson>(n.url, 'getTransaction', [txHash])).status,
      'pending',
      `node ${n.index}: the abandoned transfer is pending again`,
    )
  }
  t.equal(await rpcResult<number>(C.url, 'getBalance', [payee]), 0, 'the payee has nothing on the winning chain yet')

  // The returned transfer is mined again on the common chain.
  await mineBlocks(C.node, 1, loser)
  await waitFor(
    'the transfer to be confirmed on A',
    async () => (await rpcResult<TxJson>(A.url, 'getTransaction', [txHash]))?.status === 'confirmed',
  )
  await waitConverged(nodes)
  for (const n of all) t.equal(await rpcResult<number>(n.url, 'getBalance', [payee]), 7, `node ${n.index}: the payee has 7`)
  await checkAgainstReplay(t, tn, all, [toHex(loser), toHex(winner), payee])
})
