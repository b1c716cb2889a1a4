// The install script's addon build (native/build.mjs): it must never leave
// VPN mode without a working addon. Run against copies of the sources in temp
// dirs, and once against the repository through `npx bkc` with a fresh HOME,
// which re-runs the install script and must leave build/ as it is.
import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
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

/** npm's bundled node-gyp, which npm hands to install scripts as npm_config_node_gyp. */
function bundledNodeGyp(): string | null {
  try {
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())
    const gyp = join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
    return existsSync(gyp) ? gyp : null
  } catch {
    return null
  }
}

/** Headers of this Node on disk, so a real build never downloads them. */
const NODE_PREFIX = dirname(dirname(process.execPath))
const HAVE_HEADERS = existsSync(join(NODE_PREFIX, 'include', 'node', 'node_api.h'))

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

function runBuild(root: string, env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [join(root, 'native', 'build.mjs')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  })
  return { status: result.status, stderr: result.stderr }
}

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

const gyp = bundledNodeGyp()
const realBuildSkip =
  gyp === null ? "npm's bundled node-gyp was not found" : HAVE_HEADERS ? false : `no Node headers under ${NODE_PREFIX}/include/node`

t.test('a broken source fails the real compiler and keeps the old addon', { skip: realBuildSkip }, async (t) => {
  const copy = copyOfSources(t)
  const source = join(copy.root, 'native', 'tun.c')
  appendFileSync(source, '\nthis is not C;\n')
  const future = new Date(Date.now() + 1000)
  utimesSync(source, future, future)
  const before = identity(copy.addon)
  const run = runBuild(copy.root, { npm_config_node_gyp: gyp!, npm_config_nodedir: NODE_PREFIX })
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
  const run = runBuild(copy.root, { npm_config_node_gyp: gyp!, npm_config_nodedir: NODE_PREFIX })
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
