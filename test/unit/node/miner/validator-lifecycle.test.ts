// The miner as a slots validator while its prover is not ready: stopMining
// and node shutdown return at once instead of waiting out a table or vault
// build, a failed build is dropped and tried afresh, and closing stops the
// build. The prover here is a stand-in whose readiness the test controls:
// what is under test is the miner's handling of a slow or failing build.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FindOptions, ProofCandidate, Prover } from '../../../../node/validator/prover.js'
import { slotsNetwork } from '../../../../bench/lib/slot-fixtures.js'
import { nodeDataDir, startTestNode, waitFor } from '../../../helpers/node-fixtures.js'
import { unlockedAccount } from '../../../helpers/net-fixtures.js'

/** A prover whose ready() resolves or rejects when the test says. */
class GatedProver implements Prover {
  readonly kind = 'pom' as const
  readonly hashRate = 0
  readonly storedRecords = 0
  closed = false
  private settle!: { resolve: () => void; reject: (e: Error) => void }
  readonly readyCalls: number[] = []
  private readonly gate = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }))

  ready(): Promise<void> {
    this.readyCalls.push(Date.now())
    return this.gate
  }
  find(_c: Buffer, _t: bigint, _o: FindOptions): Promise<ProofCandidate | null> {
    return Promise.resolve(null)
  }
  fail(message: string): void {
    this.settle.reject(new Error(message))
  }
  async close(): Promise<void> {
    this.closed = true
    this.settle.reject(new Error('closed'))
  }
}

t.test('stopMining returns while the prover builds; close stops the build; a failed build is retried with a new prover', async (t) => {
  const provers: GatedProver[] = []
  const n = await startTestNode(t, {
    dataDir: nodeDataDir(t),
    network: slotsNetwork(),
    validator: async () => {
      const prover = new GatedProver()
      provers.push(prover)
      return { fingerprint: randomBytes(16), prover }
    },
  })
  const key = await unlockedAccount(n.node, 'v')
  n.node.mining.start(key)
  await waitFor('the build to begin', () => provers.length === 1)
  const stopped = n.node.mining.stop()
  let done = false
  void stopped.then(() => (done = true))
  await waitFor('stop to return during the build', () => done, { timeoutMs: 2000 })
  t.notOk(provers[0]!.closed, 'the build goes on for the next start')

  n.node.mining.start(key)
  await waitFor('the same build awaited again', () => provers[0]!.readyCalls.length === 1 && n.node.mining.mining)
  t.equal(provers.length, 1, 'no second prover while the first builds')
  provers[0]!.fail('disk full')
  await waitFor('a fresh prover after the failure', () => provers.length === 2, { timeoutMs: 5000 })
  t.ok(provers[0]!.closed, 'the failed one was closed')

  await n.stop()
  t.ok(provers[1]!.closed, 'shutting down closes the build in progress')
})
