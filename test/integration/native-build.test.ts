// The install script's addon build (native/build.mjs): it must never leave
// VPN mode without a working addon. Run against copies of the sources in temp
// dirs, and once against the repository through `npx bkc` with a fresh HOME,
// which re-runs the install script and must leave build/ as it is.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../../bench/lib/fixtures.js'
import { findTunAddon } from '../../vpn-client/native-tun.js'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const ADDON = join('build', 'Release', 'bkc_tun.node')
const REPO_ADDON = join(REPO, ADDON)

if (!existsSync(REPO_ADDON)) {
  t.comment(`skipping: ${REPO_ADDON} is not built (npm install could not compile it here)`)
  process.exit(0)
}

const HAVE_NPM = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0

/** Headers of this Node on disk, so a real build never downloads them. */
const NODE_PREFIX = dirname(dirname(process.execPath))
const HAVE_HEADERS = ['node_api.h', 'common.gypi'].every((file) => existsSync(join(NODE_PREFIX, 'include', 'node', file)))

interface Copy {
  root: string
  addon: string
  /** A node-gyp stand-in: records that it ran, then fails. */
  failingGyp: string
  gypRan(): boolean
}

/** binding.gyp, native/ and a built addon in a temp dir; the sources older than the addon. */
function copyOfSources(t: Test): Copy {
  const tmp = tempDir('bkc-native-')
  t.teardown(tmp.cleanup)
  const root = tmp.path
  mkdirSync(join(root, 'native'))
  mkdirSync(join(root, 'build', 'Release'), { recursive: true })
  for (const file of ['binding.gyp', join('native', 'tun.c'), join('native', 'build.mjs')]) copyFileSync(join(REPO, file), join(root, file))
  const addon = join(root, ADDON)
  copyFileSync(REPO_ADDON, addon)
  const past = new Date(Date.now() - 3600_000)
  for (const file of ['binding.gyp', join('native', 'tun.c')]) utimesSync(join(root, file), past, past)
  const marker = join(root, 'gyp-ran')
  const failingGyp = join(root, 'failing-gyp.mjs')
  writeFileSync(failingGyp, `import { appendFileSync } from 'node:fs'\nappendFileSync(${JSON.stringify(marker)}, 'x')\nprocess.exit(1)\n`)
  return { root, addon, failingGyp, gypRan: () => existsSync(marker) }
}

/**
 * This environment without what npm and npx add for scripts (npm_* variables,
 * node_modules/.bin and npm's node-gyp-bin on PATH), as when a user runs the
 * script by hand.
 */
function byHandEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !/^npm_/i.test(key)) env[key] = value
  const path = (env.PATH ?? '').split(delimiter)
  env.PATH = path.filter((dir) => !/node_modules[/\\]\.bin$|node-gyp-bin$/.test(dir)).join(delimiter)
  return env
}

function runBuild(
  root: string,
  env: Record<string, string>,
  opts: { args?: string[]; node?: string } = {},
): { status: number | null; stderr: string } {
  const result = spawnSync(opts.node ?? process.execPath, [join(root, 'native', 'build.mjs'), ...(opts.args ?? [])], {
    cwd: root,
    encoding: 'utf8',
    env: { ...byHandEnv(), ...env },
    timeout: 300_000,
  })
  return { status: result.status, stderr: result.stderr }
}

/** A node-gyp stand-in that records its arguments, and "builds" the repository's addon where node-gyp would put it. */
function recordingGyp(t: Test, opts: { output?: 'addon' | 'directory' } = {}): { script: string; args(): string[] | null } {
  const tmp = tempDir('bkc-gyp-')
  t.teardown(tmp.cleanup)
  const record = join(tmp.path, 'args.json')
  const script = join(tmp.path, 'gyp.mjs')
  const out = JSON.stringify(join('build', 'Release', 'bkc_tun.node'))
  const build =
    opts.output === 'directory'
      ? `mkdirSync(${out}, { recursive: true })`
      : `mkdirSync('build/Release', { recursive: true }); copyFileSync(${JSON.stringify(REPO_ADDON)}, ${out})`
  writeFileSync(
    script,
    `import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'\n` +
      `writeFileSync(${JSON.stringify(record)}, JSON.stringify(process.argv.slice(2)))\n${build}\n`,
  )
  return { script, args: () => (existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as string[]) : null) }
}

/** Makes the copy's addon stale: its C source is newer. */
function touchSource(copy: Copy): void {
  const future = new Date(Date.now() + 1000)
  utimesSync(join(copy.root, 'native', 'tun.c'), future, future)
}

