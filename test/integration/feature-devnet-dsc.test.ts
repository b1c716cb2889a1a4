// `bkc devnet --network dsc` through the real binary, shortened: three node
// processes on a random 127.R prefix, node0 a pow, node1 a pom and node2 a pos
// validator with small sizes. One block per 6 s slot on every node, the
// validators' blocks in the chain, the status line with their shares, and
// a clean SIGINT stop.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../bench/lib/fixtures.js'
import { BKC_BIN, randomLoopbackOctet, rpcResult, spawnBkc, waitFor } from '../helpers/node-fixtures.js'

if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)

const prefix = `127.${randomLoopbackOctet()}`
const url = (i: number): string => `http://${prefix}.${53 + i}.5:8888/`

t.test('a dsc devnet of three validators keeps one block per slot and agrees', async (t) => {
  const tmp = tempDir('bkc-devnet-dsc-')
  t.teardown(tmp.cleanup)
  const dir = join(tmp.path, 'devnet')
  const proc = spawnBkc([
    'devnet',
    '--network',
    'dsc',
    '--nodes',
    '3',
    '--dir',
    dir,
    '--net-prefix',
    prefix,
    '--pom-memory',
    '8M',
    '--pos-disk',
    '8M',
  ])
  t.teardown(async () => {
    if (!proc.hasExited()) {
      proc.child.kill('SIGKILL')
      await proc.exited
    }
    const pidsFile = join(dir, 'pids.json')
    const pids = existsSync(pidsFile) ? (JSON.parse(readFileSync(pidsFile, 'utf8')) as { nodes: Array<{ pid: number }> }) : undefined
    for (const n of pids?.nodes ?? []) {
      try {
        process.kill(n.pid, 'SIGKILL')
      } catch {}
    }
  })
  await waitFor('the devnet table', () => proc.stdout().includes('scripts: BKC_NET_PREFIX='), { timeoutMs: 60_000, intervalMs: 100 }).catch(
    (err: Error) => {
      throw new Error(`${err.message}\n${proc.stdout()}\n${proc.stderr()}`)
    },
  )
  t.match(proc.stdout(), /node0 .* pow /, 'node0 validates with pow')
  t.match(proc.stdout(), /node1 .* pom /)
  t.match(proc.stdout(), /node2 .* pos /)

  const status = () =>
    Promise.all([0, 1, 2].map((i) => rpcResult<{ height: number; hash: string; slot: number; tipSlot: number }>(url(i), 'getStatus')))
  const start = (await status())[0]!
  await waitFor('five slots', async () => (await status())[0]!.tipSlot >= start.slot + 5, { timeoutMs: 60_000, intervalMs: 500 })
  const agreed = await waitFor(
    'the nodes to agree',
    async () => {
      const s = await status()
      return s.every((x) => x.hash === s[0]!.hash) ? s[0] : undefined
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  )
  // Every slot since the first block has one block: heights and slots advance together.
  const first = await rpcResult<{ proof: { slot: number } }>(url(1), 'getBlock', [1])
  t.equal(agreed.height, agreed.tipSlot - first.proof.slot + 1, 'one block per slot since block 1')
  const v = await rpcResult<{ blocks: number; emptyBlocks: number; validators: Array<{ proofType: string }> }>(
    url(2),
    'getValidators',
    [100],
  )
  t.ok(v.validators.length >= 1, `validators won blocks: ${v.validators.map((x) => x.proofType).join(', ')} (+${v.emptyBlocks} empty)`)
  await waitFor('a status line with shares', () => / of the last \d+ blocks/.test(proc.stdout()), { timeoutMs: 30_000, intervalMs: 200 })

  proc.child.kill('SIGINT')
  const { code } = await proc.exited
  t.equal(code, 0, 'SIGINT stops the devnet cleanly')
})
