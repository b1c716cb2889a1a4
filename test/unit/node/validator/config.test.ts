// A validator's configuration: sizes, fingerprints, and the `validator`
// section of a DSC dsc-config.yaml, with errors that name the file and the
// field; YAML that would blow up (alias bombs, deep nesting) is refused.
import t from 'tap'
import fc from 'fast-check'
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  fingerprintToUuid,
  parseFingerprint,
  parseSize,
  ValidatorConfigError,
  validatorConfigFromYaml,
} from '../../../../node/validator/config.js'

const FP = '2d9ac3c5-7f1e-4b2a-9c4d-0123456789ab'
const KEY = `03${'ab'.repeat(32)}`

/**
 * A dsc-config.yaml as DSC ships it, with `enabled` the proofs switched on;
 * `set` replaces values (or adds keys) of the validator section, as written
 * in YAML: { 'proof_pom.memory': 'lots' }.
 */
function dscConfig(enabled: ReadonlyArray<'pow' | 'pom' | 'pos'>, set: Record<string, string> = {}): string {
  const on = (k: 'pow' | 'pom' | 'pos') => (enabled.includes(k) ? 'true' : 'false')
  const sections: Record<string, Record<string, string>> = {
    proof_pow: { enable: on('pow'), threads_hash: '2' },
    proof_pom: { enable: on('pom'), threads_hash: '4', memory: '1G' },
    proof_pos: {
      enable: on('pos'),
      threads_hash: '3',
      disk: '10G',
      buckets: '256',
      cup_size: '32768',
      cups_per_bucket: '40',
      threads_io: '1',
      vault: '~/dsc-pos.vault',
    },
  }
  const top: Record<string, string> = { fingerprint: FP, public_key: KEY }
  for (const [path, value] of Object.entries(set)) {
    const [a, b] = path.split('.') as [string, string | undefined]
    if (b === undefined) top[a] = value
    else sections[a]![b] = value
  }
  const lines = Object.entries(top).map(([k, v]) => `  ${k}: ${v}`)
  for (const [name, fields] of Object.entries(sections)) {
    lines.push(`  ${name}:`, ...Object.entries(fields).map(([k, v]) => `    ${k}: ${v}`))
  }
  return `# DataSys Coin configuration
wallet:
  public_key: ${KEY}
  private_key: ${'11'.repeat(32)}
pool:
  server: 127.0.0.1:10001
  threads: 2
blockchain:
  server: 127.0.0.1:10002
metronome:
  server: 127.0.0.1:10003
  difficulty: 30
validator:
${lines.join('\n')}
monitor:
  refresh: 1
`
}

t.test('sizes: binary units, with or without B/iB; anything else refused naming the field', async (t) => {
  const cases: Array<[unknown, number]> = [
    ['64M', 64 * 2 ** 20],
    ['1G', 2 ** 30],
    ['1GiB', 2 ** 30],
    ['512MB', 512 * 2 ** 20],
    ['4096', 4096],
    [4096, 4096],
    ['4096B', 4096],
    ['1.5g', 1.5 * 2 ** 30],
    [' 2 K ', 2048],
    ['1T', 2 ** 40],
  ]
  for (const [v, bytes] of cases) t.equal(parseSize(v, 'memory'), bytes, JSON.stringify(v))
  for (const bad of ['', '-1', '1X', 'abc', 0, '0', '0K', '1iB', '1e9', '0x10', 'G', '1.', null, undefined, true, {}, '9999999999T']) {
    t.throws(() => parseSize(bad, 'validator.proof_pom.memory'), ValidatorConfigError, `${JSON.stringify(bad)} refused`)
    t.throws(() => parseSize(bad, 'validator.proof_pom.memory'), { message: /^validator\.proof_pom\.memory: / }, 'naming the field')
  }
  t.throws(
    () => parseSize('x'.repeat(10_000), 'memory'),
    { message: /^memory: expected a size such as 256M or 1G, got "x{40}"$/ },
    'quoted short',
  )
})

