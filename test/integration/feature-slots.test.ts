// A slots network of real nodes over loopback with 1 s slots: a proof-of-work
// and a proof-of-memory validator both win blocks, every node follows the
// same chain, and with every validator stopped the nodes still add one empty
// block per slot and agree; validators resume on restart.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { slotsNetworkJson } from '../../bench/lib/slot-fixtures.js'
import { PowProver } from '../../node/validator/pow-prover.js'
import { PomProver } from '../../node/validator/pom-prover.js'
import { PosProver } from '../../node/validator/pos-prover.js'
import { join } from 'node:path'
import type { Prover } from '../../node/validator/prover.js'
import type { BkcNode } from '../../node/node.js'
import { startNet, unlockedAccount, waitConverged, waitPeers } from '../helpers/net-fixtures.js'
import { rpcResult, sleep, waitFor } from '../helpers/node-fixtures.js'

const SLOT_MS = 1000
const json = slotsNetworkJson({
  networkId: `bkc-slots-it-${process.pid}`,
  // 2^178: a 1 MiB table (32,768 records) wins about one slot in eight on its own.
  target: `0000000000000000${'00'.repeat(5)}04${'00'.repeat(18)}`,
  targetLimit: `0000000000000000${'40'}${'00'.repeat(23)}`,
})
;(json.consensus as { slots: Record<string, unknown> }).slots = {
  slotMs: SLOT_MS,
  graceMs: 300,
  maxDriftMs: 200,
  targetLimit: `0000000000000000${'40'}${'00'.repeat(23)}`,
}

function validator(make: (fp: Buffer, key: Buffer) => Prover) {
  return async (publicKey: Buffer) => {
    const fingerprint = randomBytes(16)
    return { fingerprint, prover: make(fingerprint, publicKey) }
  }
}

/** The proof types of the best chain's last `n` blocks, newest first. */
async function recentTypes(node: BkcNode, n: number): Promise<string[]> {
  const out: string[] = []
  for (let h = node.chain.tip.height; h > 0 && out.length < n; h--) out.push((await node.chain.getBlockByHeight(h))!.block.header.proofType)
  return out
}

t.test(
  'pow, pom and pos validators share a slots chain; stopped, the nodes keep one empty block per slot; restarted, proofs resume',
  async (t) => {
    const net = await startNet(t, 1, { networkJson: json })
    const pow = await net.start(1, {
      validator: validator((fingerprint, publicKey) => new PowProver({ fingerprint, publicKey, threads: 1 })),
    })
    const pom = await net.start(2, {
      validator: validator(
        (fingerprint, publicKey) => new PomProver({ fingerprint, publicKey, memoryBytes: 16 * 1024 * 1024, threads: 1 }),
      ),
    })
    const pos = await net.start(3, {
      validator: validator(
        (fingerprint, publicKey) =>
          new PosProver({
            vaultPath: join(net.dataDir(3), 'pos.vault'),
            fingerprint,
            publicKey,
            buckets: 16,
            cupSize: 4096,
            cupsPerBucket: 8,
          }),
      ),
    })
    const nodes = [net.at(0).node, pow.node, pom.node, pos.node]
    await waitPeers(nodes, 1)
    const powKey = await unlockedAccount(pow.node, 'v')
    const pomKey = await unlockedAccount(pom.node, 'v')
    const posKey = await unlockedAccount(pos.node, 'v')
    t.throws(() => net.at(0).node.mining.start(powKey), /unlock/, 'a validator must hold its key')
    pow.node.mining.start(powKey)
    pom.node.mining.start(pomKey)
    pos.node.mining.start(posKey)

    const won = await waitFor(
      'the three validators to win blocks',
      async () => {
        const types = await recentTypes(nodes[0]!, 150)
        return types.includes('pow') && types.includes('pom') && types.includes('pos') ? types : undefined
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    )
    t.ok(won.includes('pow') && won.includes('pom') && won.includes('pos'), `recent blocks: ${won.join(' ')}`)
    const status = await rpcResult<Record<string, unknown>>(pom.url, 'getStatus')
    t.equal(status.engine, 'slots')
    t.equal(status.proofType, 'pom')
    const validators = await rpcResult<{ validators: Array<{ proofType: string; key: string }>; local: { storedRecords: number } }>(
      pom.url,
      'getValidators',
      [60],
    )
    t.ok(
      validators.validators.some((v) => v.proofType === 'pom' && v.key === pomKey.toString('hex')),
      'getValidators lists the pom validator',
    )
    t.equal(validators.local.storedRecords, (16 * 1024 * 1024) / 32)

    await Promise.all([pow.node.mining.stop(), pom.node.mining.stop(), pos.node.mining.stop()])
    await waitConverged(nodes, 10_000)
    const from = nodes[0]!.chain.tip.height
    await sleep(SLOT_MS * 5)
    const tip = await waitConverged(nodes, 5_000)
    const added = tip.height - from
    t.ok(added >= 3 && added <= 6, `${added} blocks in five slots with no validator`)
    const types = await recentTypes(nodes[0]!, added)
    t.ok(
      types.slice(0, Math.max(0, added - 1)).every((x) => x === 'empty'),
      `empty blocks: ${types.join(' ')}`,
    )

    pow.node.mining.start(powKey)
    pom.node.mining.start(pomKey)
    pos.node.mining.start(posKey)
    await waitFor('proof blocks to resume', async () => (await recentTypes(nodes[0]!, 1))[0] !== 'empty' || undefined, {
      timeoutMs: 30_000,
      intervalMs: 200,
    })
    await Promise.all([pow.node.mining.stop(), pom.node.mining.stop(), pos.node.mining.stop()])
    await waitConverged(nodes, 10_000)
  },
)
