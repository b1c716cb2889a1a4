import t from 'tap'
import fc from 'fast-check'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { Keystore, KeystoreError, parseKeystoreFile, DEFAULT_KDF, type KeystoreErrorCode } from '../../../node/keystore.js'
import { addressFromPrivateKey, generateKeyPair } from '../../../protocol/chain/keys.js'
import { toHex } from '../../../protocol/wire/bytes.js'

// Small scrypt cost so the suite stays quick; one test below uses the defaults.
const FAST = { kdf: { N: 1024, r: 8, p: 1 } }

/** Resolves to the KeystoreError code the promise rejects with; fails on any other outcome. */
async function codeOf(p: Promise<unknown>): Promise<KeystoreErrorCode | string> {
  try {
    await p
  } catch (err) {
    if (err instanceof KeystoreError) return err.code
    return `not a KeystoreError: ${String(err)}`
  }
  return 'resolved'
}

function fileOf(dir: string, name: string): string {
  return join(dir, `${name}.json`)
}

async function readJson(path: string): Promise<Record<string, any>> {
  return JSON.parse(await fsp.readFile(path, 'utf8'))
}

t.test('create then unlock round-trips the key', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(join(dir, 'keystore'), FAST)
  const { address } = await ks.create('alice', '123')
  t.match(address, /^0[23][0-9a-f]{64}$/)
  const unlocked = await ks.unlock('alice', '123')
  t.equal(unlocked.address, address)
  t.equal(unlocked.privateKey.length, 32)
  t.equal(toHex(addressFromPrivateKey(unlocked.privateKey)), address)
  const file = await readJson(fileOf(join(dir, 'keystore'), 'alice'))
  t.same(Object.keys(file).sort(), ['address', 'cipher', 'ciphertext', 'kdf', 'name', 'nonce', 'version'])
  t.match(file, { version: 1, name: 'alice', address, cipher: 'xsalsa20-poly1305', kdf: { name: 'scrypt', N: 1024, r: 8, p: 1 } })
  t.match(file.kdf.salt, /^[0-9a-f]{32}$/)
  t.match(file.nonce, /^[0-9a-f]{48}$/)
})

t.test('default scrypt parameters work and are recorded in the file', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir)
  const { address } = await ks.create('bob', 'correct horse')
  const file = await readJson(fileOf(dir, 'bob'))
  t.match(file.kdf, { N: DEFAULT_KDF.N, r: DEFAULT_KDF.r, p: DEFAULT_KDF.p })
  t.equal(DEFAULT_KDF.N, 2 ** 15)
  const unlocked = await ks.unlock('bob', 'correct horse')
  t.equal(unlocked.address, address)
  t.equal(await codeOf(ks.unlock('bob', 'wrong horse')), 'WRONG_PASSWORD')
})

t.test('two keys created under the same password get different salts and nonces', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  await ks.create('a', 'pw')
  await ks.create('b', 'pw')
  const a = await readJson(fileOf(dir, 'a'))
  const b = await readJson(fileOf(dir, 'b'))
  t.not(a.kdf.salt, b.kdf.salt)
  t.not(a.nonce, b.nonce)
  t.not(a.address, b.address)
})

t.test('wrong password', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  await ks.create('alice', '123')
  const err = await ks.unlock('alice', '1234').catch((e) => e)
  t.ok(err instanceof KeystoreError)
  t.equal(err.code, 'WRONG_PASSWORD')
  t.equal(err.message, 'wrong password for account "alice"')
})

t.test('unknown account', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  t.equal(await codeOf(ks.unlock('nobody', 'pw')), 'ACCOUNT_NOT_FOUND')
  // A keystore directory that does not exist yet behaves like an empty one.
  const fresh = new Keystore(join(dir, 'missing', 'keystore'), FAST)
  t.equal(await codeOf(fresh.unlock('nobody', 'pw')), 'ACCOUNT_NOT_FOUND')
  await t.rejects(fsp.stat(join(dir, 'missing')), { code: 'ENOENT' }, 'unlock creates no directory')
  t.same(await fsp.readdir(dir), [], 'nor any file')
})

