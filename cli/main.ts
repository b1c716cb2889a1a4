// The bkc command line: yargs subcommands, usage errors (exit 2) apart from
// runtime failures (exit 1).
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { runStart, startOptions, type StartArgs } from './start/command.js'
import { devnetOptions, runDevnet, type DevnetArgs } from './devnet/command.js'
import { runSimulator, simulatorOptions, type SimulatorArgs } from './simulator/command.js'
import { UsageError } from './options.js'
import { runVpn, vpnOptions, type VpnArgs } from './vpn/command.js'
import { validatorCommands } from './validator/command.js'

function fail(message: string, exitCode: number): never {
  process.stderr.write(`bkc: ${message}\n`)
  process.exit(exitCode)
}

async function main(): Promise<void> {
  // Errors from a running command are runtime failures (exit 1); anything
  // yargs reports while parsing is a usage error (exit 2).
  let runtimeError: Error | null = null
  const run = (fn: () => Promise<void>) => async (): Promise<void> => {
    try {
      await fn()
    } catch (err) {
      runtimeError = err as Error
    }
  }
  await yargs(hideBin(process.argv))
    .scriptName('bkc')
    .usage('$0 <command> [options]')
    .command('start', 'run a node (JSON-RPC on --listen:--rpc-port)', startOptions, (argv) =>
      run(() => runStart(argv as unknown as StartArgs))(),
    )
    .command('devnet', 'run a local network: nodes on 127.0.53.5, 127.0.54.5, … as separate processes', devnetOptions, (argv) =>
      run(() => runDevnet(argv as unknown as DevnetArgs))(),
    )
    .command('simulator', "run the internet simulator: relays VPN clients' 192.168.x.y packets", simulatorOptions, (argv) =>
      run(() => runSimulator(argv as unknown as SimulatorArgs))(),
    )
    .command('vpn', 'run the VPN client alone: a TUN with --ip, tunnelled to the simulator (root or CAP_NET_ADMIN)', vpnOptions, (argv) =>
      run(() => runVpn(argv as unknown as VpnArgs))(),
    )
    .command('validator', 'DataSys Coin validator tools: pos_check, pos_build', (y) => validatorCommands(y, run))
    .demandCommand(1, 'give a command, e.g. bkc start --listen 127.0.53.5')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .fail((msg, err) => {
      fail(`${err?.message ?? msg}\nRun 'bkc --help' or 'bkc <command> --help' for usage.`, 2)
    })
    .parseAsync()
  if (runtimeError) throw runtimeError
}

main().catch((err: Error) => {
  if (err instanceof UsageError) fail(`${err.message}\nRun 'bkc --help' for usage.`, 2)
  fail(`error: ${err.message}`, 1)
})
