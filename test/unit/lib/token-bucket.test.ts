// lib/token-bucket.ts: rate limits that refill continuously up to a burst capacity.
import t from 'tap'
import { TokenBucket } from '../../../lib/token-bucket.js'

t.test('TokenBucket', async (t) => {
  const fakeClock = (start = 1000) => {
    let now = start
    return {
      now: () => now,
      advance: (ms: number) => {
        now += ms
      },
      set: (ms: number) => {
        now = ms
      },
    }
  }

  t.test('starts full, drains, refuses when empty', async (t) => {
    const clock = fakeClock()
    const b = new TokenBucket({ capacity: 3, refillPerSec: 10, now: clock.now })
    t.equal(b.tokens, 3)
    t.ok(b.take())
    t.ok(b.take())
    t.ok(b.take())
    t.notOk(b.take(), 'empty')
    t.equal(b.tokens, 0)
  })

  t.test('refills with time, capped at capacity', async (t) => {
    const clock = fakeClock()
    const b = new TokenBucket({ capacity: 5, refillPerSec: 10, now: clock.now })
    t.ok(b.take(5))
    clock.advance(100)
    t.equal(b.tokens, 1, '100 ms at 10/s is exactly one token')
    t.ok(b.take())
    t.notOk(b.take())
    clock.advance(50)
    t.equal(b.tokens, 0.5)
    t.notOk(b.take(), 'half a token is not enough')
    clock.advance(50)
    t.ok(b.take())
    clock.advance(60_000)
    t.equal(b.tokens, 5, 'never above capacity')
  })

  t.test('take(n) is all or nothing', async (t) => {
    const clock = fakeClock()
    const b = new TokenBucket({ capacity: 10, refillPerSec: 1, now: clock.now })
    t.ok(b.take(7))
    t.notOk(b.take(4))
    t.equal(b.tokens, 3, 'a refused take takes nothing')
    t.ok(b.take(0))
    t.ok(b.take(3))
    t.notOk(b.take(11), 'more than capacity never succeeds')
    clock.advance(1e9)
    t.notOk(b.take(11))
    t.ok(b.take(10))
  })

  t.test('a clock stepping back neither adds nor removes tokens', async (t) => {
    const clock = fakeClock(10_000)
    const b = new TokenBucket({ capacity: 10, refillPerSec: 1, now: clock.now })
    t.ok(b.take(10))
    clock.set(5_000)
    t.equal(b.tokens, 0)
    clock.advance(2_000) // 7000: two seconds after the step back
    t.equal(b.tokens, 2, 'only time after the step counts')
  })

  t.test('refillPerSec 0 never refills', async (t) => {
    const clock = fakeClock()
    const b = new TokenBucket({ capacity: 2, refillPerSec: 0, now: clock.now })
    t.ok(b.take(2))
    clock.advance(1e9)
    t.notOk(b.take())
  })

  t.test('default clock', async (t) => {
    const b = new TokenBucket({ capacity: 1, refillPerSec: 0 })
    t.ok(b.take())
    t.notOk(b.take())
  })

  t.test('rejects bad options and amounts', async (t) => {
    t.throws(() => new TokenBucket({ capacity: 0, refillPerSec: 1 }), RangeError)
    t.throws(() => new TokenBucket({ capacity: NaN, refillPerSec: 1 }), RangeError)
    t.throws(() => new TokenBucket({ capacity: 1, refillPerSec: -1 }), RangeError)
    t.throws(() => new TokenBucket({ capacity: 1, refillPerSec: Infinity }), RangeError)
    const b = new TokenBucket({ capacity: 1, refillPerSec: 1 })
    t.throws(() => b.take(-1), RangeError, 'a negative take would mint tokens')
    t.throws(() => b.take(NaN), RangeError)
  })
})
