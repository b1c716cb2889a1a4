// The mining loop over a real chainstate (LevelDB) and pool, with real worker
// threads: a stop() immediately followed by start() must not leave two loops
// racing or the stop() pending, and a closed miner refuses to start again.
import t, { type Test } from 'tap'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { SubmitResult } from '../../../../node/chain/chainstate.js'
import { silentLogger } from '../../../../lib/log.js'
import { DEFAULT_POOL_OPTIONS, Mempool } from '../../../../node/mempool/pool.js'
import { Miner, MinerClosedError } from '../../../../node/miner/miner.js'
import { tempDir, testNetwork } from '../../../../bench/lib/fixtures.js'
import { openChain, sleep, waitFor, type OpenedChain } from '../../../helpers/node-fixtures.js'

// 8 leading zero bits: ~256 hashes a block, so the worker finds blocks at once.
const net = testNetwork({ bits: 8 })
const BOUND_MS = 5000

/** Resolves true when `p` settles within `ms`, false otherwise (the test goes on either way). */
function settlesWithin(p: Promise<unknown>, ms = BOUND_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer))
}

interface Rig {
  chain: OpenedChain
  miner: Miner
  /** Heights of the blocks the miner submitted, in submission order, with the chain's verdict. */
  submitted: Array<{ height: number; status: SubmitResult['status'] }>
  /** Most submit() calls that were ever in progress at the same time. */
  maxConcurrentSubmits: () => number
}

/** A miner wired as node/node.ts wires it: chainstate on a temp LevelDB, a pool, submit = chain.submitBlock. */
async function rig(t: Test): Promise<Rig> {
  const dir = tempDir('bkc-miner-')
  const chain = await openChain(net, dir.path)
  const pool = new Mempool({ ...DEFAULT_POOL_OPTIONS, networkId: net.networkId, maxFutureMs: net.consensus.maxFutureBlockTimeMs })
  const submitted: Rig['submitted'] = []
  let inFlight = 0
  let maxInFlight = 0
  const miner = new Miner(chain.chain, pool, silentLogger(), {
    threads: 1,
    jobMs: 250,
    submit: async (block) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        const r = await chain.chain.submitBlock(block)
        submitted.push({ height: block.header.height, status: r.status })
        return r
      } finally {
        inFlight--
      }
    },
  })
  t.teardown(async () => {
    // Bounded, so a miner that never stops fails the test instead of hanging it.
    await settlesWithin(miner.close())
    await chain.close()
    dir.cleanup()
  })
  return { chain, miner, submitted, maxConcurrentSubmits: () => maxInFlight }
}

t.test('stop() then start() at once: the stop resolves and exactly one loop mines on', async (t) => {
  const { chain, miner, submitted, maxConcurrentSubmits } = await rig(t)
  const addr = generateKeyPair().address
  miner.start(addr)
  await waitFor('the first mined blocks', () => chain.chain.tip.height >= 2, { timeoutMs: 20_000 })

  const s = miner.stop()
  miner.start(addr)
  t.ok(await settlesWithin(s), 'the stop() issued before the restart resolves')
  t.ok(miner.mining, 'the miner is mining after the restart')

  const before = chain.chain.tip.height
  await waitFor('blocks after the restart', () => chain.chain.tip.height >= before + 3, { timeoutMs: 20_000 })

  t.ok(await settlesWithin(miner.stop()), 'a later stop() resolves')
  t.notOk(miner.mining, 'not mining after stop()')
  const stoppedAt = chain.chain.tip.height
  await sleep(1000)
  t.equal(chain.chain.tip.height, stoppedAt, 'the height does not grow once stop() has resolved')

  // One loop: one template at a time, so every block it finds extends the tip
  // it was built on, and submissions never overlap.
  t.equal(maxConcurrentSubmits(), 1, 'never two submissions at once')
  t.ok(
    submitted.every((s) => s.status === 'connected'),
    'every mined block was connected (no competing loop)',
  )
  t.same(
    submitted.map((s) => s.height),
    Array.from({ length: submitted.length }, (_, i) => i + 1),
    'submitted heights are 1, 2, 3, ... with no repeats',
  )
  t.equal(chain.chain.tip.height, submitted.length, 'the tip is the last mined block')
})

t.test('stop() and start() flapping many times leaves one working loop', async (t) => {
  const { chain, miner, submitted } = await rig(t)
  const addr = generateKeyPair().address
  const stops: Array<Promise<void>> = []
  miner.start(addr)
  for (let i = 0; i < 10; i++) {
    stops.push(miner.stop())
    miner.start(addr)
    await sleep(5)
  }
  t.ok(await settlesWithin(Promise.all(stops)), 'every stop() resolves')
  const before = chain.chain.tip.height
  await waitFor('blocks after the flapping', () => chain.chain.tip.height >= before + 2, { timeoutMs: 20_000 })
  t.ok(await settlesWithin(miner.stop()), 'the final stop() resolves')
  const stoppedAt = chain.chain.tip.height
  await sleep(1000)
  t.equal(chain.chain.tip.height, stoppedAt, 'nothing is mined after the final stop()')
  t.ok(
    submitted.every((s) => s.status === 'connected'),
    'every mined block was connected',
  )
})

t.test('after close(), start() throws MinerClosedError and nothing is mined', async (t) => {
  const { chain, miner } = await rig(t)
  const addr = generateKeyPair().address
  miner.start(addr)
  await waitFor('a mined block', () => chain.chain.tip.height >= 1, { timeoutMs: 20_000 })
  t.ok(await settlesWithin(miner.close()), 'close() of a running miner resolves')
  t.notOk(miner.mining, 'not mining after close()')
  t.throws(() => miner.start(addr), MinerClosedError, 'start() after close() is refused')
  t.throws(() => miner.start(generateKeyPair().address), MinerClosedError, 'also with another address')
  t.notOk(miner.mining, 'a refused start() does not mark the miner as mining')
  const height = chain.chain.tip.height
  await sleep(500)
  t.equal(chain.chain.tip.height, height, 'no block is mined after close()')
  t.ok(await settlesWithin(miner.close()), 'close() twice is harmless')
})

t.test('close() before any start() refuses a later start()', async (t) => {
  const { miner } = await rig(t)
  await miner.close()
  const err = t.throws(() => miner.start(generateKeyPair().address))
  t.ok(err instanceof MinerClosedError, 'MinerClosedError')
  t.match((err as Error).message, /shutting down/)
})
