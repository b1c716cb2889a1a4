import t, { type Test as Tap } from 'tap'
import fc from 'fast-check'
import { createDispatcher } from '../../../../node/rpc/dispatcher.js'
import { APP, RPC, RpcError } from '../../../../node/rpc/errors.js'
import {
  ParamError,
  boolean,
  defineMethod,
  hex,
  integer,
  integerLike,
  oneOf,
  optional,
  required,
  string,
  type MethodTable,
} from '../../../../node/rpc/params.js'

const ADDRESS = '02' + 'ab'.repeat(32)

/** A small method table shaped like the node's, recording every call it receives. */
function makeTable(calls: string[] = []): MethodTable {
  return {
    getBalance: defineMethod({
      params: [required('address', hex({ bytes: 33 }))],
      handler: (address) => {
        calls.push(`getBalance:${address}`)
        return { address, balance: 10n ** 30n }
      },
    }),
    transfer: defineMethod({
      params: [required('to', hex({ bytes: 33 })), required('amount', integerLike({ min: 1 })), optional('memo', string({ max: 16 }), '')],
      handler: (to, amount, memo) => {
        calls.push(`transfer:${to}:${amount}:${memo}`)
        return { to, amount, memo }
      },
    }),
    subtract: defineMethod({
      params: [required('minuend', integer()), required('subtrahend', integer())],
      handler: (a, b) => a - b,
    }),
    noop: defineMethod({ params: [], handler: () => undefined }),
    locked: defineMethod({
      params: [],
      handler: () => {
        throw new RpcError(APP.ACCOUNT_LOCKED, 'account is locked', { address: ADDRESS, unlockIn: 5n })
      },
    }),
    notFound: defineMethod({
      params: [],
      handler: async () => {
        throw new RpcError(APP.ACCOUNT_NOT_FOUND, 'no such account')
      },
    }),
    crash: defineMethod({
      params: [],
      handler: () => {
        throw new Error('ENOENT: /var/lib/bkc/secret-wallet.key')
      },
    }),
    crashAsync: defineMethod({ params: [], handler: async () => Promise.reject(new TypeError('x is undefined at db.ts:42')) }),
    circular: defineMethod({
      params: [],
      handler: () => {
        const o: Record<string, unknown> = {}
        o.self = o
        return o
      },
    }),
    record: defineMethod({
      params: [required('tag', string())],
      handler: (tag) => {
        calls.push(tag)
        return tag
      },
    }),
  }
}

const req = (method: string, params?: unknown, id: unknown = 1): string =>
  JSON.stringify({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id })

async function call(body: string, table = makeTable(), opts = {}): Promise<any> {
  const out = await createDispatcher(table, opts).handle(body)
  return out === null ? null : JSON.parse(out)
}

t.test('parse error: unparseable JSON gets -32700 with id null', async (t) => {
  for (const body of ['', 'not json', '{"jsonrpc":"2.0","method":"noop"', '[1,2', "{'a':1}", '\u0000']) {
    const res = await call(body)
    t.same(
      res,
      { jsonrpc: '2.0', id: null, error: { code: RPC.PARSE_ERROR, message: 'parse error: body is not valid JSON' } },
      JSON.stringify(body),
    )
  }
})

t.test('a leading byte-order mark is tolerated', async (t) => {
  t.same(await call('\ufeff' + req('subtract', [5, 3])), { jsonrpc: '2.0', id: 1, result: 2 })
})