t.test('an existing account is never overwritten', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  const { address } = await ks.create('alice', '123')
  const before = await fsp.readFile(fileOf(dir, 'alice'))
  const err = await ks.create('alice', 'other').catch((e) => e)
  t.equal(err.code, 'ACCOUNT_EXISTS')
  t.equal(err.message, 'account "alice" already exists')
  t.equal(await codeOf(new Keystore(dir, FAST).create('alice', 'third')), 'ACCOUNT_EXISTS', 'also from another instance')
  t.same(await fsp.readFile(fileOf(dir, 'alice')), before, 'same bytes')
  t.equal((await ks.unlock('alice', '123')).address, address)
  t.same(await fsp.readdir(dir), ['alice.json'], 'no temp file left behind')
})

t.test('two concurrent creates of one name: exactly one wins', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  for (let round = 0; round < 5; round++) {
    const name = `racer${round}`
    const results = await Promise.allSettled([
      ks.create(name, 'one'),
      ks.create(name, 'two'),
      new Keystore(dir, FAST).create(name, 'three'),
    ])
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ address: string }>[]
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    t.equal(won.length, 1, 'one create succeeds')
    t.same(
      lost.map((r) => r.reason.code),
      ['ACCOUNT_EXISTS', 'ACCOUNT_EXISTS'],
    )
    const winner = ['one', 'two', 'three'][results.findIndex((r) => r.status === 'fulfilled')]!
    t.equal((await ks.unlock(name, winner)).address, won[0]!.value.address, 'the stored key is the winner’s')
  }
  t.same(
    (await fsp.readdir(dir)).filter((f) => f.startsWith('.')),
    [],
    'no temp files left behind',
  )
})

t.test('invalid names are refused before touching the disk', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(join(dir, 'keystore'), FAST)
  const bad = ['../x', 'a/b', '.hidden', '', 'x'.repeat(65), 'a\\b', 'a b', 'ä', 'a\0b', '..', '.', 'a\n']
  for (const name of bad) {
    t.equal(await codeOf(ks.create(name, 'pw')), 'INVALID_NAME', JSON.stringify(name))
    t.equal(await codeOf(ks.unlock(name, 'pw')), 'INVALID_NAME', JSON.stringify(name))
  }
  t.equal(await codeOf(ks.create(42 as unknown as string, 'pw')), 'INVALID_NAME')
  await t.rejects(fsp.stat(join(dir, 'keystore')), { code: 'ENOENT' }, 'directory not created')
  for (const name of ['a', 'x'.repeat(64), 'A-b_c.d', '0', 'a..b', 'trailing.']) {
    t.ok((await ks.create(name, 'pw')).address, `accepts ${JSON.stringify(name)}`)
  }
})

t.test('invalid passwords', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  t.equal(await codeOf(ks.create('a', '')), 'INVALID_PASSWORD')
  t.equal(await codeOf(ks.create('a', 'x'.repeat(1025))), 'INVALID_PASSWORD')
  t.equal(await codeOf(ks.create('a', undefined as unknown as string)), 'INVALID_PASSWORD')
  t.equal(await codeOf(ks.unlock('a', '')), 'INVALID_PASSWORD')
  t.ok(await ks.create('a', 'x'.repeat(1024)))
  t.ok(await ks.create('b', '123'), 'no strength rule')
  const c = await ks.create('c', 'pässwörd "quoted" \\ \n')
  t.equal((await ks.unlock('c', 'pässwörd "quoted" \\ \n')).address, c.address)
  // Passwords are NFC-normalised: the same text typed on terminals that
  // compose differently opens the account.
  await ks.create('d', 'caf\u00e9')
  t.ok(await ks.unlock('d', 'cafe\u0301'))
})

t.test('the private key never reaches the file in the clear', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  await ks.create('sealed', 'pw')
  const { privateKey } = await ks.unlock('sealed', 'pw')
  const privHex = toHex(privateKey)
  const bytes = await fsp.readFile(fileOf(dir, 'sealed'))
  t.notOk(bytes.toString('latin1').toLowerCase().includes(privHex), 'no private key hex in the file')
  t.notOk(bytes.includes(privateKey), 'no raw private key bytes in the file')
  t.notOk(bytes.toString('latin1').includes(privateKey.toString('base64')), 'no base64 private key in the file')
})

t.test('file is 0600 and directory 0700', { skip: process.platform === 'win32' }, async (t) => {
  const dir = join(t.testdir(), 'data', 'keystore')
  const ks = new Keystore(dir, FAST)
  await ks.create('alice', 'pw')
  t.equal((await fsp.stat(dir)).mode & 0o777, 0o700)
  t.equal((await fsp.stat(fileOf(dir, 'alice'))).mode & 0o777, 0o600)
})

