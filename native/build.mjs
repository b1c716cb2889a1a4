#!/usr/bin/env node
// Builds the TUN addon (build/Release/bkc_tun.node) for `npm install`, without
// ever losing a working one.
//
// npm re-runs this on every install of the package, `npx bkc` with a fresh
// cache and `sudo npx bkc` included. `node-gyp rebuild` deletes build/ before
// it compiles, so a rebuild that cannot finish (no headers offline, build/
// owned by another user) would leave VPN mode without its addon. Here:
//   - an addon that is newer than its sources and loads in this Node is kept
//     as it is (no compiler run at all);
//   - otherwise the sources are built in a temporary copy and the new addon
//     replaces the old one by rename, only once it built;
//   - a failed build keeps the old addon, prints why, and exits 0: without the
//     addon only `bkc vpn` and `bkc start --im-addr` are unavailable.
//
// Run by hand (`node native/build.mjs --force`, or BKC_REBUILD_TUN=1 for
// npm install) it rebuilds even an addon that looks current, with npm's
// bundled node-gyp found next to the npm on PATH.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const ADDON = join('build', 'Release', 'bkc_tun.node')
/** What the addon is built from: a change to any of them makes it stale. */
const SOURCES = ['binding.gyp', join('native', 'tun.c')]
const WARNING =
  'bkc: the TUN addon (native/tun.c) did not build: bkc vpn and bkc start --im-addr need it (make, g++, python3); everything else works'

const FORCED = process.argv.includes('--force') || process.env.BKC_REBUILD_TUN === '1'

/** Whether the addon at `root` loads in this Node (for an N-API addon, loading it is the whole ABI check, and cheap). */
function loadError(root) {
  try {
    createRequire(import.meta.url)(join(root, ADDON))
    return null
  } catch (err) {
    return err
  }
}

/** Why the addon at `root` must be (re)built, or null when it is current. */
function staleness(root) {
  const addon = join(root, ADDON)
  if (!existsSync(addon)) return 'not built'
  if (FORCED) return 'a rebuild was asked for'
  const built = statSync(addon).mtimeMs
  for (const source of SOURCES) {
    if (statSync(join(root, source)).mtimeMs > built) return `${source} is newer than the addon`
  }
  const err = loadError(root)
  return err === null ? null : `it does not load in this Node: ${err.message}`
}

/** npm's own node-gyp, next to the npm found on PATH (npm ships it; a global node-gyp is rarely installed). */
function nodeGypBesideNpm() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    let npm
    try {
      npm = realpathSync(join(dir, 'npm')) // <npm>/bin/npm-cli.js
    } catch {
      continue
    }
    const gyp = join(dirname(npm), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
    if (existsSync(gyp)) return gyp
  }
  return null
}

/** How to run node-gyp: npm names its bundled copy in the environment of install scripts; by hand, the one beside npm. */
function nodeGypCommand() {
  const named = process.env.npm_config_node_gyp
  const bundled = named !== undefined && named !== '' ? named : nodeGypBesideNpm()
  if (bundled !== null) return { file: process.execPath, args: [bundled] }
  return { file: 'node-gyp', args: [] }
}

/**
 * Local headers of this Node (distribution packages put them under the
 * prefix), so node-gyp does not download them. `--nodedir` needs the whole
 * tree node-gyp builds with, common.gypi included, not just the C headers.
 */
function localNodeDir() {
  if (process.env.npm_config_nodedir) return null // the user's choice wins
  const prefix = dirname(dirname(process.execPath))
  const include = join(prefix, 'include', 'node')
  return existsSync(join(include, 'node_api.h')) && existsSync(join(include, 'common.gypi')) ? prefix : null
}

/** Builds in a copy of the sources; returns the new addon's path there, or throws with node-gyp's output. */
function buildInTemp(root, work) {
  cpSync(join(root, 'binding.gyp'), join(work, 'binding.gyp'))
  cpSync(join(root, 'native'), join(work, 'native'), { recursive: true })
  const gyp = nodeGypCommand()
  const nodedir = localNodeDir()
  const args = [...gyp.args, 'rebuild', '--silent', ...(nodedir === null ? [] : [`--nodedir=${nodedir}`])]
  const result = spawnSync(gyp.file, args, { cwd: work, encoding: 'utf8', timeout: 300_000 })
  if (result.error !== undefined) throw new Error(`cannot run node-gyp: ${result.error.message}`)
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-15).join('\n')
    throw new Error(`node-gyp exited with ${result.status ?? result.signal}${output === '' ? '' : `:\n${output}`}`)
  }
  const built = join(work, ADDON)
  if (!existsSync(built)) throw new Error(`node-gyp succeeded but left no ${ADDON}`)
  return built
}

/** Puts `built` at root/ADDON by rename, so a reader sees the old addon or the new one, never a partial file. */
function install(root, built) {
  const target = join(root, ADDON)
  mkdirSync(dirname(target), { recursive: true })
  const staged = `${target}.${process.pid}.tmp`
  try {
    copyFileSync(built, staged)
    renameSync(staged, target)
  } finally {
    rmSync(staged, { force: true }) // left only when the copy or the rename failed
  }
}

/** Returns true when the addon at `root` is usable afterwards. Never throws: npm install must not fail for it. */
function buildAddon(root) {
  let why = 'its state is unknown'
  let work = null
  try {
    why = staleness(root)
    if (why === null) return true
    work = mkdtempSync(join(tmpdir(), 'bkc-tun-build-'))
    install(root, buildInTemp(root, work))
    return true
  } catch (err) {
    // Kept only if it works: a stale addon that does not load in this Node is no fallback.
    const working = existsSync(join(root, ADDON)) && loadError(root) === null
    console.warn(`bkc: building the TUN addon (${why}) failed: ${err.message}`)
    console.warn(working ? `bkc: kept the existing ${ADDON}` : WARNING)
    return working
  } finally {
    if (work !== null) rmSync(work, { recursive: true, force: true })
  }
}

buildAddon(ROOT)