t.test('fingerprints: a UUID or 32 hex digits, and back to the UUID DSC prints', async (t) => {
  t.equal(parseFingerprint(FP, 'fp').toString('hex'), FP.replace(/-/g, ''))
  t.equal(parseFingerprint(FP.toUpperCase(), 'fp').toString('hex'), FP.replace(/-/g, ''), 'upper case')
  t.equal(parseFingerprint(FP.replace(/-/g, ''), 'fp').toString('hex'), FP.replace(/-/g, ''), 'no dashes')
  t.equal(fingerprintToUuid(parseFingerprint(FP, 'fp')), FP)
  const hex = FP.replace(/-/g, '')
  for (const bad of [
    '',
    hex.slice(2),
    `${hex}00`,
    `${hex.slice(0, 7)}-${hex.slice(7)}`,
    `-${hex}`,
    hex.replace(/./g, '$&-'),
    'zz' + hex.slice(2),
    42,
    null,
  ]) {
    t.throws(
      () => parseFingerprint(bad, 'validator.fingerprint'),
      { name: 'ValidatorConfigError', message: /^validator\.fingerprint: expected a UUID/ },
      JSON.stringify(bad),
    )
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const uuid = fingerprintToUuid(bytes)
      return (
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid) &&
        parseFingerprint(uuid, 'fp').equals(Buffer.from(bytes)) &&
        parseFingerprint(uuid.toUpperCase(), 'fp').equals(Buffer.from(bytes)) &&
        parseFingerprint(uuid.replace(/-/g, ''), 'fp').equals(Buffer.from(bytes))
      )
    }),
  )
  fc.assert(fc.property(fc.uuid(), (uuid) => fingerprintToUuid(parseFingerprint(uuid, 'fp')) === uuid.toLowerCase()))
})

t.test('a full dsc-config.yaml: the one enabled proof, its sizes, the fingerprint and the key', async (t) => {
  const fingerprint = parseFingerprint(FP, 'fp')
  const publicKey = Buffer.from(KEY, 'hex')
  t.same(validatorConfigFromYaml(dscConfig(['pow']), 'dsc-config.yaml'), { search: { kind: 'pow', threads: 2 }, fingerprint, publicKey })
  t.same(validatorConfigFromYaml(dscConfig(['pom']), 'dsc-config.yaml'), {
    search: { kind: 'pom', threads: 4, memoryBytes: 2 ** 30 },
    fingerprint,
    publicKey,
  })
  t.same(
    validatorConfigFromYaml(dscConfig(['pos']), 'dsc-config.yaml'),
    {
      search: {
        kind: 'pos',
        threads: 3,
        diskBytes: 10 * 2 ** 30,
        buckets: 256,
        cupSize: 32_768,
        vaultPath: join(homedir(), 'dsc-pos.vault'),
      },
      fingerprint,
      publicKey,
    },
    "the vault's ~/ is the home directory",
  )
})

t.test('defaults: a section with only enable; no fingerprint or key; other vault paths as given', async (t) => {
  const only = (section: string, body = '') => `validator:\n  ${section}:\n    enable: true\n${body}`
  t.same(validatorConfigFromYaml(only('proof_pow'), 'f'), { search: { kind: 'pow', threads: 1 } })
  t.same(validatorConfigFromYaml(only('proof_pom'), 'f'), { search: { kind: 'pom', threads: 1, memoryBytes: 2 ** 30 } })
  t.same(validatorConfigFromYaml(only('proof_pos'), 'f'), {
    search: { kind: 'pos', threads: 1, diskBytes: 10 * 2 ** 30, buckets: 256, cupSize: 32_768 },
  })
  t.equal(
    (validatorConfigFromYaml(only('proof_pos', '    vault: /srv/v/pos.vault\n'), 'f').search as { vaultPath: string }).vaultPath,
    '/srv/v/pos.vault',
  )
  t.equal((validatorConfigFromYaml(only('proof_pos', '    vault: data/~x\n'), 'f').search as { vaultPath: string }).vaultPath, 'data/~x')
  t.same(
    validatorConfigFromYaml(
      'validator:\n  fingerprint: null\n  public_key: 0x' + KEY + '\n  proof_pow: {enable: true}\n  proof_pom: null\n',
      'f',
    ),
    { search: { kind: 'pow', threads: 1 }, publicKey: Buffer.from(KEY, 'hex') },
    'a null fingerprint is none; a key may carry 0x; a null section is off',
  )
  t.same(
    validatorConfigFromYaml('t: &t 3\nvalidator:\n  proof_pow:\n    enable: true\n    threads_hash: *t\n', 'f'),
    { search: { kind: 'pow', threads: 3 } },
    'an ordinary alias is fine',
  )
})

