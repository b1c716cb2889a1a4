// `bkc validator pos_build`: builds (or resumes) a proof-of-space vault with
// a progress bar on a terminal, or a progress line every few seconds
// otherwise. SIGINT/SIGTERM stop it at a checkpoint; running it again resumes.
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { buildVault } from '../../node/validator/pos-build.js'
import { formatProgress, type BuildProgress } from '../../node/validator/pos-progress.js'
import { checkParams, paramsForDisk, VaultFormatError, vaultLayout, type VaultParams } from '../../node/validator/pos-vault.js'
import { decimal, parsePositiveInt, single, UsageError } from '../options.js'
import { formatBytes, parseFingerprint, parsePublicKey, parseSize, stamp } from './flags.js'

export function posBuildOptions<T>(y: Argv<T>) {
  return y
    .option('vault', {
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: 'the vault file to build or resume',
      coerce: single('vault', (v) => String(v)),
    })
    .option('fingerprint', {
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: "the validator's fingerprint: a UUID or 32 hex digits",
      coerce: single('fingerprint', parseFingerprint('fingerprint')),
    })
    .option('key', {
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: "the validator's public key: 66 hex digits",
      coerce: single('key', parsePublicKey('key')),
    })
    .option('disk', {
      type: 'string',
      requiresArg: true,
      describe: 'vault size, e.g. 64M, 1G, 10G',
      coerce: single('disk', parseSize('disk')),
    })
    .option('buckets', {
      type: 'string',
      requiresArg: true,
      describe: 'buckets (a power of two) [default with --disk: 256]',
      coerce: single('buckets', parsePositiveInt('buckets', 65_536)),
    })
    .option('cup-size', {
      type: 'string',
      requiresArg: true,
      describe: 'records per cup (one write)',
      coerce: single('cup-size', parsePositiveInt('cup-size', 2 ** 25)),
    })
    .option('cups-per-bucket', {
      type: 'string',
      requiresArg: true,
      describe: 'cups per bucket',
      coerce: single('cups-per-bucket', parsePositiveInt('cups-per-bucket', 2 ** 25)),
    })
    .option('build-memory', {
      type: 'string',
      requiresArg: true,
      default: '256M',
      describe: 'memory for building in single-write passes; 0 builds in two phases (fill, then sort)',
      coerce: single('build-memory', (v: unknown) => (v === '0' || v === 0 ? 0 : parseSize('build-memory')(v))),
    })
    .option('threads-hash', {
      type: 'string',
      requiresArg: true,
      default: availableParallelism(),
      describe: 'hash worker threads (0: hash in the main thread) [default: the CPU count]',
      coerce: single('threads-hash', parseThreads),
    })
}

export interface PosBuildArgs {
  vault: string
  fingerprint: Buffer
  key: Buffer
  disk?: number
  buckets?: number
  cupSize?: number
  cupsPerBucket?: number
  threadsHash: number
  buildMemory: number
}

function parseThreads(v: unknown): number {
  const n = decimal(v)
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new UsageError(`--threads-hash must be an integer from 0 to 256, got "${String(v)}"`)
  return n
}

/** The vault parameters the flags ask for: --disk [--buckets], or all of --buckets, --cup-size and --cups-per-bucket. */
export function paramsFromFlags(a: Pick<PosBuildArgs, 'disk' | 'buckets' | 'cupSize' | 'cupsPerBucket'>): VaultParams {
  try {
    if (a.disk !== undefined) {
      if (a.cupsPerBucket !== undefined) throw new UsageError('give --disk or --cups-per-bucket, not both')
      return paramsForDisk(a.disk, a.buckets ?? 256, a.cupSize ?? 32_768)
    }
    if (a.buckets === undefined || a.cupSize === undefined || a.cupsPerBucket === undefined) {
      throw new UsageError('give --disk SIZE, or all of --buckets, --cup-size and --cups-per-bucket')
    }
    const params = { buckets: a.buckets, cupSize: a.cupSize, cupsPerBucket: a.cupsPerBucket }
    checkParams(params)
    return params
  } catch (err) {
    if (err instanceof VaultFormatError) throw new UsageError(err.message)
    throw err
  }
}

const BAR = 30
const LINE_EVERY_MS = 5000

/** Draws progress: one redrawn bar on a terminal, a line every few seconds (and at each phase change) otherwise. */
class ProgressDisplay {
  private readonly tty = process.stderr.isTTY === true
  private lastLine = 0
  private lastPhase = ''
  private drawn = false

  show(p: BuildProgress): void {
    const text = formatProgress(p)
    if (this.tty) {
      const filled = p.total > 0 ? Math.round((BAR * p.done) / p.total) : BAR
      process.stderr.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ${text}`)
      this.drawn = true
      return
    }
    const now = Date.now()
    if (p.phase !== this.lastPhase || now - this.lastLine >= LINE_EVERY_MS) {
      this.lastLine = now
      this.lastPhase = p.phase
      process.stderr.write(`${stamp()} ${text}\n`)
    }
  }

  end(): void {
    if (this.drawn) process.stderr.write('\n')
    this.drawn = false
  }
}

export async function runPosBuild(args: PosBuildArgs): Promise<void> {
  const params = paramsFromFlags(args)
  const path = resolve(args.vault)
  const L = vaultLayout(params)
  const out = (line: string): boolean => process.stdout.write(`${stamp()} ${line}\n`)
  out(
    `Proof of Space (${args.threadsHash}-threads): vault ${path}, ${params.buckets} buckets × ${params.cupsPerBucket} cups × ${params.cupSize} records, ` +
      `${formatBytes(L.finalBytes)}`,
  )
  const ac = new AbortController()
  const onSignal = (signal: string): void => {
    if (ac.signal.aborted) process.exit(130)
    ac.abort(new Error(`stopped by ${signal}`))
  }
  const onInt = (): void => onSignal('SIGINT')
  const onTerm = (): void => onSignal('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  const display = new ProgressDisplay()
  const started = performance.now()
  try {
    await buildVault({
      path,
      identity: { fingerprint: args.fingerprint, publicKey: args.key },
      params,
      threadsHash: args.threadsHash,
      memoryBytes: args.buildMemory,
      signal: ac.signal,
      onProgress: (p) => display.show(p),
    })
  } catch (err) {
    display.end()
    if (ac.signal.aborted && err === ac.signal.reason) {
      out(`${(err as Error).message}: the vault keeps its last checkpoint; run pos_build again to resume`)
      process.exitCode = 130
      return
    }
    throw err
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
  }
  display.end()
  const seconds = (performance.now() - started) / 1000
  out(
    `Vault ${path} ready: ${(params.buckets * L.capacity).toLocaleString('en-US')} records, ${formatBytes(L.finalBytes)} in ${seconds.toFixed(1)} s`,
  )
}
