// A long-term secret key kept in a file of its own: the raw key as lower-case
// hex and a newline, mode 0600 in a 0700 directory, created on first use.
// The simulator keeps its static key this way and a VPN client its identity.
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createFileExclusive, PrivateFileError, readPrivateFile } from './files.js'

/** A key file that exists but cannot be used; the message names the file. */
export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

/**
 * The `bytes`-long key in `path`, or a new one from `generate` written there.
 * Two processes starting at once agree on one key: the file appears by
 * link(), which never overwrites, and the loser reads the winner's key.
 */
export async function loadOrCreateKeyFile(
  path: string,
  bytes: number,
  generate: () => Uint8Array,
): Promise<{ secret: Buffer; created: boolean }> {
  const existing = await readKeyFile(path, bytes)
  if (existing !== null) return { secret: existing, created: false }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const secret = Buffer.from(generate())
  if (secret.length !== bytes) throw new Error(`key generator returned ${secret.length} bytes, not ${bytes}`)
  if (!(await createFileExclusive(path, secret.toString('hex') + '\n'))) {
    const winner = await readKeyFile(path, bytes)
    if (winner === null) throw new KeyFileError(`${path} appeared while creating it but cannot be read`)
    return { secret: winner, created: false }
  }
  return { secret, created: true }
}

async function readKeyFile(path: string, bytes: number): Promise<Buffer | null> {
  let text: string | null
  try {
    text = await readPrivateFile(path, 1024)
  } catch (err) {
    if (err instanceof PrivateFileError) throw new KeyFileError(err.code === 'SYMLINK' ? err.message : `${path} is not a key file`)
    throw err
  }
  if (text === null) return null
  const hex = text.trim()
  if (hex.length !== bytes * 2 || !/^[0-9a-f]+$/.test(hex)) {
    throw new KeyFileError(`${path} does not hold a key (${bytes * 2} lower-case hex digits); move it away to create a new one`)
  }
  return Buffer.from(hex, 'hex')
}
