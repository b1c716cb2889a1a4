// Building a vault: the result checks out, is the same however it was
// hashed or interrupted, and the builder refuses files that are not its
// vault and disks without room.
import t, { type Test } from 'tap'
import { existsSync, openSync, closeSync, writeFileSync, writeSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { buildVault, VaultMismatchError, VaultSpaceError, type BuildVaultOptions } from '../../../../node/validator/pos-build.js'
import { checkVault } from '../../../../node/validator/pos-check.js'
import { entrySource } from '../../../../node/validator/pos-hashing.js'
import { VaultFile } from '../../../../node/validator/pos-vault-file.js'
import { regionOffset, vaultLayout } from '../../../../node/validator/pos-vault.js'
import type { BuildProgress } from '../../../../node/validator/pos-progress.js'
import { IDENTITY, OTHER_IDENTITY, TINY, vaultContent, vaultPath } from './pos-fixtures.js'

/** Options that build in two phases (fill, then sort), as with too little memory for a single-write pass. */
const TWO_PHASE = { memoryBytes: 0 }
/** As if the disk were far slower than hashing, so that several passes beat two phases. */
const SLOW_DISK = { writeBytesPerSecond: 1 }

const options = (path: string, extra: Partial<BuildVaultOptions> = {}): BuildVaultOptions => ({
  path,
  identity: IDENTITY,
  params: TINY,
  threadsHash: 0,
  ...extra,
})

/** The content of a clean two-phase build of TINY, built once. */
let cleanContent: { header: Buffer; data: Buffer } | null = null
async function clean(t: Test): Promise<{ header: Buffer; data: Buffer }> {
  if (cleanContent === null) {
    const path = vaultPath(t)
    await buildVault(options(path, TWO_PHASE))
    cleanContent = vaultContent(path, TINY)
  }
  return cleanContent
}

for (const [how, extra] of [
  ['in two phases', TWO_PHASE],
  ['in passes', { memoryBytes: 5 * 8192, ...SLOW_DISK }],
] as const)
  t.test(`a vault built ${how} is finished, full, sorted and re-hashes to itself`, async (t) => {
    const path = vaultPath(t)
    const seen: BuildProgress[] = []
    await buildVault(options(path, { ...extra, onProgress: (p) => seen.push(p) }))
    const report = await checkVault(path, { sample: Number.MAX_SAFE_INTEGER })
    t.ok(report.ok, report.problems.join('; '))
    t.equal(report.phase, 'done')
    t.equal(report.sample.checked, 16 * 64 * 4, 'every entry re-hashed')
    t.equal(readFileSync(path).length, vaultLayout(TINY).finalBytes, 'the spare region is cut off')
    t.ok(seen.some((p) => p.phase === 'fill'))
    t.ok(seen.some((p) => p.phase === 'sort'))
    const last = seen.at(-1)!
    t.same([last.phase, last.done, last.total], ['done', 16 * 64 * 4 * 32, 16 * 64 * 4 * 32])
    const fills = seen.filter((p) => p.phase === 'fill').map((p) => p.done)
    t.same(
      fills,
      [...fills].sort((a, b) => a - b),
      'fill progress only grows',
    )
  })

t.test('in-thread and worker hashing build the same vault', async (t) => {
  const reference = await clean(t)
  for (const threads of [1, 2]) {
    const path = vaultPath(t)
    await buildVault(options(path, { ...TWO_PHASE, threadsHash: threads, chunkNonces: 100 }))
    const c = vaultContent(path, TINY)
    t.ok(c.header.equals(reference.header) && c.data.equals(reference.data), `${threads} worker(s), odd chunk size`)
  }
})

t.test('a two-phase build that throws from onProgress resumes to the same vault', async (t) => {
  const reference = await clean(t)
  const path = vaultPath(t)
  let calls = 0
  await t.rejects(
    buildVault(
      options(path, {
        ...TWO_PHASE,
        onProgress: () => {
          if (++calls === 2) throw new Error('interrupted')
        },
      }),
    ),
    /interrupted/,
  )
  const half = await VaultFile.open(path, false)
  t.equal(half.progress.phase, 'fill')
  t.ok(half.progress.nextNonce > 0, 'a checkpoint was written')
  await half.close()
  await buildVault(options(path, TWO_PHASE))
  const c = vaultContent(path, TINY)
  t.ok(c.data.equals(reference.data), 'same records')
  t.ok((await checkVault(path, { sample: 1e9 })).ok)
})

t.test('an aborted fill checkpoints, and resumes to the same vault', async (t) => {
  const reference = await clean(t)
  const path = vaultPath(t)
  const ac = new AbortController()
  let calls = 0
  await t.rejects(
    buildVault(
      options(path, {
        ...TWO_PHASE,
        signal: ac.signal,
        chunkNonces: 256,
        onProgress: () => ++calls === 1 && ac.abort(new Error('stop now')),
      }),
    ),
    /stop now/,
  )
  const half = await VaultFile.open(path, false)
  t.equal(half.progress.phase, 'fill')
  const stored = half.progress.counts.reduce((a, c) => a + c, 0)
  t.ok(stored > 0 && stored < 4096, `partly filled (${stored} entries)`)
  await half.close()
  await buildVault(options(path))
  t.ok(vaultContent(path, TINY).data.equals(reference.data), 'same records')
})

t.test('a sort interrupted mid-write resumes to the same vault', async (t) => {
  const reference = await clean(t)
  const path = vaultPath(t)
  const ac = new AbortController()
  let sorted = 0
  await t.rejects(
    buildVault(
      options(path, {
        ...TWO_PHASE,
        signal: ac.signal,
        onProgress: (p) => p.phase === 'sort' && ++sorted === 3 && ac.abort(new Error('stop')),
      }),
    ),
    /stop/,
  )
  const f = await VaultFile.open(path, false)
  t.equal(f.progress.phase, 'sort')
  const next = f.progress.bucketsSorted
  t.ok(next >= 3 && next < 16, `stopped after ${next} buckets`)
  await f.close()
  // A torn write of the next bucket's sorted copy: garbage in its final region. The unsorted copy is still in the next one.
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(1000, 0xee), 0, 1000, regionOffset(vaultLayout(TINY), next) + 500)
  closeSync(fd)
  await buildVault(options(path))
  t.ok(vaultContent(path, TINY).data.equals(reference.data), 'same records')
})

