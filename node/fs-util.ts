// Small file-system helpers shared by the modules that write files atomically
// (keystore, peer list).
import { randomBytes } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import { basename, dirname, join } from 'node:path'

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

/**
 * Creates `path` with `content` (mode 0600) only if it does not exist yet,
 * atomically: written to a temp file beside it ("." prefix), fsync'd, then
 * published with link() — which fails rather than replace an existing file —
 * and the directory fsync'd. A crash leaves either no file or the whole one.
 * Returns false when the file already existed.
 */
export async function createFileExclusive(path: string, content: string): Promise<boolean> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`)
  try {
    const handle = await fsp.open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(content, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
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