t.test('hex that YAML would read as a number is taken as written', async (t) => {
  const digits = '00112233445566778899001122334455'
  const key = `02${'12'.repeat(32)}`
  t.same(
    validatorConfigFromYaml(dscConfig(['pow'], { fingerprint: digits, public_key: key }), 'f'),
    { search: { kind: 'pow', threads: 2 }, fingerprint: Buffer.from(digits, 'hex'), publicKey: Buffer.from(key, 'hex') },
    'all-digit fingerprint and key',
  )
  t.same(
    validatorConfigFromYaml(dscConfig(['pow'], { public_key: `0x${KEY}` }), 'f').publicKey,
    Buffer.from(KEY, 'hex'),
    'a key written 0x03…, which YAML reads as a hex integer',
  )
  t.same(validatorConfigFromYaml(dscConfig(['pow'], { public_key: `"0x${KEY}"` }), 'f').publicKey, Buffer.from(KEY, 'hex'), 'or quoted')
  t.throws(() => validatorConfigFromYaml(dscConfig(['pow'], { fingerprint: '12345' }), 'f'), {
    message: /validator\.fingerprint: expected a UUID, got "12345"/,
  })
})

t.test('zero or two proofs enabled: an error that says how many', async (t) => {
  t.throws(() => validatorConfigFromYaml(dscConfig([]), 'dsc-config.yaml'), {
    name: 'ValidatorConfigError',
    message: 'dsc-config.yaml: validator: enable exactly one of proof_pow, proof_pom, proof_pos (0 enabled)',
  })
  t.throws(() => validatorConfigFromYaml(dscConfig(['pow', 'pos']), 'dsc-config.yaml'), {
    name: 'ValidatorConfigError',
    message: /enable exactly one of proof_pow, proof_pom, proof_pos \(2 enabled\)/,
  })
  t.throws(() => validatorConfigFromYaml(dscConfig(['pow', 'pom', 'pos']), 'f'), { message: /\(3 enabled\)/ })
})

t.test('not YAML, or no validator section: an error naming the file', async (t) => {
  for (const text of ['validator: [unclosed', 'validator:\n  proof_pow: {enable: true\n', 'a: 1\n a: 2\n\t- x', '---\na: 1\n---\nb: 2\n']) {
    t.throws(
      () => validatorConfigFromYaml(text, '/etc/dsc/dsc-config.yaml'),
      {
        name: 'ValidatorConfigError',
        message: /^\/etc\/dsc\/dsc-config\.yaml is not valid YAML: /,
      },
      JSON.stringify(text),
    )
  }
  for (const text of ['', 'just a string', '- a\n- b\n', 'wallet: {}\n', 'validator: 5\n', 'validator: [1, 2]\n']) {
    t.throws(
      () => validatorConfigFromYaml(text, 'f.yaml'),
      { name: 'ValidatorConfigError', message: 'f.yaml: no "validator" section' },
      JSON.stringify(text),
    )
  }
})

