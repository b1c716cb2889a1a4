// The node's unlocked account over a real keystore directory.
import t from 'tap'
import { silentLogger } from '../../../lib/log.js'
import { Keystore } from '../../../node/keystore.js'
import { NotUnlockedError, Wallet } from '../../../node/wallet.js'

const FAST = { kdf: { N: 1024, r: 8, p: 1 } }

t.test('nothing is unlocked at first: copyKey throws NotUnlockedError', async (t) => {
  const w = new Wallet(new Keystore(t.testdir(), FAST), silentLogger())
  t.equal(w.unlocked, null)
  t.throws(() => w.copyKey(), NotUnlockedError)
})

t.test('unlocking another account zeroes the previous key; a copy taken before is unaffected', async (t) => {
  const w = new Wallet(new Keystore(t.testdir(), FAST), silentLogger())
  const a = await w.create('a', 'pw')
  const b = await w.create('b', 'pw')
  const first = await w.unlock('a', 'pw')
  t.equal(first.address, a.address)
  const copy = w.copyKey()
  t.equal(copy.address, a.address)
  t.ok(copy.privateKey.equals(first.privateKey), 'the copy holds the same key')
  const second = await w.unlock('b', 'pw')
  t.equal(w.unlocked?.address, b.address, 'B is unlocked')
  t.ok(
    first.privateKey.every((x) => x === 0),
    "A's key buffer is zeroed",
  )
  t.notOk(
    copy.privateKey.every((x) => x === 0),
    'the copy is not',
  )
  w.lock()
  t.equal(w.unlocked, null, 'lock forgets the account')
  t.ok(
    second.privateKey.every((x) => x === 0),
    "and zeroes B's key",
  )
  t.throws(() => w.copyKey(), NotUnlockedError)
})
