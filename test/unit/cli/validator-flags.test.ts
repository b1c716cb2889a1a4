// The validator commands' flag values: sizes, fingerprints, keys, and which
// combinations of size flags make vault parameters.
import t from 'tap'
import { formatUuid, parseFingerprint, parsePublicKey, parseSize, stamp } from '../../../cli/validator/flags.js'
import { paramsFromFlags } from '../../../cli/validator/pos-build.js'
import { UsageError } from '../../../cli/options.js'

t.test('sizes in binary units', async (t) => {
  const size = parseSize('disk')
  t.equal(size('64M'), 64 * 1024 ** 2)
  t.equal(size('1G'), 1024 ** 3)
  t.equal(size('10GiB'), 10 * 1024 ** 3)
  t.equal(size('1.5g'), 1.5 * 1024 ** 3)
  t.equal(size('512k'), 512 * 1024)
  t.equal(size('4096'), 4096)
  for (const bad of ['', 'lots', '-1G', '0', '1X', '1e9', '0x10']) t.throws(() => size(bad), UsageError, `"${bad}"`)
})

t.test('fingerprints: a UUID or 32 hex digits; keys: 66 hex digits from 02/03', async (t) => {
  const fp = parseFingerprint('fingerprint')
  const hex = '00112233445566778899aabbccddeeff'
  t.equal(fp('00112233-4455-6677-8899-AABBCCDDEEFF').toString('hex'), hex)
  t.equal(fp(hex).toString('hex'), hex)
  t.equal(formatUuid(fp(hex)), '00112233-4455-6677-8899-aabbccddeeff')
  for (const bad of ['', hex.slice(2), `${hex}00`, '0011223-34455-6677-8899-aabbccddeeff', 'zz112233445566778899aabbccddeeff']) {
    t.throws(() => fp(bad), /--fingerprint must be a UUID or 32 hex digits/, `"${bad}"`)
  }
  const key = parsePublicKey('key')
  t.equal(key(`03${'ab'.repeat(32)}`).length, 33)
  for (const bad of [`04${'ab'.repeat(32)}`, `02${'ab'.repeat(31)}`, 'ab'.repeat(33)])
    t.throws(() => key(bad), /--key must be a compressed public key/)
})

t.test('vault parameters from --disk or from all three shape flags', async (t) => {
  t.same(paramsFromFlags({ disk: 10 * 1024 ** 3 }), { buckets: 256, cupSize: 32_768, cupsPerBucket: 40 })
  t.same(paramsFromFlags({ disk: 64 * 1024 ** 2, buckets: 16 }), { buckets: 16, cupSize: 32_768, cupsPerBucket: 4 })
  t.same(paramsFromFlags({ buckets: 16, cupSize: 64, cupsPerBucket: 4 }), { buckets: 16, cupSize: 64, cupsPerBucket: 4 })
  t.throws(() => paramsFromFlags({}), /give --disk SIZE, or all of --buckets, --cup-size and --cups-per-bucket/)
  t.throws(() => paramsFromFlags({ buckets: 16, cupSize: 64 }), /all of --buckets/)
  t.throws(() => paramsFromFlags({ disk: 1024 ** 3, cupsPerBucket: 4 }), /not both/)
  t.throws(() => paramsFromFlags({ buckets: 12, cupSize: 64, cupsPerBucket: 4 }), UsageError)
  t.throws(() => paramsFromFlags({ disk: 10 }), /cannot hold one record/)
})

t.test("lines carry DataSys Coin's stamp", async (t) => {
  t.equal(stamp(new Date(2025, 2, 14, 9, 26, 53, 589)), '20250314 09:26:53.589')
})
