// Every numeric flag of every command refuses what is not a decimal number
// with a message that echoes what the user typed (yargs' own number parsing
// would have turned "abc" into NaN before the flag's check saw it).
import t from 'tap'
import yargs, { type Argv } from 'yargs'
import { devnetOptions } from '../../../cli/devnet/command.js'
import { simulatorOptions } from '../../../cli/simulator/command.js'
import { startOptions } from '../../../cli/start/command.js'
import { vpnOptions } from '../../../cli/vpn/command.js'

type Builder = (y: Argv) => Argv

/** The usage error yargs reports for `args`, or null when they parse. */
function usageError(builder: Builder, args: string[]): string | null {
  let message: string | null = null
  builder(yargs(args))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      message = err?.message ?? msg
    })
    .parseSync()
  return message
}

const commands: Array<[string, Builder, string[], string[]]> = [
  ['start', startOptions as Builder, [], ['port', 'rpc-port', 'max-outbound', 'max-peers', 'miner-threads', 'max-pool', 'im-port', 'mtu']],
  ['vpn', vpnOptions as Builder, ['--ip', '192.168.53.5', '--im-addr', '127.0.0.1'], ['im-port', 'mtu']],
  ['simulator', simulatorOptions as Builder, [], ['port', 'max-clients', 'rate-limit', 'stats-port']],
  ['devnet', devnetOptions as Builder, [], ['nodes', 'base-port']],
]

t.test('a value that is not a decimal number is echoed back as typed', async (t) => {
  for (const [command, builder, base, flags] of commands) {
    for (const flag of flags) {
      for (const typed of ['abc', '0x10', '1e3', '-1', '2.5']) {
        const message = usageError(builder, [...base, `--${flag}`, typed])
        t.match(message, new RegExp(`^--${flag} must be .*got "${typed.replace('.', '\\.')}"$`), `${command} --${flag} ${typed}`)
      }
    }
  }
})

t.test('a numeric flag without a value is an error, not its default', async (t) => {
  for (const [command, builder, base, flags] of commands) {
    for (const flag of flags) t.match(usageError(builder, [...base, `--${flag}`]), /Not enough arguments following/, `${command} --${flag}`)
  }
})

t.test('decimal values still parse', async (t) => {
  t.equal(usageError(startOptions as Builder, ['--port', '5556', '--rpc-port', '0', '--max-peers', '12']), null)
  t.equal(usageError(devnetOptions as Builder, ['--nodes', '3', '--miners', '2', '--base-port', '6000']), null)
})