t.test('invalid request variants get -32600', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['number', 1, /expected a JSON object/],
    ['string', 'getBalance', /expected a JSON object/],
    ['null', null, /expected a JSON object/],
    ['true', true, /expected a JSON object/],
    ['empty object', {}, /"jsonrpc" must be exactly "2.0"/],
    ['jsonrpc 1.0', { jsonrpc: '1.0', method: 'noop', id: 1 }, /"jsonrpc"/],
    ['jsonrpc number', { jsonrpc: 2.0, method: 'noop', id: 1 }, /"jsonrpc"/],
    ['missing method', { jsonrpc: '2.0', id: 1 }, /"method" must be a string/],
    ['numeric method', { jsonrpc: '2.0', method: 1, params: 'bar' }, /"method" must be a string/],
    ['string params', { jsonrpc: '2.0', method: 'noop', params: 'bar', id: 1 }, /"params" must be an array or an object/],
    ['null params', { jsonrpc: '2.0', method: 'noop', params: null, id: 1 }, /"params"/],
    ['number params', { jsonrpc: '2.0', method: 'noop', params: 5, id: 1 }, /"params"/],
    ['object id', { jsonrpc: '2.0', method: 'noop', id: {} }, /"id" must be a string, a number or null/],
    ['array id', { jsonrpc: '2.0', method: 'noop', id: [1] }, /"id"/],
    ['boolean id', { jsonrpc: '2.0', method: 'noop', id: true }, /"id"/],
  ]
  for (const [label, body, message] of cases) {
    const res = await call(JSON.stringify(body))
    t.equal(res.error.code, RPC.INVALID_REQUEST, label)
    t.match(res.error.message, message, label)
    t.notOk('result' in res, `${label}: no result`)
  }
})

t.test('invalid request echoes a readable id, and uses null for an unreadable one', async (t) => {
  t.equal((await call(JSON.stringify({ jsonrpc: '1.0', method: 'noop', id: 'abc' }))).id, 'abc')
  t.equal((await call(JSON.stringify({ jsonrpc: '2.0', method: 'noop', id: { a: 1 } }))).id, null)
  // An invalid request without an id is still answered: it cannot be recognised as a notification.
  const res = await call(JSON.stringify({ jsonrpc: '2.0', method: 7 }))
  t.same(res, { jsonrpc: '2.0', id: null, error: { code: RPC.INVALID_REQUEST, message: 'invalid request: "method" must be a string' } })
})

t.test('ids of every allowed kind are echoed exactly, including null and 0', async (t) => {
  for (const id of ['x', '', 0, -7, 1.5, null]) {
    t.same(await call(req('subtract', [1, 1], id)), { jsonrpc: '2.0', id, result: 0 }, JSON.stringify(id))
  }
})

t.test('response keys come in the order jsonrpc, id, result|error', async (t) => {
  const d = createDispatcher(makeTable())
  t.equal(await d.handle(req('subtract', [3, 1], 9)), '{"jsonrpc":"2.0","id":9,"result":2}')
  t.equal(await d.handle(req('nope', [], 9)), '{"jsonrpc":"2.0","id":9,"error":{"code":-32601,"message":"method not found: \\"nope\\""}}')
})

t.test('empty batch is a single invalid-request error, not an array', async (t) => {
  const res = await call('[]')
  t.notOk(Array.isArray(res))
  t.same(res, { jsonrpc: '2.0', id: null, error: { code: RPC.INVALID_REQUEST, message: 'invalid request: empty batch' } })
})

t.test('batch limit', async (t) => {
  const batch = (n: number) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', method: 'subtract', params: [i, 0], id: i })))
  const over = await call(batch(4), makeTable(), { maxBatch: 3 })
  t.notOk(Array.isArray(over))
  t.equal(over.error.code, RPC.INVALID_REQUEST)
  t.match(over.error.message, /limit of 3/)
  const at = await call(batch(3), makeTable(), { maxBatch: 3 })
  t.same(
    at.map((r: any) => r.result),
    [0, 1, 2],
  )
  // Default limit is 100.
  t.equal((await call(batch(100))).length, 100)
  t.match((await call(batch(101))).error.message, /101 requests exceeds the limit of 100/)
  t.throws(() => createDispatcher({}, { maxBatch: 0 }), TypeError)
})

