// JSON-RPC 2.0 request handling, independent of any transport: a body string in,
// a response string (or null when nothing is owed) out. `handle` never rejects,
// whatever the body: every failure becomes a JSON-RPC error object.

import { RPC, RpcError, errorResponseJson, type RpcId } from './errors.js'
import { ParamError, type MethodDef, type MethodTable } from './params.js'

export interface Dispatcher {
  /** Resolves to the response body, or null for a notification / a batch of only notifications. */
  handle(body: string): Promise<string | null>
}

export interface DispatcherOptions {
  /** Most requests accepted in one batch array (default 100). */
  maxBatch?: number
  /** Called with any non-RpcError thrown by a handler, so the node can log what the client is not told. */
  onError?: (err: unknown, method: string) => void
}

const DEFAULT_MAX_BATCH = 100
/** Names echoed back in messages are clipped: the client sent them, it needs no megabyte-long copy. */
const MAX_ECHOED_NAME = 64

interface ErrorObject {
  code: number
  message: string
  data?: unknown
}

export function createDispatcher(methods: MethodTable, opts: DispatcherOptions = {}): Dispatcher {
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1)
    throw new TypeError(`createDispatcher(): maxBatch must be a positive integer, got ${maxBatch}`)
  const onError = opts.onError

  function reportInternal(err: unknown, method: string): void {
    if (!onError) return
    try {
      onError(err, method)
    } catch {
      // A broken logger must not turn into a broken response.
    }
  }

  /** Runs one request object; returns its serialised response, or null for a notification. */
  async function handleOne(req: unknown): Promise<string | null> {
    if (!isPlainObject(req)) return errorResponseJson(null, RPC.INVALID_REQUEST, 'invalid request: expected a JSON object')

    const hasId = Object.hasOwn(req, 'id')
    const idValid = !hasId || isValidId(req.id)
    const id: RpcId = hasId && idValid ? (req.id as RpcId) : null
    const invalid = (why: string): string => errorResponseJson(id, RPC.INVALID_REQUEST, `invalid request: ${why}`)

    if (!idValid) return invalid('"id" must be a string, a number or null')
    if (req.jsonrpc !== '2.0') return invalid('"jsonrpc" must be exactly "2.0"')
    if (typeof req.method !== 'string') return invalid('"method" must be a string')
    const hasParams = Object.hasOwn(req, 'params')
    if (hasParams && !isStructured(req.params)) return invalid('"params" must be an array or an object')

    const methodName = req.method
    const outcome = await invoke(methodName, hasParams ? (req.params as unknown[] | Record<string, unknown>) : [])
    if (!hasId) return null // notification: run, but the spec forbids any reply, even an error
    return 'error' in outcome ? encodeError(id, outcome.error) : encodeResult(id, outcome.result, methodName)
  }

  async function invoke(
    methodName: string,
    params: unknown[] | Record<string, unknown>,
  ): Promise<{ result: unknown } | { error: ErrorObject }> {
    // hasOwn: inherited names such as __proto__, toString or constructor are not methods.
    const def = Object.hasOwn(methods, methodName) ? methods[methodName] : undefined
    if (!def) return { error: { code: RPC.METHOD_NOT_FOUND, message: `method not found: ${quote(methodName)}` } }
    try {
      const args = bindParams(def, params)
      return { result: await def.handler(...args) }
    } catch (err) {
      if (err instanceof RpcError) {
        const error: ErrorObject = { code: err.code, message: err.message }
        if (err.data !== undefined) error.data = err.data
        return { error }
      }
      reportInternal(err, methodName)
      return { error: { code: RPC.INTERNAL, message: 'internal error' } }
    }
  }

  function encodeResult(id: RpcId, result: unknown, methodName: string): string {
    let json: string | undefined
    try {
      json = stringifyJson(result)
    } catch (err) {
      // e.g. a circular structure: a handler bug, not the client's fault.
      reportInternal(err, methodName)
      return errorResponseJson(id, RPC.INTERNAL, 'internal error')
    }
    return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${json ?? 'null'}}`
  }

  function encodeError(id: RpcId, error: ErrorObject): string {
    if (error.data === undefined) return errorResponseJson(id, error.code, error.message)
    let data: string | undefined
    try {
      data = stringifyJson(error.data)
    } catch (err) {
      reportInternal(err, 'error data')
    }
    if (data === undefined) return errorResponseJson(id, error.code, error.message)
    return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":{"code":${error.code},"message":${JSON.stringify(error.message)},"data":${data}}}`
  }

  async function handle(body: string): Promise<string | null> {
    let parsed: unknown
    try {
      // A leading BOM is not JSON, but some Windows tools add one; it carries no meaning.
      parsed = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body)
    } catch {
      return errorResponseJson(null, RPC.PARSE_ERROR, 'parse error: body is not valid JSON')
    }
    if (!Array.isArray(parsed)) return handleOne(parsed)
    if (parsed.length === 0) return errorResponseJson(null, RPC.INVALID_REQUEST, 'invalid request: empty batch')
    if (parsed.length > maxBatch) {
      return errorResponseJson(
        null,
        RPC.INVALID_REQUEST,
        `invalid request: batch of ${parsed.length} requests exceeds the limit of ${maxBatch}`,
      )
    }
    // Sequential on purpose: a script may send unlockAccount then sendTransaction in one batch.
    const responses: string[] = []
    for (const req of parsed) {
      const response = await handleOne(req)
      if (response !== null) responses.push(response)
    }
    return responses.length === 0 ? null : `[${responses.join(',')}]`
  }

  return {
    handle: async (body) => {
      try {
        return await handle(body)
      } catch (err) {
        // Unreachable by design; kept so a bug here still yields a well-formed reply.
        reportInternal(err, '(dispatcher)')
        return errorResponseJson(null, RPC.INTERNAL, 'internal error')
      }
    },
  }
}

