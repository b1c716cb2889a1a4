// The committed lock is the one npm writes: `npm install` on a fresh clone
// must leave package-lock.json as it is, or the documented set-up leaves the
// tree dirty. Checked by letting npm resolve the lock again in a copy.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const haveNpm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0

t.test('npm install leaves the committed package-lock.json unchanged', { skip: !haveNpm && 'npm is not on PATH' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bkc-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f))
  // The lock alone: no node_modules, no install scripts; the cache that npm ci filled answers.
  const r = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  })
  t.equal(r.status, 0, `npm install: ${r.stderr}`)
  const committed = readFileSync(join(ROOT, 'package-lock.json'), 'utf8')
  const rewritten = readFileSync(join(dir, 'package-lock.json'), 'utf8')
  t.ok(rewritten === committed, 'the lock npm writes is the committed one: commit what npm produces')
})