t.test('wrong types: the error names the field', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [
      dscConfig(['pow'], { 'proof_pow.threads_hash': 'x' }),
      /^f\.yaml: validator\.proof_pow\.threads_hash: expected an integer from 1 to 64, got "x"$/,
    ],
    [dscConfig(['pow'], { 'proof_pow.threads_hash': '0' }), /validator\.proof_pow\.threads_hash: expected an integer from 1 to 64, got 0/],
    [dscConfig(['pom'], { 'proof_pom.threads_hash': '2.5' }), /validator\.proof_pom\.threads_hash: expected an integer/],
    [
      dscConfig(['pom'], { 'proof_pom.memory': 'lots' }),
      /^f\.yaml: validator\.proof_pom\.memory: expected a size such as 256M or 1G, got "lots"$/,
    ],
    [dscConfig(['pom'], { 'proof_pom.memory': '0' }), /validator\.proof_pom\.memory: 0 is not a usable size/],
    [dscConfig(['pos'], { 'proof_pos.disk': '[10G]' }), /validator\.proof_pos\.disk: expected a size/],
    [dscConfig(['pos'], { 'proof_pos.buckets': 'many' }), /validator\.proof_pos\.buckets: expected an integer from 1 to 65536/],
    [dscConfig(['pos'], { 'proof_pos.cup_size': '-1' }), /validator\.proof_pos\.cup_size: expected an integer/],
    [dscConfig(['pos'], { 'proof_pos.vault': '""' }), /validator\.proof_pos\.vault: expected a path/],
    [dscConfig(['pos'], { 'proof_pos.vault': '7' }), /validator\.proof_pos\.vault: expected a path/],
    [
      'validator:\n  public_key: 02abc\n  proof_pow: {enable: true}\n',
      /^f\.yaml: validator\.public_key: expected a compressed public key \(66 hex digits\)$/,
    ],
    [
      `validator:\n  public_key: 04${'ab'.repeat(32)}\n  proof_pow: {enable: true}\n`,
      /validator\.public_key: expected a compressed public key/,
    ],
    [`validator:\n  public_key: ${KEY}00\n  proof_pow: {enable: true}\n`, /validator\.public_key/],
    ['validator:\n  public_key: [1]\n  proof_pow: {enable: true}\n', /validator\.public_key/],
    [
      'validator:\n  fingerprint: not-a-uuid\n  proof_pow: {enable: true}\n',
      /^f\.yaml: validator\.fingerprint: expected a UUID, got "not-a-uuid"$/,
    ],
    ['validator:\n  proof_pow: {enable: "yes"}\n', /^f\.yaml: validator\.proof_pow\.enable: expected true or false$/],
    ['validator:\n  proof_pow: {enable: true}\n  proof_pom: 1\n', /^f\.yaml: validator\.proof_pom: expected a mapping$/],
    ['validator:\n  proof_pow: [enable]\n', /validator\.proof_pow: expected a mapping/],
  ]
  for (const [text, message] of cases) {
    t.throws(() => validatorConfigFromYaml(text, 'f.yaml'), { name: 'ValidatorConfigError', message }, String(message))
  }
  t.throws(
    () => validatorConfigFromYaml(dscConfig(['pow'], { 'proof_pow.threads_hash': 'x'.repeat(100_000) }), 'f.yaml'),
    { message: /got "x{39}$/ },
    'a long bad value is cut short in the message',
  )
})

t.test('YAML that would blow up is refused quickly with a message, never a crash', async (t) => {
  // Billion laughs: nine levels of nine aliases each, 9^9 strings if expanded.
  let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
  let prev = 'a'
  for (const n of 'bcdefghi') {
    bomb += `${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]\n`
    prev = n
  }
  bomb += 'validator:\n  proof_pow:\n    enable: true\n'
  t.throws(() => validatorConfigFromYaml(bomb, 'bomb.yaml'), {
    name: 'ValidatorConfigError',
    message: /^bomb\.yaml is not valid YAML: Excessive alias count/,
  })
  const bombInSection = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${Array(10).fill('*a').join(', ')}]\nc: &c [${Array(10).fill('*b').join(', ')}]\nvalidator:\n  proof_pow: {enable: true, threads_hash: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}\n`
  t.throws(() => validatorConfigFromYaml(bombInSection, 'b.yaml'), { name: 'ValidatorConfigError', message: /^b\.yaml is not valid YAML/ })
  for (const deep of ['['.repeat(100_000), `validator: ${'{a: '.repeat(20_000)}`, `${'- '.repeat(20_000)}x`]) {
    t.throws(
      () => validatorConfigFromYaml(deep, 'deep.yaml'),
      { name: 'ValidatorConfigError', message: /^deep\.yaml/ },
      `${deep.slice(0, 8)}…`,
    )
  }
})