/** Turns positional or by-name params into the handler's argument list, or throws RpcError(-32602). */
function bindParams(def: MethodDef, params: unknown[] | Record<string, unknown>): unknown[] {
  const specs = def.params
  let lookup: (index: number) => { present: boolean; value: unknown }
  if (Array.isArray(params)) {
    if (params.length > specs.length) {
      const expected = specs.length === 0 ? 'no params' : `at most ${plural(specs.length, 'param')}`
      throw new RpcError(RPC.INVALID_PARAMS, `expected ${expected}, got ${params.length}`)
    }
    lookup = (i) => ({ present: i < params.length, value: params[i] })
  } else {
    const known = new Set(specs.map((s) => s.name))
    const unknown = Object.keys(params).filter((k) => !known.has(k))
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 5).map(quote).join(', ') + (unknown.length > 5 ? `, … (${unknown.length} in all)` : '')
      throw new RpcError(RPC.INVALID_PARAMS, `unknown param${unknown.length === 1 ? '' : 's'} ${shown}`)
    }
    lookup = (i) => {
      const name = specs[i]!.name
      return { present: Object.hasOwn(params, name), value: params[name] }
    }
  }

  return specs.map((spec, i) => {
    const { present, value } = lookup(i)
    // null counts as absent for optional params so positional callers can skip one.
    if (!present || (spec.optional && value === null)) {
      if (spec.optional) return spec.default
      throw new RpcError(RPC.INVALID_PARAMS, `missing param ${quote(spec.name)}`, { param: spec.name })
    }
    try {
      return spec.parse(value)
    } catch (err) {
      if (err instanceof ParamError) {
        throw new RpcError(RPC.INVALID_PARAMS, `invalid param ${quote(spec.name)}: ${err.reason}`, { param: spec.name })
      }
      throw err
    }
  })
}

/** JSON.stringify that writes bigints as decimal strings instead of throwing. */
function stringifyJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isStructured(v: unknown): boolean {
  return typeof v === 'object' && v !== null
}

function isValidId(v: unknown): boolean {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))
}

function quote(name: string): string {
  return JSON.stringify(name.length > MAX_ECHOED_NAME ? `${name.slice(0, MAX_ECHOED_NAME)}…` : name)
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