t.test('mixed batch: order kept, notifications silent, invalid entries answered in place', async (t) => {
  const calls: string[] = []
  const body = JSON.stringify([
    { jsonrpc: '2.0', method: 'subtract', params: [42, 23], id: '1' },
    { jsonrpc: '2.0', method: 'record', params: ['notified'] },
    { foo: 'boo' },
    { jsonrpc: '2.0', method: 'missing.method', params: { name: 'myself' }, id: '5' },
    1,
    { jsonrpc: '2.0', method: 'subtract', params: { subtrahend: 23, minuend: 42 }, id: 9 },
    { jsonrpc: '2.0', method: 'crash' },
  ])
  const res = await call(body, makeTable(calls))
  t.same(
    res.map((r: any) => [r.id, r.result ?? r.error.code]),
    [
      ['1', 19],
      [null, RPC.INVALID_REQUEST],
      ['5', RPC.METHOD_NOT_FOUND],
      [null, RPC.INVALID_REQUEST],
      [9, 19],
    ],
  )
  t.same(calls, ['notified'], 'the notification ran')
})

t.test('a batch of invalid non-objects gets one error each', async (t) => {
  const res = await call('[1,2,3]')
  t.equal(res.length, 3)
  for (const r of res)
    t.same(r, { jsonrpc: '2.0', id: null, error: { code: RPC.INVALID_REQUEST, message: 'invalid request: expected a JSON object' } })
})

t.test('notifications produce nothing, even when they fail', async (t) => {
  const calls: string[] = []
  const errors: unknown[] = []
  const d = createDispatcher(makeTable(calls), { onError: (e) => errors.push(e) })
  t.equal(await d.handle(JSON.stringify({ jsonrpc: '2.0', method: 'record', params: ['a'] })), null)
  t.equal(await d.handle(JSON.stringify({ jsonrpc: '2.0', method: 'no.such.method' })), null)
  t.equal(await d.handle(JSON.stringify({ jsonrpc: '2.0', method: 'record', params: [] })), null)
  t.equal(await d.handle(JSON.stringify({ jsonrpc: '2.0', method: 'crash' })), null)
  const batch = [1, 2].map((i) => ({ jsonrpc: '2.0', method: 'record', params: [`b${i}`] }))
  t.equal(await d.handle(JSON.stringify(batch)), null, 'notification-only batch')
  t.same(calls, ['a', 'b1', 'b2'])
  t.equal(errors.length, 1, 'the failing notification was still reported to onError')
  // id: null is a request, not a notification.
  t.same(JSON.parse((await d.handle(req('record', ['c'], null)))!), { jsonrpc: '2.0', id: null, result: 'c' })
})

t.test('unknown methods, including inherited Object names, get -32601 naming the method', async (t) => {
  for (const name of ['nope', '__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf', '']) {
    const res = await call(req(name, []))
    t.same(res.error, { code: RPC.METHOD_NOT_FOUND, message: `method not found: ${JSON.stringify(name)}` }, name)
  }
  const long = 'x'.repeat(10_000)
  const res = await call(req(long, []))
  t.ok(res.error.message.length < 100, 'a huge method name is not echoed back in full')
})

t.test('positional params: missing, too many, invalid', async (t) => {
  const missing = await call(req('transfer', [ADDRESS]))
  t.same(missing.error, { code: RPC.INVALID_PARAMS, message: 'missing param "amount"', data: { param: 'amount' } })
  t.same((await call(req('subtract', [1, 2, 3]))).error, { code: RPC.INVALID_PARAMS, message: 'expected at most 2 params, got 3' })
  t.same((await call(req('getBalance', [ADDRESS, 1]))).error.message, 'expected at most 1 param, got 2')
  t.same((await call(req('noop', [1]))).error.message, 'expected no params, got 1')
  const invalid = await call(req('transfer', [ADDRESS, '0']))
  t.same(invalid.error, {
    code: RPC.INVALID_PARAMS,
    message: 'invalid param "amount": must be a positive integer (a JSON number or a decimal string)',
    data: { param: 'amount' },
  })
  t.match((await call(req('getBalance', ['02ab']))).error, {
    code: RPC.INVALID_PARAMS,
    message: /^invalid param "address": must be a hex string of 33 bytes/,
  })
  t.same(
    (await call(req('getBalance'))).error,
    { code: RPC.INVALID_PARAMS, message: 'missing param "address"', data: { param: 'address' } },
    'params omitted entirely',
  )
})

