// JSON-RPC 2.0 error codes and the one error type handlers throw to report them.
// The numbers are part of the public API (scripts match on them): never renumber,
// only add. docs/RPC-ERRORS.md documents each one.

/** Thrown by method handlers (and the transport) to send a specific JSON-RPC error. */
export class RpcError extends Error {
  override name = 'RpcError'

  constructor(
    public readonly code: number,
    message: string,
    public readonly data?: unknown,
  ) {
    super(message)
  }
}

/** Codes defined by the JSON-RPC 2.0 specification itself. */
export const RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
} as const

/**
 * Application errors. JSON-RPC reserves -32000..-32099 for implementation-defined
 * server errors; the tens digit groups them (1x accounts, 2x transactions, 3x node state).
 */
export const APP = {
  ACCOUNT_EXISTS: -32010,
  ACCOUNT_NOT_FOUND: -32011,
  WRONG_PASSWORD: -32012,
  ACCOUNT_LOCKED: -32013,
  INSUFFICIENT_BALANCE: -32020,
  BAD_SIGNATURE: -32021,
  BAD_NONCE: -32022,
  DUPLICATE_TX: -32023,
  POOL_FULL: -32024,
  INVALID_TX: -32025,
  NOT_READY: -32030,
  BUSY: -32031,
} as const

/** A JSON-RPC id as it may appear in a response (null when the request's id could not be read). */
export type RpcId = string | number | null

/**
 * Serialises a complete JSON-RPC error response. Shared by the dispatcher and the
 * HTTP edge, which must answer some failures (oversized or non-UTF-8 bodies)
 * before the dispatcher ever sees a request.
 */
export function errorResponseJson(id: RpcId, code: number, message: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":{"code":${code},"message":${JSON.stringify(message)}}}`
}
