// The simulator's files: its long-term X25519 key (created on first start,
// kept across restarts so clients can pin it) and the optional allow-list of
// client keys.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { isHexOfLength } from '../protocol/wire/bytes.js'
import { KEY_BYTES, TunnelKeyPair } from '../protocol/tunnel/crypto.js'
import { loadOrCreateKeyFile } from '../lib/key-file.js'

/** File name of the static key inside the data dir: the raw private key as 64 hex digits and a newline. */
export const SERVER_KEY_FILE = 'server-key'

/** An allow-list the simulator cannot use; the message names the file and line. */
export class AllowListError extends Error {
  override name = 'AllowListError'
}

/**
 * The simulator's static key from `dataDir`, created (mode 0600, directory
 * 0700) on first use; two processes starting at once agree on one key.
 * Throws KeyFileError (lib/key-file.ts) for a file that holds no key.
 */
export async function loadOrCreateServerKey(dataDir: string): Promise<{ key: TunnelKeyPair; created: boolean; path: string }> {
  const path = join(dataDir, SERVER_KEY_FILE)
  const { secret, created } = await loadOrCreateKeyFile(path, KEY_BYTES, () => TunnelKeyPair.generate().privateKeyBytes())
  return { key: TunnelKeyPair.fromPrivateKey(secret), created, path }
}

/**
 * An allow-list file: one client public key per line, 64 hex digits (any
 * case); blank lines and `#` comments ignored. Returns the keys lower-case,
 * as leases and the server compare them.
 */
export function parseAllowList(text: string, where: string): Set<string> {
  const keys = new Set<string>()
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim()
    if (line === '') continue
    const key = line.toLowerCase()
    if (!isHexOfLength(key, KEY_BYTES)) {
      throw new AllowListError(
        `${where} line ${i + 1}: expected a client public key (64 hex digits), got ${JSON.stringify(line.slice(0, 80))}`,
      )
    }
    keys.add(key)
  }
  return keys
}

export async function readAllowList(path: string): Promise<Set<string>> {
  return parseAllowList(await fsp.readFile(path, 'utf8'), path)
}