t.test('a damaged file still holds its name: create refuses it and leaves it for the user to inspect', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  const a = await ks.create('alice', 'pw')
  await fsp.writeFile(join(dir, 'broken.json'), '{')
  await fsp.mkdir(join(dir, 'subdir.json'))
  await fsp.symlink(join(dir, 'nowhere'), join(dir, 'dangling.json'))
  for (const name of ['broken', 'subdir', 'dangling']) {
    t.equal(await codeOf(ks.unlock(name, 'pw')), 'CORRUPT_FILE', `unlock ${name}`)
    t.equal(await codeOf(ks.create(name, 'pw')), 'ACCOUNT_EXISTS', `create ${name}`)
  }
  t.equal(await fsp.readFile(join(dir, 'broken.json'), 'utf8'), '{', 'the damaged file is untouched')
  t.same((await fsp.readdir(dir)).sort(), ['alice.json', 'broken.json', 'dangling.json', 'subdir.json'], 'no temp file left behind')
  t.equal((await ks.unlock('alice', 'pw')).address, a.address, 'the sound account still opens')
})

t.test('constructor refuses unusable scrypt parameters', async (t) => {
  for (const kdf of [
    { N: 1000, r: 8, p: 1 },
    { N: 2 ** 21, r: 8, p: 1 },
    { N: 1024, r: 0, p: 1 },
    { N: 1024, r: 8, p: 0 },
    { N: 1, r: 8, p: 1 },
    { N: 2 ** 20, r: 8, p: 2 },
    { N: 2 ** 20, r: 9, p: 1 },
    { N: 1024, r: 1.5, p: 1 },
  ]) {
    t.throws(() => new Keystore('/nonexistent', { kdf }), RangeError, JSON.stringify(kdf))
  }
})

t.test('tampered files give CORRUPT_FILE or WRONG_PASSWORD, nothing else', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  await ks.create('victim', 'pw')
  const path = fileOf(dir, 'victim')
  const original = await fsp.readFile(path, 'utf8')
  const edit = async (change: (f: Record<string, any>) => unknown): Promise<string> => {
    const f = JSON.parse(original)
    change(f)
    await fsp.writeFile(path, JSON.stringify(f))
    return codeOf(ks.unlock('victim', 'pw'))
  }
  const write = async (text: string): Promise<string> => {
    await fsp.writeFile(path, text)
    return codeOf(ks.unlock('victim', 'pw'))
  }
  const other = toHex(generateKeyPair().address)
  t.equal(
    await edit((f) => {
      f.address = other
    }),
    'CORRUPT_FILE',
    'address swapped for another valid one',
  )
  t.equal(
    await edit((f) => {
      f.address = 'zz'
    }),
    'CORRUPT_FILE',
    'address not hex',
  )
  t.equal(
    await edit((f) => {
      f.ciphertext = f.ciphertext.slice(0, -2)
    }),
    'CORRUPT_FILE',
    'truncated ciphertext',
  )
  t.equal(
    await edit((f) => {
      f.ciphertext = (f.ciphertext[0] === '0' ? '1' : '0') + f.ciphertext.slice(1)
    }),
    'WRONG_PASSWORD',
    'flipped ciphertext bit',
  )
  t.equal(
    await edit((f) => {
      f.nonce = '00'.repeat(24)
    }),
    'WRONG_PASSWORD',
    'changed nonce',
  )
  t.equal(
    await edit((f) => {
      f.kdf.salt = '00'.repeat(16)
    }),
    'WRONG_PASSWORD',
    'changed salt',
  )
  t.equal(
    await edit((f) => {
      f.kdf.N = 2048
    }),
    'WRONG_PASSWORD',
    'changed N',
  )
  t.equal(
    await edit((f) => {
      f.kdf.N = 1000
    }),
    'CORRUPT_FILE',
    'N not a power of 2',
  )
  t.equal(
    await edit((f) => {
      f.kdf.N = 2 ** 21
    }),
    'CORRUPT_FILE',
    'N too large',
  )
  t.equal(
    await edit((f) => {
      f.kdf.r = 1e9
    }),
    'CORRUPT_FILE',
    'r too large',
  )
  t.equal(
    await edit((f) => {
      f.kdf.p = -1
    }),
    'CORRUPT_FILE',
    'negative p',
  )
  t.equal(
    await edit((f) => {
      f.kdf.N = '1024'
    }),
    'CORRUPT_FILE',
    'N as a string',
  )
  t.equal(
    await edit((f) => {
      f.kdf.name = 'pbkdf2'
    }),
    'CORRUPT_FILE',
    'other kdf',
  )
  t.equal(
    await edit((f) => {
      delete f.kdf
    }),
    'CORRUPT_FILE',
    'no kdf',
  )
  t.equal(
    await edit((f) => {
      f.version = 2
    }),
    'CORRUPT_FILE',
    'future version',
  )
  t.equal(
    await edit((f) => {
      f.cipher = 'aes-128-ctr'
    }),
    'CORRUPT_FILE',
    'other cipher',
  )
  t.equal(
    await edit((f) => {
      f.name = 'someone'
    }),
    'CORRUPT_FILE',
    'name does not match the file',
  )
  t.equal(await write('garbage {'), 'CORRUPT_FILE', 'garbage JSON')
  t.equal(await write(''), 'CORRUPT_FILE', 'empty file')
  t.equal(await write('null'), 'CORRUPT_FILE', 'JSON null')
  t.equal(await write('[1,2]'), 'CORRUPT_FILE', 'JSON array')
  t.equal(await write(' '.repeat(100_000)), 'CORRUPT_FILE', 'huge file')
  const err = await ks.unlock('victim', 'pw').catch((e) => e)
  t.match(err.message, path, 'the message names the file')
  await fsp.unlink(path)
  await fsp.symlink('/dev/zero', path)
  t.equal(await codeOf(ks.unlock('victim', 'pw')), 'CORRUPT_FILE', 'symlink')
  await fsp.unlink(path)
  t.equal(await write(original), 'resolved', 'the untouched file still opens')
})

