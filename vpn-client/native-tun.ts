// Loads bkc's own TUN addon (native/tun.c, built by `npm install` through
// native/build.mjs). It does one thing JavaScript cannot: the TUNSETIFF ioctl
// that creates the interface and gives back its fd. Reads and writes stay in
// libuv on a non-blocking fd, so no thread blocks and the process can always
// exit; and the device can be opened with IFF_VNET_HDR, which lets one read
// carry a TCP super-packet of up to ~64 KiB instead of one MTU-sized packet.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface TunAddon {
  /** Opens /dev/net/tun as `name` (IFF_TUN | IFF_NO_PI, + IFF_VNET_HDR and TSO4 when offload); non-blocking fd. */
  open(name: string, offload: boolean): { fd: number; name: string }
}

const ADDON_PATH = join('build', 'Release', 'bkc_tun.node')

/** The addon's path: the repository root is one level up from vpn-client/ (source) or two from dist/vpn-client/. */
export function findTunAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 3; up++) {
    dir = dirname(dir)
    const candidate = join(dir, ADDON_PATH)
    if (existsSync(candidate)) return candidate
  }
  return null
}

/** Works outside npm too: the script finds the node-gyp that comes with npm; --force rebuilds an addon that looks current. */
const REBUILD_ADVICE = 'run `node native/build.mjs --force` in the bkc directory (needs make, g++ and python3)'

let cached: TunAddon | null = null

/** Throws an Error whose message tells the user how to build the addon. */
export function loadTunAddon(): TunAddon {
  if (cached !== null) return cached
  const path = findTunAddon()
  if (path === null) throw new Error(`the TUN addon is not built (${ADDON_PATH}): ${REBUILD_ADVICE}`)
  try {
    cached = createRequire(import.meta.url)(path) as TunAddon
  } catch (err) {
    throw new Error(`the TUN addon ${path} does not load in this Node (${(err as Error).message}): ${REBUILD_ADVICE}`)
  }
  return cached
}
