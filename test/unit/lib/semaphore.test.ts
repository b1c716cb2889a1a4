// lib/semaphore.ts: a counting semaphore with a bounded queue, which keeps
// scrypt from taking over libuv's threadpool and answers BUSY past its queue.
import t from 'tap'
import fc from 'fast-check'
import { setTimeout as sleep } from 'node:timers/promises'
import { BusyError, Semaphore } from '../../../lib/semaphore.js'
import { settlesWithin } from '../../helpers/node-fixtures.js'

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return { opened, open }
}

t.test('Semaphore: at most `slots` holders at once, and all of them are used', async (t) => {
  const sem = new Semaphore(3, 100, 'jobs')
  let running = 0
  let peak = 0
  const done = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      sem.run(async () => {
        running++
        peak = Math.max(peak, running)
        await sleep(1 + (i % 4))
        running--
        return i
      }),
    ),
  )
  t.equal(peak, 3, 'three ran together, never more')
  t.same(
    done,
    Array.from({ length: 20 }, (_, i) => i),
    'every job ran and returned its value',
  )
  t.equal(running, 0, 'none left running')
})

t.test('Semaphore: a full queue throws BusyError at once, naming what is busy', async (t) => {
  const sem = new Semaphore(1, 2, 'account unlocks')
  const g = gate()
  const started: string[] = []
  const holder = sem.run(async () => {
    started.push('holder')
    await g.opened
  })
  const w1 = sem.run(async () => void started.push('w1'))
  const w2 = sem.run(async () => void started.push('w2'))
  const over = sem.run(async () => void started.push('over'))
  // The holder is still blocked, so a rejection here did not wait for a slot.
  t.ok(await settlesWithin(over.catch(() => undefined)), 'the third waiter is answered while the holder still holds')
  await t.rejects(over, BusyError)
  await t.rejects(over, /too many account unlocks in progress/)
  t.same(started, ['holder'], 'the refused job never ran; the queued ones wait')
  g.open()
  await Promise.all([holder, w1, w2])
  t.same(started, ['holder', 'w1', 'w2'], 'the queued jobs ran once the holder finished')
  // Room again once the queue has drained.
  t.equal(await sem.run(async () => 'again'), 'again', 'room again once the queue drained')
})

t.test('Semaphore: waiters run in FIFO order', async (t) => {
  const sem = new Semaphore(1, 50, 'jobs')
  const g = gate()
  const order: number[] = []
  const holder = sem.run(() => g.opened)
  const waiters = Array.from({ length: 30 }, (_, i) =>
    sem.run(async () => {
      order.push(i)
      await sleep(i % 3) // uneven job lengths must not reorder the queue
    }),
  )
  g.open()
  await Promise.all([holder, ...waiters])
  t.same(
    order,
    Array.from({ length: 30 }, (_, i) => i),
    'started in the order they queued',
  )
})

t.test('Semaphore: a holder that throws releases its slot', async (t) => {
  const sem = new Semaphore(1, 4, 'jobs')
  await t.rejects(
    sem.run(async () => {
      throw new Error('boom')
    }),
    /boom/,
    "the holder's error reaches its caller",
  )
  t.equal(await sem.run(async () => 1), 1, 'the slot is free again')

  // A throwing holder with a queue behind it hands its slot to the next waiter.
  const g = gate()
  const failing = sem.run(async () => {
    await g.opened
    throw new Error('late boom')
  })
  const next = sem.run(async () => 'next ran')
  g.open()
  await t.rejects(failing, /late boom/)
  t.equal(await next, 'next ran', 'the waiter behind it ran')

  // Many failures in a row leak nothing: full capacity (1 slot + 4 queued) afterwards.
  const failures = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) =>
      sem.run(async () => {
        throw new Error(`e${i}`)
      }),
    ),
  )
  t.same(
    failures.map((f) => f.status === 'rejected' && (f.reason as Error).message),
    ['e0', 'e1', 'e2', 'e3', 'e4'].concat(Array(15).fill('too many jobs in progress; retry shortly')),
    'one holder and four queued fail with their own errors, the rest are busy',
  )
  t.equal(await sem.run(async () => 'after'), 'after', 'the slot is free after the failures')
  const h = gate()
  const batch = [sem.run(() => h.opened), ...Array.from({ length: 4 }, () => sem.run(async () => undefined))]
  await t.rejects(
    sem.run(async () => undefined),
    BusyError,
    'the sixth is busy, exactly as for a fresh semaphore',
  )
  h.open()
  await Promise.all(batch)
})

t.test('Semaphore property: n jobs at once → min(n, slots) run, max(0, n − slots − queue) are busy', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 0, max: 15 }),
      async (slots, queue, n) => {
        const sem = new Semaphore(slots, queue, 'jobs')
        let running = 0
        let peak = 0
        let ran = 0
        const outcomes = await Promise.allSettled(
          Array.from({ length: n }, () =>
            sem.run(async () => {
              running++
              peak = Math.max(peak, running)
              await sleep(1)
              running--
              ran++
            }),
          ),
        )
        const busy = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof BusyError).length
        const ok = outcomes.filter((o) => o.status === 'fulfilled').length
        return busy === Math.max(0, n - slots - queue) && ok === n - busy && ran === ok && peak === Math.min(n, slots)
      },
    ),
    { numRuns: 60 },
  )
  t.pass('busy count, concurrency and completions match the model')
})

// ---------------------------------------------------------------- unlock flood over JSON-RPC
