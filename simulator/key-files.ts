// The simulator's files: its long-term X25519 key (created on first start,
// kept across restarts so clients can pin it) and the optional allow-list of
// client keys.
import { constants as fsConstants, promises as fsp } from 'node:fs'
import { dirname, join } from 'node:path'
import { KEY_BYTES, TunnelKeyPair } from '../protocol/tunnel-crypto.js'
import { createFileExclusive, errno } from '../node/fs-util.js'

/** File name of the static key inside the data dir: the raw private key as 64 hex digits and a newline. */
export const SERVER_KEY_FILE = 'server-key'

export type KeyFileErrorCode = 'CORRUPT_KEY_FILE' | 'BAD_ALLOW_LIST'

/** A key or allow-list file the simulator cannot use; the message names the file (and line). */
export class KeyFileError extends Error {
  override name = 'KeyFileError'
  constructor(
    readonly code: KeyFileErrorCode,
    message: string,
  ) {
    super(message)
  }
}

const HEX_KEY_RE = /^[0-9a-f]{64}$/

/**
 * The simulator's static key from `dataDir`, created (mode 0600, directory
 * 0700) on first use. Two processes starting at once on one data dir agree on
 * one key: the file appears by link(), which never overwrites.
 */
export async function loadOrCreateServerKey(dataDir: string): Promise<{ key: TunnelKeyPair; created: boolean; path: string }> {
  return loadOrCreateKeyFile(join(dataDir, SERVER_KEY_FILE))
}

/**
 * A long-term X25519 key pair kept in one file (the simulator's, or a VPN
 * client's identity on its VM), created the same way on first use.
 */
export async function loadOrCreateKeyFile(path: string): Promise<{ key: TunnelKeyPair; created: boolean; path: string }> {
  const existing = await readServerKey(path)
  if (existing !== null) return { key: existing, created: false, path }
  await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const key = TunnelKeyPair.generate()
  if (!(await createFileExclusive(path, key.privateKeyBytes().toString('hex') + '\n'))) {
    // Another process created it first: use its key, so both end up with one.
    const winner = await readServerKey(path)
    if (winner === null) throw new KeyFileError('CORRUPT_KEY_FILE', `${path} appeared while creating it but cannot be read`)
    return { key: winner, created: false, path }
  }
  return { key, created: true, path }
}

async function readServerKey(path: string): Promise<TunnelKeyPair | null> {
  let text: string
  try {
    const handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW)
    try {
      const stat = await handle.stat()
      if (!stat.isFile() || stat.size > 1024) throw new KeyFileError('CORRUPT_KEY_FILE', `${path} is not a key file`)
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (errno(err) === 'ENOENT') return null
    if (errno(err) === 'ELOOP') throw new KeyFileError('CORRUPT_KEY_FILE', `${path} is a symlink`)
    throw err
  }
  const hex = text.trim()
  if (!HEX_KEY_RE.test(hex)) {
    throw new KeyFileError('CORRUPT_KEY_FILE', `${path} does not hold a key (${KEY_BYTES * 2} lower-case hex digits); move it away to create a new one`)
  }
  return TunnelKeyPair.fromPrivateKey(Buffer.from(hex, 'hex'))
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
    if (!HEX_KEY_RE.test(key)) {
      throw new KeyFileError('BAD_ALLOW_LIST', `${where} line ${i + 1}: expected a client public key (64 hex digits), got ${JSON.stringify(line.slice(0, 80))}`)
    }
    keys.add(key)
  }
  return keys
}

export async function readAllowList(path: string): Promise<Set<string>> {
  return parseAllowList(await fsp.readFile(path, 'utf8'), path)
}
