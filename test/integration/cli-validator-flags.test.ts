// `bkc start`'s validator flags through the real binary (dist/bin/bkc.js):
// refused combinations and values exit 2 with a message and create nothing;
// a good one starts a slots node that reports its engine.
import t, { type Test } from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../bench/lib/fixtures.js'
import { BKC_BIN, randomLoopbackOctet, rpcResult, runBkc, spawnBkc, stopProcess, waitForReady } from '../helpers/node-fixtures.js'

if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)

const prefix = `127.${randomLoopbackOctet()}`
let nextHost = 1
const host = (): string => `${prefix}.57.${nextHost++}`

const POM_YAML = 'validator:\n  proof_pom:\n    enable: true\n    threads_hash: 1\n    memory: 64M\n'

function workDir(t: Test): string {
  const tmp = tempDir('bkc-cli-validator-')
  t.teardown(tmp.cleanup)
  writeFileSync(join(tmp.path, 'f.yaml'), POM_YAML)
  writeFileSync(join(tmp.path, 'none.yaml'), 'validator:\n  proof_pow:\n    enable: false\n')
  writeFileSync(join(tmp.path, 'bad.yaml'), 'validator: [unclosed\n')
  writeFileSync(join(tmp.path, 'types.yaml'), 'validator:\n  proof_pom:\n    enable: true\n    memory: lots\n')
  return tmp.path
}

t.test('refused validator flags: exit 2, a message saying what is wrong, nothing created', async (t) => {
  const dir = workDir(t)
  const data = join(dir, 'data')
  const base = ['start', '--listen', host(), '--rpc-port', '0', '--data-dir', data]
  const cases: Array<[string[], RegExp]> = [
    [['--validator', 'pom'], /--validator and --validator-config are for slots networks; devnet uses the work engine/],
    [['--validator', 'pos', '--network', 'devnet'], /are for slots networks; devnet uses the work engine/],
    [['--validator-config', 'f.yaml'], /are for slots networks; devnet uses the work engine/],
    [['--network', 'dsc', '--validator', 'bogus'], /--validator must be pow, pom or pos, got "bogus"/],
    [['--validator', 'bogus'], /--validator must be pow, pom or pos, got "bogus"/],
    [['--network', 'dsc', '--validator', 'pom', '--validator-config', 'f.yaml'], /give --validator or --validator-config, not both/],
    [['--network', 'dsc', '--validator-config', 'missing.yaml'], /--validator-config: cannot read missing\.yaml: ENOENT/],
    [['--network', 'dsc', '--validator-config', 'bad.yaml'], /bad\.yaml is not valid YAML/],
    [
      ['--network', 'dsc', '--validator-config', 'none.yaml'],
      /none\.yaml: validator: enable exactly one of proof_pow, proof_pom, proof_pos \(0 enabled\)/,
    ],
    [['--network', 'dsc', '--validator-config', 'types.yaml'], /types\.yaml: validator\.proof_pom\.memory: expected a size/],
    [['--network', 'dsc', '--validator', 'pom', '--memory', '12Q'], /--memory: expected a size such as 256M or 1G, got "12Q"/],
    [['--memory', '12Q'], /--memory: expected a size such as 256M or 1G, got "12Q"/],
    [['--network', 'dsc', '--validator', 'pos', '--disk', '0'], /--disk: 0 is not a usable size/],
    [['--network', 'dsc', '--validator', 'pow', '--threads-hash', '0'], /--threads-hash must be an integer from 1 to 64/],
    [['--network', 'dsc', '--validator', 'pow', '--validator', 'pom'], /--validator was given 2 times/],
    [['--network', 'dsc', '--validator'], /--validator must be pow, pom or pos/],
  ]
  for (const [flags, message] of cases) {
    const r = await runBkc([...base, ...flags], { cwd: dir })
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`)
    t.match(r.stderr, message, `${flags.join(' ')}: says what is wrong`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
    t.notOk(existsSync(data), 'no data directory was created')
  }
})

t.test('--network dsc --validator-config f.yaml: the node starts on the slots engine', async (t) => {
  const dir = workDir(t)
  const proc = spawnBkc(
    ['start', '--listen', host(), '--rpc-port', '0', '--data-dir', join(dir, 'data'), '--network', 'dsc', '--validator-config', 'f.yaml'],
    {
      cwd: dir,
    },
  )
  t.teardown(() => stopProcess(proc))
  const url = await waitForReady(proc, 20_000)
  const status = await rpcResult<Record<string, unknown>>(url, 'getStatus')
  t.match(status, { engine: 'slots', proofType: null, mining: false, slotMs: Number, slot: Number, tipSlot: Number })
  await stopProcess(proc)
  t.equal((await proc.exited).code, 0)
})
