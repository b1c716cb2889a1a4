// Where the package's own files live, for both the compiled build (dist/)
// and the TypeScript sources run by the test runner.
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'node', 'networks'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the bkc package root')
    dir = up
  }
}

export const PACKAGE_ROOT = findPackageRoot()
export const NETWORKS_DIR = join(PACKAGE_ROOT, 'node', 'networks')
export const DEFAULT_NETWORK_FILE = join(NETWORKS_DIR, 'devnet.json')

/** A --network value that is neither a shipped network's name nor a file. */
export class NetworkNameError extends Error {
  override name = 'NetworkNameError'
}

/** The names of the shipped network files (node/networks/NAME.json), sorted. */
export function shippedNetworks(dir = NETWORKS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort()
}

/**
 * The network file a --network value names: a shipped network by its name
 * (`devnet`), or a path to a file of one's own (relative to `cwd`). A name is
 * a plain word: anything with a slash or a `.json` ending is a path, and a
 * file of that name in `cwd` is taken as one too.
 */
export function resolveNetworkFile(value: string | undefined, cwd = process.cwd(), dir = NETWORKS_DIR): string {
  if (value === undefined) return join(dir, 'devnet.json')
  const asPath = resolve(cwd, value)
  if (!/^[a-z0-9][a-z0-9-]*$/.test(value) || existsSync(asPath)) return asPath
  const shipped = shippedNetworks(dir)
  if (shipped.includes(value)) return join(dir, `${value}.json`)
  throw new NetworkNameError(`no shipped network named "${value}" (shipped: ${shipped.join(', ')}) and no file ${asPath}`)
}