const stagedLeftovers = (root: string): string[] => readdirSync(join(root, 'build', 'Release')).filter((f) => f.endsWith('.tmp'))

const identity = (path: string): string => {
  const st = statSync(path)
  return `${st.ino}:${st.mtimeMs}`
}

t.test('a current addon is kept as it is, without running node-gyp', async (t) => {
  const copy = copyOfSources(t)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, { npm_config_node_gyp: copy.failingGyp })
  t.equal(run.status, 0)
  t.notOk(copy.gypRan(), 'node-gyp not run')
  t.equal(identity(copy.addon), before, 'same file, untouched')
  t.equal(run.stderr, '', 'nothing to say')
})

t.test('a stale addon whose rebuild fails is kept, with a warning, and the install still succeeds', async (t) => {
  const copy = copyOfSources(t)
  const future = new Date(Date.now() + 3600_000)
  utimesSync(join(copy.root, 'native', 'tun.c'), future, future)
  const bytes = readFileSync(copy.addon)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, { npm_config_node_gyp: copy.failingGyp })
  t.equal(run.status, 0, 'a failed build does not fail npm install')
  t.ok(copy.gypRan(), 'the stale addon was rebuilt')
  t.equal(identity(copy.addon), before, 'the old addon is still there')
  t.same(readFileSync(copy.addon), bytes)
  t.match(run.stderr, /native\/tun\.c is newer than the addon/)
  t.match(run.stderr, /kept the existing build\/Release\/bkc_tun\.node/)
})

t.test('without any addon, a failed build prints the VPN-mode warning and exits 0', async (t) => {
  const copy = copyOfSources(t)
  rmSync(join(copy.root, 'build'), { recursive: true })
  const run = runBuild(copy.root, { npm_config_node_gyp: copy.failingGyp })
  t.equal(run.status, 0)
  t.ok(copy.gypRan())
  t.match(run.stderr, /the TUN addon \(native\/tun\.c\) did not build: bkc vpn and bkc start --im-addr need it/)
})

t.test('--force and BKC_REBUILD_TUN=1 rebuild an addon that looks current', async (t) => {
  for (const [label, env, args] of [
    ['--force', {}, ['--force']],
    ['BKC_REBUILD_TUN=1', { BKC_REBUILD_TUN: '1' }, []],
  ] as const) {
    const copy = copyOfSources(t)
    const before = identity(copy.addon)
    const run = runBuild(copy.root, { ...env, npm_config_node_gyp: copy.failingGyp }, { args: [...args] })
    t.equal(run.status, 0, label)
    t.ok(copy.gypRan(), `${label}: node-gyp ran`)
    t.match(run.stderr, /a rebuild was asked for/, label)
    t.equal(identity(copy.addon), before, `${label}: the failed rebuild kept the addon`)
  }
})

t.test('an addon that does not load is not "kept": the VPN-mode warning is printed', async (t) => {
  const copy = copyOfSources(t)
  writeFileSync(copy.addon, 'not an ELF file')
  const past = new Date(Date.now() - 7200_000)
  for (const file of ['binding.gyp', join('native', 'tun.c')]) utimesSync(join(copy.root, file), past, past)
  const run = runBuild(copy.root, { npm_config_node_gyp: copy.failingGyp })
  t.equal(run.status, 0)
  t.match(run.stderr, /does not load in this Node/)
  t.notMatch(run.stderr, /kept the existing/)
  t.match(run.stderr, /did not build: bkc vpn and bkc start --im-addr need it/)
})

t.test('a missing source or an unusable temp dir is a failed build: warning, exit 0', async (t) => {
  const noSource = copyOfSources(t)
  rmSync(join(noSource.root, 'binding.gyp'))
  const a = runBuild(noSource.root, { npm_config_node_gyp: noSource.failingGyp })
  t.equal(a.status, 0, a.stderr)
  t.match(a.stderr, /building the TUN addon .* failed: .*ENOENT/)
  const noTmp = copyOfSources(t)
  utimesSync(join(noTmp.root, 'native', 'tun.c'), new Date(Date.now() + 3600_000), new Date(Date.now() + 3600_000))
  const b = runBuild(noTmp.root, { npm_config_node_gyp: noTmp.failingGyp, TMPDIR: join(noTmp.root, 'no-such-dir') })
  t.equal(b.status, 0, b.stderr)
  t.match(b.stderr, /failed: .*ENOENT/)
  t.match(b.stderr, /kept the existing/)
})

