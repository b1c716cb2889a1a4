// Persistence of the address book at <dataDir>/peers.json, so peers that
// worked are redialled after a restart.
//
// The file is a cache, not a record: losing it costs a slower start, never
// data. So loading never fails (a bad file gives an empty book and a warning
// for the log), while saving replaces the file atomically so a crash
// mid-write leaves the previous version rather than a torn one.
// Discouragement is deliberately not saved: it is short-lived.
import { constants as fsConstants } from 'node:fs'
import * as fsp from 'node:fs/promises'
import { AddrMan, type AddrEntry, type AddrManOptions } from './addrman.js'
import { errno, writeFileAtomic } from '../../lib/files.js'

export const PEERS_FILE_NAME = 'peers.json'

/** A full book is ~150 KB; anything far larger is not ours and is not worth reading into memory. */
const MAX_FILE_BYTES = 16 * 1024 * 1024

/** Missing file: an empty book. Unreadable or corrupt: an empty book and a warning. Never throws on file content or I/O. */
export async function loadAddrMan(file: string, opts?: AddrManOptions): Promise<{ addrman: AddrMan; warning?: string }> {
  let text: string
  try {
    text = await readCapped(file)
  } catch (err) {
    if (errno(err) === 'ENOENT') return { addrman: new AddrMan(opts) }
    return emptyWithWarning(`cannot read peer address file ${file}: ${messageOf(err)}`, opts)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return emptyWithWarning(`peer address file ${file} is not valid JSON (${messageOf(err)})`, opts)
  }
  const problem = shapeProblem(json)
  if (problem !== undefined) return emptyWithWarning(`peer address file ${file} ${problem}`, opts)
  return { addrman: AddrMan.fromJSON(json, opts) }
}

/**
 * Writes the book to `file`, replacing the old one atomically, with mode
 * 0600 (peer lists reveal who we talk to). Throws on I/O errors, leaving
 * any previous file intact and no temp file behind.
 */
export async function saveAddrMan(file: string, addrman: AddrMan): Promise<void> {
  await writeFileAtomic(file, serialize(addrman.toJSON()), 0o600)
}

/** One entry per line: small diffs, and a truncated file still shows what it held. */
function serialize(json: { version: 1; entries: AddrEntry[] }): string {
  if (json.entries.length === 0) return `{"version":${json.version},"entries":[]}\n`
  const lines = json.entries.map((e) => JSON.stringify(e))
  return `{"version":${json.version},"entries":[\n${lines.join(',\n')}\n]}\n`
}

function shapeProblem(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'does not hold a JSON object'
  const { version, entries } = json as Record<string, unknown>
  if (version !== 1) return `has unsupported version ${JSON.stringify(version) ?? 'undefined'}`
  if (!Array.isArray(entries)) return 'has no "entries" array'
  return undefined
}

async function readCapped(file: string): Promise<string> {
  // O_NONBLOCK so a FIFO planted at the path cannot hang startup waiting for a writer.
  const handle = await fsp.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0))
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new Error('not a regular file')
    if (stat.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`)
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

function emptyWithWarning(problem: string, opts?: AddrManOptions): { addrman: AddrMan; warning: string } {
  return { addrman: new AddrMan(opts), warning: `${problem}; starting with an empty address book` }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
