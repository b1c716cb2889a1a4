// `bkc start`'s validator flags (slots networks): --validator pow|pom|pos with
// sizes, or --validator-config dsc-config.yaml, into one ValidatorConfig.
import { readFileSync } from 'node:fs'
import type { Argv } from 'yargs'
import { parseSize, validatorConfigFromYaml, ValidatorConfigError, type ValidatorConfig } from '../../node/validator/config.js'
import { parsePositiveInt, single, UsageError } from '../options.js'

export const VALIDATOR_FLAGS = ['validator', 'validator-config', 'threads-hash', 'memory', 'disk', 'buckets', 'cup-size', 'vault'] as const

export function validatorOptions<T>(y: Argv<T>) {
  return y
    .option('validator', {
      type: 'string',
      describe: 'slots networks: how this node searches proofs when mining: pow (hash live), pom (table in memory), pos (vault on disk)',
      coerce: single('validator', (v) => {
        if (v !== 'pow' && v !== 'pom' && v !== 'pos') throw new UsageError(`--validator must be pow, pom or pos, got "${String(v)}"`)
        return v
      }),
    })
    .option('validator-config', {
      type: 'string',
      describe: 'a DSC dsc-config.yaml: its validator section (instead of --validator and the sizes)',
      coerce: single('validator-config', String),
    })
    .option('threads-hash', {
      type: 'string',
      requiresArg: true,
      default: 1,
      describe: 'worker threads hashing records (pow search, pom table, pos vault)',
      coerce: single('threads-hash', parsePositiveInt('threads-hash', 64)),
    })
    .option('memory', {
      type: 'string',
      requiresArg: true,
      default: '256M',
      describe: 'pom: the table in memory (DSC: 1G)',
      coerce: single('memory', size('memory')),
    })
    .option('disk', {
      type: 'string',
      requiresArg: true,
      default: '256M',
      describe: 'pos: the vault on disk (DSC: 10G)',
      coerce: single('disk', size('disk')),
    })
    .option('buckets', {
      type: 'string',
      requiresArg: true,
      default: 256,
      describe: 'pos: vault regions by record prefix (a power of two)',
      coerce: single('buckets', parsePositiveInt('buckets', 65536)),
    })
    .option('cup-size', {
      type: 'string',
      requiresArg: true,
      default: 32768,
      describe: 'pos: records per write (32 B each: 32768 = 1 MiB)',
      coerce: single('cup-size', parsePositiveInt('cup-size', 1 << 24)),
    })
    .option('vault', {
      type: 'string',
      requiresArg: true,
      describe: 'pos: the vault file [default: <data-dir>/validator/pos.vault]',
      coerce: single('vault', String),
    })
}

function size(flag: string) {
  return (v: unknown): number => {
    try {
      return parseSize(v, `--${flag}`)
    } catch (err) {
      if (err instanceof ValidatorConfigError) throw new UsageError(err.message)
      throw err
    }
  }
}

export interface ValidatorArgs {
  validator?: 'pow' | 'pom' | 'pos'
  validatorConfig?: string
  threadsHash: number
  memory: number
  disk: number
  buckets: number
  cupSize: number
  vault?: string
}

/** The validator the flags configure, or null when none. */
export function validatorFromArgs(args: ValidatorArgs): ValidatorConfig | null {
  if (args.validatorConfig !== undefined) {
    if (args.validator !== undefined) throw new UsageError('give --validator or --validator-config, not both')
    let text: string
    try {
      text = readFileSync(args.validatorConfig, 'utf8')
    } catch (err) {
      throw new UsageError(`--validator-config: cannot read ${args.validatorConfig}: ${(err as Error).message}`)
    }
    try {
      return validatorConfigFromYaml(text, args.validatorConfig)
    } catch (err) {
      if (err instanceof ValidatorConfigError) throw new UsageError(err.message)
      throw err
    }
  }
  const threads = args.threadsHash
  switch (args.validator) {
    case undefined:
      return null
    case 'pow':
      return { search: { kind: 'pow', threads } }
    case 'pom':
      return { search: { kind: 'pom', threads, memoryBytes: args.memory } }
    case 'pos':
      return {
        search: {
          kind: 'pos',
          threads,
          diskBytes: args.disk,
          buckets: args.buckets,
          cupSize: args.cupSize,
          ...(args.vault && { vaultPath: args.vault }),
        },
      }
  }
}
