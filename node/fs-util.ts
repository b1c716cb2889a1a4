// Small file-system helpers shared by the modules that write files atomically
// (keystore, peer list).
import { promises as fsp } from 'node:fs'

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
