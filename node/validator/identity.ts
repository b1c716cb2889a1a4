// A validator's fingerprint: made once, kept in the data directory, so the
// records (and a pom table or pos vault) of a node stay its own across
// restarts.
import { randomUUID } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createFileExclusive, errno } from '../../lib/files.js'
import { fingerprintToUuid, parseFingerprint, ValidatorConfigError } from './config.js'

export const FINGERPRINT_FILE = 'fingerprint'

/** The fingerprint in `dir` (its `fingerprint` file), made when there is none. */
export async function loadOrCreateFingerprint(dir: string): Promise<Buffer> {
  const file = join(dir, FINGERPRINT_FILE)
  const existing = await readFingerprint(file)
  if (existing !== null) return existing
  await mkdir(dir, { recursive: true })
  const uuid = randomUUID()
  // Exclusive: of two first starts at once, both keep the one that was written first.
  if (await createFileExclusive(file, `${uuid}\n`)) return parseFingerprint(uuid, file)
  const written = await readFingerprint(file)
  if (written === null) throw new ValidatorConfigError(`${file} vanished while it was being made`)
  return written
}

/** The fingerprint `file` holds, or null when there is no file; a damaged one is an error, left as it is. */
async function readFingerprint(file: string): Promise<Buffer | null> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (errno(err) === 'ENOENT') return null
    throw new ValidatorConfigError(`cannot read the validator fingerprint ${file}: ${(err as Error).message}`)
  }
  try {
    return parseFingerprint(text.trim(), file)
  } catch (err) {
    throw new ValidatorConfigError(
      `${(err as Error).message}; the file is damaged (remove it to make a new fingerprint, which invalidates a pom table or pos vault)`,
    )
  }
}

export { fingerprintToUuid }
