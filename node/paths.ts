// Where the package's own files live, for both the compiled build (dist/)
// and the TypeScript sources run by the test runner.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
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
export const DEFAULT_NETWORK_FILE = join(PACKAGE_ROOT, 'node', 'networks', 'devnet.json')
