// A validator's fingerprint: made once, kept in the data directory, so the
// records (and a pom table or pos vault) of a node stay its own across
// restarts.
import { randomUUID } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../lib/files.js'
import { fingerprintToUuid, parseFingerprint, ValidatorConfigError } from './config.js'

export const FINGERPRINT_FILE = 'fingerprint'

/** The fingerprint in `dir` (its `fingerprint` file), made when there is none. */
export async function loadOrCreateFingerprint(dir: string): Promise<Buffer> {
  const file = join(dir, FINGERPRINT_FILE)
  let text: string | null = null
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text !== null) {
    try {
      return parseFingerprint(text.trim(), file)
    } catch (err) {
      throw new ValidatorConfigError(
        `${(err as Error).message}; the file is damaged (remove it to make a new fingerprint, which invalidates a pom table or pos vault)`,
      )
    }
  }
  await mkdir(dir, { recursive: true })
  const uuid = randomUUID()
  await writeFileAtomic(file, `${uuid}\n`)
  return parseFingerprint(uuid, file)
}

export { fingerprintToUuid }
