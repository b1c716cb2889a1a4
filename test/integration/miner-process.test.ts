// The nonce search's worker threads and the life of the process: a pending
// search keeps it alive, an idle searcher does not hold it open.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PowResult } from '../../node/consensus/work-search.js'

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, hang]).finally(() => clearTimeout(timer))
}

t.test('a pending search keeps the process alive; an idle searcher does not', async (t) => {
  // A child without close(): it must print the result (the busy worker is
  // ref'd) and then exit by itself (idle workers are unref'd).
  const searchUrl = new URL('../../node/consensus/work-search.ts', import.meta.url).href
  const script = `
    const { PowSearcher } = await import(${JSON.stringify(searchUrl)})
    const s = new PowSearcher({ threads: 2 })
    s.search({ prefix: Buffer.alloc(20), target: Buffer.alloc(32), startNonce: 0, maxNonces: 50000 })
      .then((r) => console.log(JSON.stringify(r)))
  `
  // A script file, not -e: workers inherit execArgv, and an inherited -e breaks them.
  const dir = await mkdtemp(join(tmpdir(), 'bkc-pow-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'child.mjs')
  await writeFile(file, script)
  const loaders = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const child = spawn(process.execPath, [...loaders, file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let errOut = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (errOut += d.toString()))
  const code = await within(new Promise<number | null>((resolve) => child.on('close', resolve)), 60_000, 'child process').catch(
    (e: unknown) => {
      child.kill()
      throw e
    },
  )
  t.equal(code, 0, errOut)
  const r = JSON.parse(out) as PowResult
  t.same(r, { found: false, reason: 'exhausted', hashes: 50_000, threadHashes: [25_000, 25_000] })
})
