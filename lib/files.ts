// Small file-system helpers for the modules that keep files of their own
// (keystore, peer list, key files, the devnet's files): atomic creation and replacement,
// private reads.
import { randomBytes } from 'node:crypto'
import { closeSync, constants as fsConstants, fsyncSync, openSync, promises as fsp, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

/** The `code` of a Node system error (ENOENT, EEXIST, …), if it has one. */
export function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined
}

/** fsync a directory so a rename or link in it survives a crash; skipped where directories cannot be synced. */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await fsp.open(dir, 'r')
  try {
    await handle.sync()
  } catch (err) {
    const code = errno(err)
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err
  } finally {
    await handle.close()
  }
}

/** A private temp name beside `path`: dot-prefixed, random, so concurrent writers never share one. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`)
}

/** Creates `file` (it must not exist) with `content` and `mode`, and fsyncs it before returning. */
async function writeSynced(file: string, content: string, mode: number): Promise<void> {
  const handle = await fsp.open(file, 'wx', mode)
  try {
    await handle.writeFile(content, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Creates `path` with `content` (mode 0600) only if it does not exist yet,
 * atomically: written to a temp file beside it ("." prefix), fsync'd, then
 * published with link() — which fails rather than replace an existing file —
 * and the directory fsync'd. A crash leaves either no file or the whole one.
 * Returns false when the file already existed.
 */
export async function createFileExclusive(path: string, content: string): Promise<boolean> {
  const temp = tempPathFor(path)
  try {
    await writeSynced(temp, content, 0o600)
    try {
      await fsp.link(temp, path)
    } catch (err) {
      if (errno(err) === 'EEXIST') return false
      throw err
    }
  } finally {
    await fsp.unlink(temp).catch(() => {})
  }
  await syncDir(dirname(path))
  return true
}

/**
 * Writes `path` with `content`, replacing any existing file atomically: a
 * temp file beside it created with `mode`, fsync'd, renamed over `path`,
 * then the directory fsync'd. A crash leaves the old file or the whole new
 * one; an error leaves the old file and no temp file behind.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const temp = tempPathFor(path)
  try {
    await writeSynced(temp, content, mode)
    await fsp.rename(temp, path)
  } catch (err) {
    await fsp.unlink(temp).catch(() => {})
    throw err
  }
  await syncDir(dirname(path))
}

/**
 * writeFileAtomic for callers that cannot wait (a pid recorded the moment a
 * process is spawned): the same temp file, fsync, rename and directory fsync.
 */
export function writeFileAtomicSync(path: string, content: string, mode = 0o600): void {
  const temp = tempPathFor(path)
  try {
    const fd = openSync(temp, 'wx', mode)
    try {
      writeFileSync(fd, content, 'utf8')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, path)
  } catch (err) {
    try {
      unlinkSync(temp)
    } catch {
      // never created, or already renamed
    }
    throw err
  }
  if (process.platform === 'win32') return
  const dirFd = openSync(dirname(path), 'r')
  try {
    fsyncSync(dirFd)
  } catch (err) {
    const code = errno(err)
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err
  } finally {
    closeSync(dirFd)
  }
}

/** Why `readPrivateFile` refused a path; the message names the path. */
export class PrivateFileError extends Error {
  override name = 'PrivateFileError'
  constructor(
    readonly code: 'SYMLINK' | 'NOT_A_FILE' | 'TOO_LARGE',
    message: string,
  ) {
    super(message)
  }
}

/**
 * Reads a small file that holds a secret (keystore entry, private key) as
 * UTF-8, or null when it does not exist. O_NOFOLLOW: a symlink planted in
 * its place is refused, not followed; so are a non-file and one over
 * `maxBytes`, checked on the open handle before reading.
 */
export async function readPrivateFile(path: string, maxBytes: number): Promise<string | null> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW)
  } catch (err) {
    if (errno(err) === 'ENOENT') return null
    if (errno(err) === 'ELOOP') throw new PrivateFileError('SYMLINK', `${path} is a symlink`)
    throw err
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new PrivateFileError('NOT_A_FILE', `${path} is not a regular file`)
    if (stat.size > maxBytes) throw new PrivateFileError('TOO_LARGE', `${path} is too large`)
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * Creates `dir` and any missing parents (mode 0700) and returns the
 * directories this call created, deepest first: [] when `dir` existed.
 */
export async function makeDirs(dir: string): Promise<string[]> {
  const top = await fsp.mkdir(dir, { recursive: true, mode: 0o700 })
  if (top === undefined) return []
  const made: string[] = []
  for (let d = resolve(dir); ; d = dirname(d)) {
    made.push(d)
    if (d === resolve(top) || dirname(d) === d) return made
  }
}

/**
 * Moves `dir` aside to a hidden sibling and returns its new path: the first
 * step of removing a directory this process created and still holds (a lock
 * file in it), so that no other process can open it under the old name in
 * the moment between releasing the lock and the removal.
 */
export async function retireDir(dir: string): Promise<string> {
  const retired = join(dirname(dir), `.${basename(dir)}.${randomBytes(6).toString('hex')}.removed`)
  await fsp.rename(dir, retired)
  return retired
}

/**
 * Removes each of `dirs` (deepest first, as `makeDirs` returns them) while it
 * is empty, and stops at the first that is not: a directory another process
 * began to use meanwhile stays.
 */
export async function removeEmptyDirs(dirs: readonly string[]): Promise<void> {
  for (const d of dirs) {
    try {
      await fsp.rmdir(d)
    } catch (err) {
      if (errno(err) === 'ENOENT') continue
      if (errno(err) === 'ENOTEMPTY' || errno(err) === 'EEXIST') return
      throw err
    }
  }
}
