// `bkc validator pos_check` and `pos_build` through the real binary
// (dist/bin/bkc.js): exit codes (0 sound, 1 damaged, 2 usage or unreadable),
// the printed report, and a build killed with SIGKILL that resumes to the
// same vault a clean build writes.
import t from 'tap'
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { buildVault } from '../../node/validator/pos-build.js'
import { VaultFile } from '../../node/validator/pos-vault-file.js'
import { regionOffset, vaultLayout, type VaultParams } from '../../node/validator/pos-vault.js'
import { BKC_BIN, runBkc, sleep, spawnBkc, stopProcess, testDir } from '../helpers/node-fixtures.js'

if (!existsSync(BKC_BIN)) throw new Error(`${BKC_BIN} is missing: build first (npm test runs tsc)`)

const FINGERPRINT = '00112233-4455-6677-8899-aabbccddeeff'
const KEY = `02${'5a'.repeat(32)}`
const identity = { fingerprint: Buffer.from(FINGERPRINT.replaceAll('-', ''), 'hex'), publicKey: Buffer.from(KEY, 'hex') }
const TINY: VaultParams = { buckets: 16, cupSize: 64, cupsPerBucket: 4 }
const STAMP = /^\d{8} \d{2}:\d{2}:\d{2}\.\d{3} /

const buildArgs = (vault: string, p: VaultParams): string[] => [
  'validator',
  'pos_build',
  '--vault',
  vault,
  '--fingerprint',
  FINGERPRINT,
  '--key',
  KEY,
  '--buckets',
  String(p.buckets),
  '--cup-size',
  String(p.cupSize),
  '--cups-per-bucket',
  String(p.cupsPerBucket),
]

function flip(path: string, offset: number, mask: number): void {
  const fd = openSync(path, 'r+')
  const b = Buffer.alloc(1)
  readSync(fd, b, 0, 1, offset)
  b[0]! ^= mask
  writeSync(fd, b, 0, 1, offset)
  closeSync(fd)
}

