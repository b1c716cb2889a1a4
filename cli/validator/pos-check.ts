// `bkc validator pos_check --vault FILE [--sample N]`: prints a vault's
// parameters, first and last five records and what the checks found.
// Exit 0 when sound, 1 when damaged or unfinished, 2 when the file cannot
// be read or is not a vault at all.
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { errno } from '../../lib/files.js'
import { checkVault, type EntryLine, type VaultCheckReport } from '../../node/validator/pos-check.js'
import { VaultFormatError } from '../../node/validator/pos-vault.js'
import { decimal, single, UsageError } from '../options.js'
import { formatBytes, formatUuid, stamp } from './flags.js'

export function posCheckOptions<T>(y: Argv<T>) {
  return y
    .option('vault', {
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: 'the vault file to check',
      coerce: single('vault', (v) => String(v)),
    })
    .option('sample', {
      type: 'string',
      requiresArg: true,
      default: 1000,
      describe: 'records to re-hash, picked at random (at least the record count: all of them)',
      coerce: single('sample', parseSample),
    })
}

export interface PosCheckArgs {
  vault: string
  sample: number
}

function parseSample(v: unknown): number {
  const n = decimal(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--sample must be a whole number of records (0 or more), got "${String(v)}"`)
  return n
}

const entryLine = (e: EntryLine): string => `  bucket ${e.bucket} #${e.index}  record ${e.record}  nonce ${e.nonce ?? 'invalid'}`
const count = (n: number): string => n.toLocaleString('en-US')

/** The report as printed (without stamps). */
export function formatCheckReport(r: VaultCheckReport): string[] {
  const p = r.params
  const lines = [
    `Vault ${r.path} (format ${r.version}): ${p.buckets} buckets × ${p.cupsPerBucket} cups × ${p.cupSize} records = ${count(p.records)} records, ` +
      `${formatBytes(p.dataBytes)} (file ${formatBytes(p.fileBytes)})`,
    `Fingerprint: ${formatUuid(Buffer.from(r.fingerprint, 'hex'))}`,
    `Public key: ${r.publicKey}`,
    `Build: ${r.phase}`,
  ]
  if (r.phase === 'done') {
    lines.push(`First ${r.first.length} records:`, ...r.first.map(entryLine), `Last ${r.last.length} records:`, ...r.last.map(entryLine))
    const ov = r.orderViolations
    lines.push(
      ov.count === 0
        ? `Order: all ${p.buckets} buckets sorted`
        : `Order: ${count(ov.count)} entries out of order in ${ov.buckets.length} buckets`,
    )
    lines.push(
      r.misplaced.count === 0 ? 'Buckets: every record in its bucket' : `Buckets: ${count(r.misplaced.count)} records in the wrong bucket`,
    )
    const wrong = r.sample.wrongRecords.count
    lines.push(
      wrong === 0
        ? `Re-hash: ${count(r.sample.checked)} records match their nonces`
        : `Re-hash: ${count(wrong)} of ${count(r.sample.checked)} records do not match their nonces`,
    )
  }
  for (const problem of r.problems) lines.push(`Problem: ${problem}`)
  lines.push(r.ok ? 'pos_check: OK' : `pos_check: FAILED (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`)
  return lines
}

function print(lines: readonly string[]): void {
  for (const line of lines) process.stdout.write(`${stamp()} ${line}\n`)
}

export async function runPosCheck(args: PosCheckArgs): Promise<void> {
  const path = resolve(args.vault)
  const tty = process.stderr.isTTY === true
  let lastDraw = 0
  let report: VaultCheckReport
  try {
    report = await checkVault(path, {
      sample: args.sample,
      onProgress: (done, total) => {
        const now = Date.now()
        if (!tty || now - lastDraw < 200) return
        lastDraw = now
        process.stderr.write(`\rchecking ${((100 * done) / total).toFixed(1)}%`)
      },
    })
  } catch (err) {
    if (err instanceof VaultFormatError) {
      if (err.code === 'NOT_A_VAULT') throw new UsageError(`--vault ${path}: ${err.message}`)
      print([`Vault ${path}: ${err.message}`, 'pos_check: FAILED (1 problem)'])
      throw new Error(`vault check failed: ${err.message}`)
    }
    const code = errno(err)
    if (code !== undefined) throw new UsageError(`--vault ${path}: cannot read it (${code})`)
    throw err
  } finally {
    if (tty && lastDraw > 0) process.stderr.write('\r\x1b[K')
  }
  print(formatCheckReport(report))
  if (!report.ok) throw new Error(`vault check failed: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`)
}