t.test('a sealed key that is not a valid scalar is CORRUPT_FILE', async (t) => {
  // Built by hand: the right password but a sealed zero key, which has no address.
  const dir = t.testdir()
  const ks = new Keystore(dir, FAST)
  await ks.create('z', 'pw')
  const f = await readJson(fileOf(dir, 'z'))
  const nacl = (await import('tweetnacl')).default
  const { scryptSync } = await import('node:crypto')
  const key = scryptSync('pw', Buffer.from(f.kdf.salt, 'hex'), 32, { N: 1024, r: 8, p: 1 })
  f.ciphertext = toHex(nacl.secretbox(new Uint8Array(32), Buffer.from(f.nonce, 'hex'), key))
  await fsp.writeFile(fileOf(dir, 'z'), JSON.stringify(f))
  t.equal(await codeOf(ks.unlock('z', 'pw')), 'CORRUPT_FILE')
})

t.test('property: any single-byte edit of a file fails cleanly or still opens the same key', async (t) => {
  const dir = t.testdir()
  const ks = new Keystore(dir, { kdf: { N: 16, r: 1, p: 1 } })
  const { address } = await ks.create('p', 'pw')
  const path = fileOf(dir, 'p')
  const original = await fsp.readFile(path)
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: original.length - 1 }), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
      const bytes = Buffer.from(original)
      bytes[at] = byte
      await fsp.writeFile(path, bytes)
      try {
        const unlocked = await ks.unlock('p', 'pw')
        return unlocked.address === address && toHex(addressFromPrivateKey(unlocked.privateKey)) === address
      } catch (err) {
        return err instanceof KeystoreError && (err.code === 'CORRUPT_FILE' || err.code === 'WRONG_PASSWORD')
      }
    }),
    { numRuns: 300 },
  )
  t.pass('no unexpected exception')
})

t.test('parseKeystoreFile accepts upper-case hex and normalises the address', async (t) => {
  const ks = new Keystore(t.testdir(), FAST)
  const { address } = await ks.create('u', 'pw')
  const text = JSON.stringify({
    version: 1,
    name: 'u',
    address: address.toUpperCase(),
    kdf: { name: 'scrypt', N: 1024, r: 8, p: 1, salt: 'AB'.repeat(16) },
    cipher: 'xsalsa20-poly1305',
    nonce: 'CD'.repeat(24),
    ciphertext: 'EF'.repeat(48),
  })
  t.equal(parseKeystoreFile(text, 'x').address, address)
})