t.test('pos_build then pos_check: the report, exit 0', async (t) => {
  const dir = testDir(t, 'bkc-pos-cli-')
  const vault = join(dir, 'v.vault')
  const built = await runBkc(buildArgs(vault, TINY), { cwd: dir })
  t.equal(built.code, 0, built.stderr)
  t.match(built.stdout, /Vault .*v\.vault ready: 4,096 records/)
  const r = await runBkc(['validator', 'pos_check', '--vault', vault, '--sample', '5000'], { cwd: dir })
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  t.ok(
    lines.every((l) => STAMP.test(l)),
    'every line stamped',
  )
  const text = lines.map((l) => l.replace(STAMP, '')).join('\n')
  t.match(text, /16 buckets × 4 cups × 64 records = 4,096 records/)
  t.match(text, `Fingerprint: ${FINGERPRINT}`)
  t.match(text, `Public key: ${KEY}`)
  t.match(
    text,
    /First 5 records:\n( {2}bucket 0 #\d {2}record [0-9a-f]{48} {2}nonce \d+\n){5}Last 5 records:\n( {2}bucket 15 #25\d {2}record [0-9a-f]{48} {2}nonce \d+\n){5}/,
  )
  t.match(text, /Order: all 16 buckets sorted/)
  t.match(text, /Re-hash: 4,096 records match their nonces/)
  t.match(text, /pos_check: OK$/)
})

t.test('a damaged vault: exit 1 with what is wrong', async (t) => {
  const dir = testDir(t, 'bkc-pos-cli-')
  const L = vaultLayout(TINY)
  const data = join(dir, 'data.vault')
  await buildVault({ path: data, identity, params: TINY, threadsHash: 0 })
  flip(data, regionOffset(L, 6) + 40 * 32, 0x80)
  const r = await runBkc(['validator', 'pos_check', '--vault', data], { cwd: dir })
  t.equal(r.code, 1)
  t.match(r.stdout, /Problem: 1 entries in the wrong bucket: bucket 6 #40/)
  t.match(r.stdout, /pos_check: FAILED/)
  t.match(r.stderr, /bkc: error: vault check failed/)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')

  const header = join(dir, 'header.vault')
  await buildVault({ path: header, identity, params: TINY, threadsHash: 0 })
  flip(header, 20, 0x01)
  const h = await runBkc(['validator', 'pos_check', '--vault', header], { cwd: dir })
  t.equal(h.code, 1)
  t.match(h.stdout, /vault header damaged: its checksum does not match/)
  t.notMatch(h.stderr, /\n\s+at /, 'no stack trace')
})

t.test('usage errors and unreadable files: exit 2', async (t) => {
  const dir = testDir(t, 'bkc-pos-cli-')
  const text = join(dir, 'notes.txt')
  writeFileSync(text, 'not a vault\n')
  const cases: Array<[string[], RegExp]> = [
    [['validator'], /give a validator command/],
    [['validator', 'pos_check'], /Missing required argument: vault/],
    [['validator', 'pos_check', '--vault', text, '--sample', 'many'], /--sample must be a whole number/],
    [['validator', 'pos_check', '--vault', join(dir, 'missing.vault')], /cannot read it \(ENOENT\)/],
    [['validator', 'pos_check', '--vault', text], /not a vault/],
    [['validator', 'pos_check', '--vault', dir], /cannot read it \(EISDIR\)|is not a regular file/],
    [
      ['validator', 'pos_build', '--vault', join(dir, 'x'), '--fingerprint', 'nope', '--key', KEY, '--disk', '1M'],
      /--fingerprint must be a UUID/,
    ],
    [
      ['validator', 'pos_build', '--vault', join(dir, 'x'), '--fingerprint', FINGERPRINT, '--key', '02ab', '--disk', '1M'],
      /--key must be a compressed public key/,
    ],
    [
      ['validator', 'pos_build', '--vault', join(dir, 'x'), '--fingerprint', FINGERPRINT, '--key', KEY, '--disk', 'lots'],
      /--disk must be a size/,
    ],
    [['validator', 'pos_build', '--vault', join(dir, 'x'), '--fingerprint', FINGERPRINT, '--key', KEY], /give --disk SIZE, or all of/],
    [
      ['validator', 'pos_build', '--vault', join(dir, 'x'), '--fingerprint', FINGERPRINT, '--key', KEY, '--disk', '1M', '--buckets', '3'],
      /power of two/,
    ],
  ]
  for (const [args, message] of cases) {
    const r = await runBkc(args, { cwd: dir })
    t.equal(r.code, 2, `${args.slice(1).join(' ')}: exit 2`)
    t.match(r.stderr, message, `${args.slice(1).join(' ')}: says what is wrong`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  t.notOk(existsSync(join(dir, 'x')), 'no vault was created')
  t.equal(readFileSync(text, 'utf8'), 'not a vault\n')
})

t.test('a build killed with SIGKILL resumes to the vault a clean build writes', async (t) => {
  const dir = testDir(t, 'bkc-pos-cli-')
  // Rounds of 16 × 4096 nonces: dozens of checkpoints before the fill is done.
  const params: VaultParams = { buckets: 16, cupSize: 4096, cupsPerBucket: 16 }
  const vault = join(dir, 'killed.vault')
  // Two phases (--build-memory 0): the fill checkpoints every round, so there is a middle to kill in.
  const proc = spawnBkc([...buildArgs(vault, params), '--build-memory', '0'], { cwd: dir })
  t.teardown(() => stopProcess(proc))
  let phase = ''
  for (let i = 0; i < 600 && !proc.hasExited(); i++) {
    await sleep(50)
    const f = await VaultFile.open(vault, false).catch(() => null)
    if (f === null) continue
    const p = f.progress
    await f.close()
    phase = p.phase
    if (p.phase === 'fill' && p.nextNonce > 0) break
  }
  t.equal(phase, 'fill', 'killed mid-fill, after a checkpoint')
  proc.child.kill('SIGKILL')
  await proc.exited
  const resumed = await runBkc(buildArgs(vault, params), { cwd: dir, timeoutMs: 120_000 })
  t.equal(resumed.code, 0, resumed.stderr)
  const clean = join(dir, 'clean.vault')
  await buildVault({ path: clean, identity, params, threadsHash: 1 })
  const offset = vaultLayout(params).dataOffset
  t.ok(readFileSync(vault).subarray(offset).equals(readFileSync(clean).subarray(offset)), 'the same records')
  const check = await runBkc(['validator', 'pos_check', '--vault', vault], { cwd: dir, timeoutMs: 60_000 })
  t.equal(check.code, 0, check.stdout)
})