t.test('an addon that cannot be put in place leaves no staged file behind', async (t) => {
  const copy = copyOfSources(t)
  const gyp = recordingGyp(t, { output: 'directory' })
  const run = runBuild(copy.root, { npm_config_node_gyp: gyp.script }, { args: ['--force'] })
  t.equal(run.status, 0, run.stderr)
  t.ok(gyp.args(), 'node-gyp ran')
  t.match(run.stderr, /kept the existing/)
  t.same(stagedLeftovers(copy.root), [])
})

t.test('headers without common.gypi are not passed as --nodedir', async (t) => {
  const copy = copyOfSources(t)
  // A Node under a prefix whose include/node has the C headers only.
  const prefix = join(copy.root, 'prefix')
  mkdirSync(join(prefix, 'bin'), { recursive: true })
  mkdirSync(join(prefix, 'include', 'node'), { recursive: true })
  writeFileSync(join(prefix, 'include', 'node', 'node_api.h'), '')
  const node = join(prefix, 'bin', 'node')
  try {
    linkSync(process.execPath, node)
  } catch {
    copyFileSync(process.execPath, node)
  }
  touchSource(copy)
  const gyp = recordingGyp(t)
  const run = runBuild(copy.root, { npm_config_node_gyp: gyp.script }, { node })
  t.equal(run.status, 0, run.stderr)
  const args = gyp.args()
  t.ok(args, 'node-gyp ran')
  t.notOk(
    args?.some((a) => a.startsWith('--nodedir')),
    `no --nodedir in ${JSON.stringify(args)}`,
  )
  writeFileSync(join(prefix, 'include', 'node', 'common.gypi'), '')
  t.ok(runBuild(copy.root, { npm_config_node_gyp: gyp.script }, { args: ['--force'], node }).status === 0)
  t.ok(gyp.args()?.includes(`--nodedir=${prefix}`), 'with common.gypi there, they are')
})

const realBuildSkip = !HAVE_NPM ? 'npm is not on PATH' : HAVE_HEADERS ? false : `no Node headers under ${NODE_PREFIX}/include/node`

t.test('run by hand, outside npm, a stale addon is rebuilt with the node-gyp that comes with npm', { skip: realBuildSkip }, async (t) => {
  const copy = copyOfSources(t)
  touchSource(copy)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, {})
  t.equal(run.status, 0)
  t.equal(run.stderr, '', 'no warning: the build worked')
  t.not(identity(copy.addon), before, 'a new file')
  t.doesNotThrow(() => createRequire(import.meta.url)(copy.addon), 'that loads')
})

t.test('a broken source fails the real compiler and keeps the old addon', { skip: realBuildSkip }, async (t) => {
  const copy = copyOfSources(t)
  const source = join(copy.root, 'native', 'tun.c')
  appendFileSync(source, '\nthis is not C;\n')
  const future = new Date(Date.now() + 1000)
  utimesSync(source, future, future)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, {})
  t.equal(run.status, 0)
  t.equal(identity(copy.addon), before, 'the old addon is still there')
  t.match(run.stderr, /node-gyp exited with/)
  t.match(run.stderr, /kept the existing/)
  t.doesNotThrow(() => createRequire(import.meta.url)(copy.addon), 'and it still loads')
})

t.test('a stale addon is rebuilt and replaced by a new file that loads', { skip: realBuildSkip }, async (t) => {
  const copy = copyOfSources(t)
  const future = new Date(Date.now() + 1000)
  utimesSync(join(copy.root, 'native', 'tun.c'), future, future)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, {})
  t.equal(run.status, 0, run.stderr)
  t.not(identity(copy.addon), before, 'a new file')
  t.ok(statSync(copy.addon).mtimeMs >= future.getTime() - 1000)
  const addon = createRequire(import.meta.url)(copy.addon) as { open?: unknown }
  t.equal(typeof addon.open, 'function')
  t.notOk(existsSync(join(copy.root, 'build', 'Makefile')), 'built elsewhere: build/ holds only what was there')
})

t.test('npx bkc with a fresh HOME and npm cache leaves the repository addon in place', async (t) => {
  const home = tempDir('bkc-home-')
  t.teardown(home.cleanup)
  const before = identity(REPO_ADDON)
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOME: home.path,
    npm_config_cache: join(home.path, '.npm'),
  }
  // Local headers, in case the addon is stale here: a rebuild must not reach for the network.
  if (HAVE_HEADERS) env.npm_config_nodedir = NODE_PREFIX
  const run = spawnSync('npx', ['bkc', '--version'], { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /^\d+\.\d+\.\d+/m)
  t.ok(existsSync(REPO_ADDON), 'the addon is still built')
  t.equal(identity(REPO_ADDON), before, 'and untouched')
  t.equal(findTunAddon(), REPO_ADDON, "the VPN client's loader finds it")
})
