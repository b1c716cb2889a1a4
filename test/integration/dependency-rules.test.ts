// The dependency rules (.ci/check-deps.mjs, docs/ARCHITECTURE.md): the real
// tree passes them, and each kind of violation planted in a tree of its own
// fails the check with a line that names the file and the rule.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHECK = join(ROOT, '.ci', 'check-deps.mjs')

function check(root: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CHECK, root], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

/** A tree of `files` (path → source) in a fresh temp dir, removed when the test ends. */
function tree(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bkc-deps-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}

const CLEAN = {
  'protocol/wire/bytes.ts': 'export const x = 1\n',
  'protocol/chain/tx.ts': "import { x } from '../wire/bytes.js'\nimport elliptic from 'elliptic'\nexport const y = x\n",
  'lib/log.ts': "import winston from 'winston'\nimport { readFile } from 'node:fs/promises'\nexport const l = 1\n",
  'node/node.ts': "import { y } from '../protocol/chain/tx.js'\nimport { l } from '../lib/log.js'\nimport type { Q } from './rpc/q.js'\n",
  'node/rpc/q.ts': 'export type Q = number\n',
  'simulator/server.ts': "import { l } from '../lib/log.js'\nimport net from 'node:net'\n",
  'vpn-client/vpn.ts': "import { x } from '../protocol/wire/bytes.js'\n",
  'cli/main.ts': "import '../node/node.js'\nimport '../simulator/server.js'\nimport '../vpn-client/vpn.js'\nawait import('./start.js')\n",
  'cli/start.ts': 'export {}\n',
  'bin/bkc.ts': "await import('../cli/main.js')\n",
  'bench/run.ts': "import '../node/node.js'\nimport '../cli/main.js'\n",
  'test/unit/a.test.ts': "import '../../bench/run.js'\nimport '../helpers/h.js'\n",
  'test/helpers/h.ts': "import '../../node/node.js'\n",
}

t.test('the repository follows its dependency rules', async (t) => {
  const r = check(ROOT)
  t.equal(r.err, '', 'no violation printed')
  t.match(r.out, /dependency rules \(.*\): \d+ files, \d+ imports, 0 violations/)
  t.equal(r.status, 0)
})

t.test('a tree that keeps the rules passes', async (t) => {
  const r = check(tree(t, CLEAN))
  t.equal(r.status, 0, r.err)
  t.match(r.out, /13 files, \d+ imports, 0 violations/)
})

const PLANTED: Array<[string, Record<string, string>, RegExp]> = [
  [
    'protocol/ importing node/',
    { 'protocol/wire/bytes.ts': "import '../../node/node.js'\n" },
    /protocol\/wire\/bytes\.ts: imports node\/node\.ts — protocol\/ may import only protocol\//,
  ],
  [
    'protocol/ importing lib/',
    { 'protocol/chain/tx.ts': "import { l } from '../../lib/log.js'\n" },
    /protocol\/chain\/tx\.ts: imports lib\/log\.ts/,
  ],
  [
    'protocol/ doing file I/O',
    { 'protocol/wire/bytes.ts': "import { readFileSync } from 'node:fs'\n" },
    /protocol\/wire\/bytes\.ts: imports node:fs — protocol\/ is pure/,
  ],
  ['protocol/ opening sockets', { 'protocol/wire/bytes.ts': "import net from 'net'\n" }, /imports net — protocol\/ is pure/],
  [
    'lib/ importing protocol/',
    { 'lib/log.ts': "import { x } from '../protocol/wire/bytes.js'\n" },
    /lib\/log\.ts: imports protocol\/wire\/bytes\.ts — lib\/ may import only lib\//,
  ],
  [
    'simulator/ importing node/',
    { 'simulator/server.ts': "import type { Q } from '../node/rpc/q.js'\n" },
    /simulator\/server\.ts: imports node\/rpc\/q\.ts — simulator\/ may import only protocol\/, lib\/, simulator\//,
  ],
  [
    'vpn-client/ importing simulator/',
    { 'vpn-client/vpn.ts': "export { l } from '../simulator/server.js'\n" },
    /vpn-client\/vpn\.ts: imports simulator\/server\.ts/,
  ],
  [
    'node/ importing vpn-client/ dynamically',
    { 'node/node.ts': "await import('../vpn-client/vpn.js')\n" },
    /node\/node\.ts: imports vpn-client\/vpn\.ts/,
  ],
  ['node/ importing cli/', { 'node/rpc/q.ts': "import '../../cli/start.js'\n" }, /node\/rpc\/q\.ts: imports cli\/start\.ts/],
  [
    'bench/ importing a test helper',
    { 'bench/run.ts': "import '../test/helpers/h.js'\n" },
    /bench\/run\.ts: imports test\/helpers\/h\.ts — bench\/ may import only/,
  ],
  [
    'an import outside the repository',
    { 'cli/start.ts': "import '../../elsewhere/x.js'\n" },
    /cli\/start\.ts: imports \.\.\/\.\.\/elsewhere\/x\.js, outside the repository/,
  ],
  [
    'a cycle through type-only imports',
    {
      'node/rpc/q.ts': "import type { N } from '../node.js'\nexport type Q = N\n",
      'node/node.ts': "import type { Q } from './rpc/q.js'\nexport type N = Q\n",
    },
    /import cycle: node\/node\.ts → node\/rpc\/q\.ts → node\/node\.ts/,
  ],
  ['a file importing itself', { 'cli/start.ts': "import './start.js'\n" }, /import cycle: cli\/start\.ts → cli\/start\.ts/],
]

for (const [name, change, expected] of PLANTED) {
  t.test(`planted: ${name} fails the check`, async (t) => {
    const r = check(tree(t, { ...CLEAN, ...change }))
    t.equal(r.status, 1)
    t.match(r.err, expected)
    t.match(r.out, /[1-9]\d* violations?$/m)
  })
}

t.test('planted in a copy of the real tree: one stray import is found and named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bkc-deps-copy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const folder of ['protocol', 'lib', 'node', 'simulator', 'vpn-client', 'cli', 'bin', 'bench', 'test']) {
    cpSync(join(ROOT, folder), join(dir, folder), { recursive: true })
  }
  const target = join(dir, 'vpn-client', 'vpn.ts')
  writeFileSync(target, `import '../simulator/server.js'\n${readFileSync(target, 'utf8')}`)
  const r = check(dir)
  t.equal(r.status, 1)
  t.equal(r.err.trim(), 'vpn-client/vpn.ts: imports simulator/server.ts — vpn-client/ may import only protocol/, lib/, vpn-client/')
})

t.test('usage errors exit 2', async (t) => {
  const r = spawnSync(process.execPath, [CHECK, '--help'], { encoding: 'utf8' })
  t.equal(r.status, 2)
  t.match(r.stderr, /usage: node \.ci\/check-deps\.mjs \[ROOT\]/)
})
