// A shared secret given on the command line (visible in ps) or, better, in a
// file: the flag pair both the simulator and the VPN client take.
import { readFileSync } from 'node:fs'
import type { Argv } from 'yargs'
import { errno } from '../lib/files.js'
import { single, UsageError } from './options.js'

/** --FLAG SECRET and --FLAG-file PATH, never both. */
export function secretOptions<T>(y: Argv<T>, flag: 'secret' | 'im-secret', what: string) {
  return y
    .option(flag, {
      type: 'string',
      describe: `${what} (visible in ps: prefer --${flag}-file)`,
      coerce: single(flag, (v: unknown): string => {
        const text = String(v)
        if (text === '') throw new UsageError(`--${flag} must not be empty`)
        return text
      }),
    })
    .option(`${flag}-file`, {
      type: 'string',
      describe: 'file holding the network secret (trailing newline ignored)',
      coerce: single(`${flag}-file`, (v) => String(v)),
    })
    .conflicts(flag, `${flag}-file`)
}

/** The secret in `path` without its trailing newline; a usage error naming --`flag` when it cannot be read or is empty. */
export function readSecretFile(path: string, flag: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--${flag} ${path}: cannot read it (${errno(err) ?? (err as Error).message})`)
  }
  const secret = text.replace(/\r?\n$/, '')
  if (secret === '') throw new UsageError(`--${flag} ${path} is empty`)
  return secret
}