t.test('a finished vault is accepted as it is', async (t) => {
  const path = vaultPath(t)
  await buildVault(options(path))
  const before = readFileSync(path)
  let calls = 0
  await buildVault(options(path, { onProgress: () => calls++ }))
  t.equal(calls, 0, 'nothing rebuilt')
  t.ok(readFileSync(path).equals(before), 'file untouched')
})

t.test('a vault of another identity or other parameters is refused, not overwritten', async (t) => {
  const path = vaultPath(t)
  await buildVault(options(path))
  const before = readFileSync(path)
  await t.rejects(buildVault(options(path, { identity: OTHER_IDENTITY })), VaultMismatchError)
  await t.rejects(
    buildVault(options(path, { identity: OTHER_IDENTITY })),
    /is the vault of fingerprint 00112233.*not of fingerprint 0707.*refusing/,
  )
  await t.rejects(buildVault(options(path, { params: { ...TINY, cupsPerBucket: 5 } })), /16 buckets × 4 cups.*not of.*16 buckets × 5 cups/)
  t.ok(readFileSync(path).equals(before), 'file untouched')
})

t.test('a file that is not a vault is refused, not overwritten', async (t) => {
  const path = vaultPath(t)
  writeFileSync(path, 'precious data\n')
  await t.rejects(buildVault(options(path)), /exists and is not a usable vault \(not a vault.*refusing to overwrite it/)
  t.equal(readFileSync(path, 'utf8'), 'precious data\n')
})

t.test('not enough disk: a clear error naming both sizes, and no file', async (t) => {
  const path = vaultPath(t)
  const needed = vaultLayout(TINY).buildBytes
  let asked = ''
  const err = await buildVault(
    options(path, {
      freeBytes: async (dir) => {
        asked = dir
        return 1000
      },
    }),
  ).catch((e: unknown) => e)
  t.type(err, VaultSpaceError)
  t.match((err as Error).message, new RegExp(`needs ${needed} bytes .* more, the file system has 1000 bytes`))
  t.equal(asked, dirname(path), 'asked about the vault directory')
  t.notOk(existsSync(path))
  // A real statfs: a vault bigger than any disk here.
  const huge = { buckets: 65_536, cupSize: 512, cupsPerBucket: 32_768 }
  await t.rejects(buildVault(options(path, { params: huge })), VaultSpaceError)
  t.notOk(existsSync(path))
})

t.test('a resumed build asks only for the space it still needs', async (t) => {
  const path = vaultPath(t)
  let calls = 0
  const interrupt = (): void => {
    if (++calls === 2) throw new Error('interrupted')
  }
  await t.rejects(buildVault(options(path, { ...TWO_PHASE, onProgress: interrupt })), /interrupted/)
  const message = await buildVault(options(path, { freeBytes: async () => 0 })).catch((e: Error) => e.message)
  const needed = Number(/needs (\d+) bytes/.exec(String(message))?.[1])
  const L = vaultLayout(TINY)
  t.ok(needed > 0 && needed < L.buildBytes, `${needed} of ${L.buildBytes} bytes still needed`)
  await buildVault(options(path, { freeBytes: async () => L.buildBytes }))
  t.ok((await checkVault(path)).ok, 'and with that much free it finishes')
})

/** Builds from in-thread hashing, counting the passes (each pass hashes from nonce 0). */
function countingSource(): { passes: () => number; makeSource: BuildVaultOptions['makeSource'] } {
  let passes = 0
  return {
    passes: () => passes,
    makeSource: (id) => {
      const inner = entrySource(id, 0)
      return {
        depth: inner.depth,
        fill: (start, count) => {
          if (start === 0) passes++
          return inner.fill(start, count)
        },
        close: () => inner.close(),
      }
    },
  }
}

const REGION = vaultLayout(TINY).regionBytes

t.test('single-write passes build the same vault as two phases, whatever the memory and hashing', async (t) => {
  const reference = await clean(t)
  for (const [regions, threads, chunk] of [
    [1, 0, 100],
    [3, 1, 1000],
    [7, 2, 333],
    [16, 0, undefined],
    [1000, 1, undefined],
  ] as const) {
    const path = vaultPath(t)
    await buildVault(options(path, { ...SLOW_DISK, memoryBytes: regions * REGION, threadsHash: threads, chunkNonces: chunk }))
    const c = vaultContent(path, TINY)
    t.ok(c.header.equals(reference.header) && c.data.equals(reference.data), `${regions} region(s) of memory, ${threads} thread(s)`)
    t.equal(readFileSync(path).length, vaultLayout(TINY).finalBytes)
  }
})

t.test('passes hold no more buckets than the memory allows', async (t) => {
  for (const [memory, passes] of [
    [REGION, 16],
    [3 * REGION + REGION / 2, 6],
    [8 * REGION, 2],
    [16 * REGION, 1],
    [256 * 1024 ** 2, 1],
  ] as const) {
    const path = vaultPath(t)
    const counter = countingSource()
    const sorted: number[] = []
    await buildVault(
      options(path, {
        ...SLOW_DISK,
        memoryBytes: memory,
        makeSource: counter.makeSource,
        onProgress: (p) => p.phase === 'sort' && sorted.push(p.done),
      }),
    )
    t.equal(counter.passes(), passes, `${memory} bytes: ${passes} pass(es)`)
    const perPass = Math.floor(memory / REGION)
    const steps = sorted.map((d, i) => d - (sorted[i - 1] ?? 0)).filter((d) => d > 0)
    t.ok(
      steps.every((d) => d <= perPass * REGION),
      'never more than memory / region buckets written between two progress reports',
    )
  }
})

t.test('an interrupted pass build resumes, with other memory, to the same vault', async (t) => {
  const reference = await clean(t)
  const path = vaultPath(t)
  const ac = new AbortController()
  let fills = 0
  await t.rejects(
    buildVault(
      options(path, {
        ...SLOW_DISK,
        memoryBytes: 3 * REGION,
        signal: ac.signal,
        chunkNonces: 256,
        onProgress: (p) => p.phase === 'fill' && p.done > 7 * REGION && ++fills === 1 && ac.abort(new Error('stop')),
      }),
    ),
    /stop/,
  )
  const f = await VaultFile.open(path, false)
  t.equal(f.progress.phase, 'pass')
  t.equal(f.progress.bucketsSorted, 6, 'two passes of three buckets committed')
  t.same([...f.progress.counts], [...Array(6).fill(64 * 4), ...Array(10).fill(0)])
  await f.close()
  t.match((await checkVault(path)).problems.join(), /not finished \(phase pass: 6 of 16 buckets sorted\)/)
  // Garbage where the interrupted pass would have written: it is written again.
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(1000, 0xee), 0, 1000, regionOffset(vaultLayout(TINY), 6) + 500)
  closeSync(fd)
  // Resumed with less memory than the rest needs and even two-phase options: it goes on in passes.
  await buildVault(options(path, { memoryBytes: 0 }))
  t.ok(vaultContent(path, TINY).data.equals(reference.data), 'same records')
  t.ok((await checkVault(path, { sample: 1e9 })).ok)
})

t.test('a pass progress record that disagrees with itself is refused', async (t) => {
  const path = vaultPath(t)
  const ac = new AbortController()
  await t.rejects(
    buildVault(
      options(path, {
        ...SLOW_DISK,
        memoryBytes: 4 * REGION,
        signal: ac.signal,
        onProgress: (p) => p.phase === 'sort' && p.done >= 4 * REGION && ac.abort(new Error('stop')),
      }),
    ),
    /stop/,
  )
  const f = await VaultFile.open(path, true)
  const counts = f.progress.counts.slice()
  counts[10] = 5
  await f.commit({ ...f.progress, counts })
  await f.close()
  await t.rejects(buildVault(options(path)), /4 buckets built in passes, but bucket 10 holds 5/)
})
