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
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const ADDON = join('build', 'Release', 'bkc_tun.node')
/** What the addon is built from: a change to any of them makes it stale. */
const SOURCES = ['binding.gyp', join('native', 'tun.c')]
const WARNING =
  'bkc: the TUN addon (native/tun.c) did not build: bkc vpn and bkc start --im-addr need it (make, g++, python3); everything else works'

/** Why the addon at `root` must be (re)built, or null when it is current. */
function staleness(root) {
  const addon = join(root, ADDON)
  if (!existsSync(addon)) return 'not built'
  const built = statSync(addon).mtimeMs
  for (const source of SOURCES) {
    if (statSync(join(root, source)).mtimeMs > built) return `${source} is newer than the addon`
  }
  try {
    // N-API addon: loading it is the whole ABI check, and cheap.
    createRequire(import.meta.url)(addon)
  } catch (err) {
    return `it does not load in this Node: ${err.message}`
  }
  return null
}

/** How to run node-gyp: npm names its bundled copy in the environment of install scripts. */
function nodeGypCommand() {
  const bundled = process.env.npm_config_node_gyp
  if (bundled !== undefined && bundled !== '') return { file: process.execPath, args: [bundled] }
  return { file: 'node-gyp', args: [] }
}

/** Local headers of this Node (distribution packages put them under the prefix), so node-gyp does not download them. */
function localNodeDir() {
  if (process.env.npm_config_nodedir) return null // the user's choice wins
  const prefix = dirname(dirname(process.execPath))
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null
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
  copyFileSync(built, staged)
  try {
    renameSync(staged, target)
  } catch (err) {
    unlinkSync(staged)
    throw err
  }
}

/** Returns true when the addon at `root` is usable afterwards. */
function buildAddon(root) {
  const why = staleness(root)
  if (why === null) return true
  const hadAddon = existsSync(join(root, ADDON))
  const work = mkdtempSync(join(tmpdir(), 'bkc-tun-build-'))
  try {
    install(root, buildInTemp(root, work))
    return true
  } catch (err) {
    console.warn(`bkc: building the TUN addon (${why}) failed: ${err.message}`)
    console.warn(hadAddon ? `bkc: kept the existing ${ADDON}` : WARNING)
    return hadAddon
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

buildAddon(ROOT)