t.test('optional params take their default when omitted or null', async (t) => {
  t.same((await call(req('transfer', [ADDRESS, '20']))).result, { to: ADDRESS, amount: 20, memo: '' })
  t.same((await call(req('transfer', [ADDRESS, 20, null]))).result, { to: ADDRESS, amount: 20, memo: '' })
  t.same((await call(req('transfer', [ADDRESS.toUpperCase(), 20, 'rent']))).result, { to: ADDRESS, amount: 20, memo: 'rent' })
  t.match((await call(req('transfer', [ADDRESS, 20, 'x'.repeat(17)]))).error.message, /^invalid param "memo"/)
})

t.test('by-name params', async (t) => {
  t.same((await call(req('transfer', { amount: '7', to: ADDRESS }))).result, { to: ADDRESS, amount: 7, memo: '' })
  t.same((await call(req('transfer', { to: ADDRESS }))).error, {
    code: RPC.INVALID_PARAMS,
    message: 'missing param "amount"',
    data: { param: 'amount' },
  })
  t.same((await call(req('transfer', { to: ADDRESS, amount: 1, colour: 'red' }))).error, {
    code: RPC.INVALID_PARAMS,
    message: 'unknown param "colour"',
  })
  t.match((await call(req('transfer', { to: ADDRESS, amount: 1, a: 1, b: 2 }))).error.message, /^unknown params "a", "b"$/)
  // JSON.parse makes "__proto__" an own key: it is an unknown name, not a prototype switch.
  t.match((await call('{"jsonrpc":"2.0","method":"getBalance","params":{"__proto__":{"address":"' + ADDRESS + '"}},"id":1}')).error, {
    code: RPC.INVALID_PARAMS,
    message: 'unknown param "__proto__"',
  })
  t.same((await call('{"jsonrpc":"2.0","method":"noop","params":{},"id":1}')).result, null)
})

t.test('RpcError from a handler passes through with its code, message and data', async (t) => {
  t.same((await call(req('locked'))).error, {
    code: APP.ACCOUNT_LOCKED,
    message: 'account is locked',
    data: { address: ADDRESS, unlockIn: '5' },
  })
  const noData = await call(req('notFound'))
  t.same(noData.error, { code: APP.ACCOUNT_NOT_FOUND, message: 'no such account' })
  t.notOk('data' in noData.error)
})

t.test('other exceptions become a bare internal error and reach onError', async (t) => {
  const seen: Array<[unknown, string]> = []
  const d = createDispatcher(makeTable(), { onError: (err, method) => seen.push([err, method]) })
  for (const method of ['crash', 'crashAsync', 'circular']) {
    const raw = (await d.handle(req(method)))!
    t.same(JSON.parse(raw), { jsonrpc: '2.0', id: 1, error: { code: RPC.INTERNAL, message: 'internal error' } }, method)
    t.notMatch(raw, /secret|ENOENT|db\.ts|stack|circular/i, `${method}: nothing internal leaks`)
  }
  t.equal(seen.length, 3)
  t.same(
    seen.map(([, m]) => m),
    ['crash', 'crashAsync', 'circular'],
  )
  t.match(String(seen[0]![0]), /secret-wallet/)
  // A logger that throws must not break the reply.
  const d2 = createDispatcher(makeTable(), {
    onError: () => {
      throw new Error('logger down')
    },
  })
  t.same(JSON.parse((await d2.handle(req('crash')))!).error.code, RPC.INTERNAL)
})

t.test('a parser that throws something other than ParamError is an internal error', async (t) => {
  const seen: string[] = []
  const table: MethodTable = {
    buggy: {
      params: [
        {
          name: 'x',
          parse: () => {
            throw new RangeError('parser bug')
          },
        },
      ],
      handler: () => 1,
    },
  }
  const res = await call(req('buggy', [1]), table, { onError: (_e: unknown, m: string) => seen.push(m) })
  t.same(res.error, { code: RPC.INTERNAL, message: 'internal error' })
  t.same(seen, ['buggy'])
})

