// `bkc validator …`: DataSys Coin validator tools. For now the proof-of-space
// vault's pos_check and pos_build.
import type { Argv } from 'yargs'
import { posBuildOptions, runPosBuild, type PosBuildArgs } from './pos-build.js'
import { posCheckOptions, runPosCheck, type PosCheckArgs } from './pos-check.js'

/** Wraps a command's work so main.ts can tell runtime failures from usage errors. */
export type RunCommand = (fn: () => Promise<void>) => () => Promise<void>

export function validatorCommands<T>(y: Argv<T>, run: RunCommand) {
  return y
    .command('pos_check', "check a proof-of-space vault: parameters, first/last records, order, records' hashes", posCheckOptions, (argv) =>
      run(() => runPosCheck(argv as unknown as PosCheckArgs))(),
    )
    .command(
      'pos_build',
      'build or resume a proof-of-space vault (--disk SIZE, or --buckets --cup-size --cups-per-bucket)',
      posBuildOptions,
      (argv) => run(() => runPosBuild(argv as unknown as PosBuildArgs))(),
    )
    .demandCommand(1, 'give a validator command, e.g. bkc validator pos_check --vault FILE')
}