t.test('undefined result becomes null; bigints become decimal strings', async (t) => {
  t.same(await call(req('noop')), { jsonrpc: '2.0', id: 1, result: null })
  t.same((await call(req('getBalance', [ADDRESS]))).result, { address: ADDRESS, balance: '1000000000000000000000000000000' })
  const table: MethodTable = { big: { params: [], handler: () => [1n, -(2n ** 70n), { n: 0n }] } }
  t.same((await call(req('big'), table)).result, ['1', '-1180591620717411303424', { n: '0' }])
})

t.test('batch entries run strictly one after another, in order', async (t) => {
  const log: string[] = []
  const table: MethodTable = {
    step: {
      params: [
        { name: 'tag', parse: (v) => v },
        { name: 'ticks', parse: (v) => v },
      ],
      handler: async (tag: string, ticks: number) => {
        log.push(`start ${tag}`)
        // Earlier entries wait longer: run concurrently, they would finish last.
        for (let i = 0; i < ticks; i++) await new Promise((r) => setImmediate(r))
        log.push(`end ${tag}`)
        return tag
      },
    },
  }
  const batch = [
    { jsonrpc: '2.0', method: 'step', params: ['unlock', 5], id: 1 },
    { jsonrpc: '2.0', method: 'step', params: ['send', 0], id: 2 },
    { jsonrpc: '2.0', method: 'step', params: ['note', 2] },
    { jsonrpc: '2.0', method: 'step', params: ['check', 0], id: 3 },
  ]
  const res = await call(JSON.stringify(batch), table)
  t.same(log, ['start unlock', 'end unlock', 'start send', 'end send', 'start note', 'end note', 'start check', 'end check'])
  t.same(
    res.map((r: any) => [r.id, r.result]),
    [
      [1, 'unlock'],
      [2, 'send'],
      [3, 'check'],
    ],
  )
})

t.test('property: any JSON body yields null or a JSON-RPC 2.0 response, never a rejection', async () => {
  const d = createDispatcher(makeTable(), { maxBatch: 5, onError: () => {} })
  const check = (out: string | null): boolean => {
    if (out === null) return true
    const parsed = JSON.parse(out)
    const items = Array.isArray(parsed) ? parsed : [parsed]
    if (Array.isArray(parsed) && parsed.length === 0) return false
    return items.every(
      (r) =>
        r.jsonrpc === '2.0' &&
        Object.keys(r)[0] === 'jsonrpc' &&
        Object.keys(r)[1] === 'id' &&
        'result' in r !== 'error' in r &&
        (!('error' in r) || (Number.isInteger(r.error.code) && typeof r.error.message === 'string')),
    )
  }
  await fc.assert(
    fc.asyncProperty(fc.json({ maxDepth: 4 }), async (body) => check(await d.handle(body))),
    { numRuns: 300 },
  )
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (body) => check(await d.handle(body))),
    { numRuns: 300 },
  )
  // Request-shaped values reach deeper: real method names, odd params and ids.
  const request = fc.record(
    {
      jsonrpc: fc.constantFrom('2.0', '1.0', 2),
      method: fc.oneof(
        fc.constantFrom('getBalance', 'transfer', 'subtract', 'noop', 'locked', 'crash', 'circular', '__proto__', 'record'),
        fc.string(),
      ),
      params: fc.oneof(
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('to', 'amount', 'memo', 'tag', 'x'), fc.jsonValue({ maxDepth: 2 })),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: [] },
  )
  await fc.assert(
    fc.asyncProperty(fc.oneof(request, fc.array(fc.oneof(request, fc.jsonValue({ maxDepth: 1 })), { maxLength: 7 })), async (value) =>
      check(await d.handle(JSON.stringify(value))),
    ),
    { numRuns: 500 },
  )
})

t.test('params parsers', async (t) => {
  const rejects = (t: Tap, parse: (v: unknown) => unknown, values: unknown[], reason: RegExp | string) => {
    for (const v of values) {
      t.throws(() => parse(v), ParamError, `rejects ${JSON.stringify(v)}`)
      try {
        parse(v)
      } catch (err) {
        if (typeof reason === 'string') t.equal((err as ParamError).reason, reason)
        else t.match((err as ParamError).reason, reason)
      }
    }
  }

  t.test('hex', async (t) => {
    const h = hex({ bytes: 4 })
    t.equal(h('deadBEEF'), 'deadbeef')
    t.equal(h('0xDEADbeef'), 'deadbeef')
    t.equal(h('0XDEADBEEF'), 'deadbeef')
    rejects(
      t,
      h,
      ['deadbee', 'deadbeef00', '0xdeadbee', 'deadbeeg', ' deadbeef', '0x', '', 12345678, null, ['de']],
      'must be a hex string of 4 bytes (8 hex digits, optional 0x prefix)',
    )
    t.throws(() => hex({ bytes: 0 }), TypeError)
  })

  t.test('integer', async (t) => {
    t.equal(integer()(-5), -5)
    t.equal(integer({ min: 0 })(0), 0)
    t.ok(Object.is(integer()(-0), 0), '-0 is normalised')
    t.equal(integer({ min: 1 })(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER)
    rejects(t, integer({ min: 1 }), [0, -1, 1.5, '5', NaN, Infinity, 2 ** 53, null, true], 'must be a positive integer')
    rejects(t, integer({ min: 0 }), [-1], 'must be a non-negative integer')
    rejects(t, integer({ min: 2, max: 4 }), [1, 5], 'must be an integer from 2 to 4')
    rejects(t, integer({ max: 4 }), [5], 'must be an integer of at most 4')
    rejects(t, integer({ min: 3 }), [2], 'must be an integer of at least 3')
    rejects(t, integer(), [2 ** 53, -(2 ** 53)], 'must be a safe integer')
    t.throws(() => integer({ min: 5, max: 1 }), TypeError)
  })

  t.test('integerLike', async (t) => {
    const p = integerLike({ min: 0 })
    t.equal(p('20'), 20)
    t.equal(p(20), 20)
    t.equal(p('0'), 0)
    t.equal(p('9007199254740991'), Number.MAX_SAFE_INTEGER)
    t.equal(integerLike()('-12'), -12)
    rejects(
      t,
      p,
      [
        '1e3',
        '0x10',
        ' 5',
        '5 ',
        '5.0',
        '',
        '-0',
        '007',
        '+5',
        '9007199254740992',
        '99999999999999999999',
        '1_000',
        '５',
        1.5,
        null,
        true,
        [],
        2 ** 53,
        '-1',
        -1,
      ],
      'must be a non-negative integer (a JSON number or a decimal string)',
    )
    rejects(t, integerLike({ min: 1, max: 10 }), ['11', 0], 'must be an integer from 1 to 10 (a JSON number or a decimal string)')
  })

  t.test('string, boolean, oneOf', async (t) => {
    t.equal(string()(''), '')
    t.equal(string({ min: 1, max: 3 })('abc'), 'abc')
    rejects(t, string({ min: 1, max: 3 }), ['', 'abcd', 5, null], 'must be a string of 1 to 3 characters')
    rejects(t, string({ min: 1 }), [''], 'must be a non-empty string')
    rejects(t, string({ max: 2 }), ['abc'], 'must be a string of at most 2 characters')
    rejects(t, string(), [1, {}], 'must be a string')
    t.equal(boolean()(false), false)
    rejects(t, boolean(), ['true', 1, 0, null], 'must be true or false')
    t.equal(oneOf(['latest', 'pending'])('pending'), 'pending')
    rejects(t, oneOf(['latest', 'pending']), ['Latest', 1], 'must be one of "latest", "pending"')
  })

  t.test('defineMethod checks its params', async (t) => {
    t.throws(
      () => defineMethod({ params: [required('a', integer()), required('a', integer())], handler: () => 1 }),
      /duplicate param name "a"/,
    )
    t.throws(
      () => defineMethod({ params: [optional('a', integer()), required('b', integer())], handler: () => 1 }),
      /required param "b" follows an optional one/,
    )
    const def = defineMethod({ params: [optional('n', integer())], handler: (n) => n ?? 'none', description: 'demo' })
    t.equal(def.description, 'demo')
    t.same(await call(req('demo'), { demo: def }), { jsonrpc: '2.0', id: 1, result: 'none' })
  })
})
