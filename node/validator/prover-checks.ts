// What the provers refuse, checked the same way for each kind: bad options
// when one is built, bad arguments to find, and the errors they reject with.
import { FINGERPRINT_BYTES, PUBLIC_KEY_BYTES, RECORD_HASH_BYTES } from '../../protocol/chain/proof-record.js'
import type { FindOptions } from './prover.js'

export const MAX_PROVER_THREADS = 256

export type ProverErrorCode = 'INVALID_OPTIONS' | 'INVALID_ARGUMENT' | 'NO_MEMORY' | 'NOT_READY' | 'WORKER_CRASHED' | 'CLOSED'

export class ProverError extends Error {
  override name = 'ProverError'
  constructor(
    public readonly code: ProverErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** The identity bytes, copied (a caller's later writes must not change what is hashed). */
export function checkIdentity(fingerprint: unknown, publicKey: unknown): { fingerprint: Uint8Array; publicKey: Uint8Array } {
  if (!(fingerprint instanceof Uint8Array) || fingerprint.length !== FINGERPRINT_BYTES) {
    throw new ProverError('INVALID_OPTIONS', `fingerprint must be ${FINGERPRINT_BYTES} bytes`)
  }
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new ProverError('INVALID_OPTIONS', `publicKey must be ${PUBLIC_KEY_BYTES} bytes (a compressed secp256k1 key)`)
  }
  return { fingerprint: new Uint8Array(fingerprint), publicKey: new Uint8Array(publicKey) }
}

export function checkThreads(threads: unknown): number {
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_PROVER_THREADS) {
    throw new ProverError('INVALID_OPTIONS', `threads must be an integer in [1, ${MAX_PROVER_THREADS}], got ${String(threads)}`)
  }
  return threads
}

export function checkFind(challenge: unknown, target: unknown, opts: unknown): asserts opts is FindOptions {
  if (!(challenge instanceof Uint8Array) || challenge.length < RECORD_HASH_BYTES) {
    throw new ProverError('INVALID_ARGUMENT', `challenge must be at least ${RECORD_HASH_BYTES} bytes`)
  }
  if (typeof target !== 'bigint' || target < 0n) throw new ProverError('INVALID_ARGUMENT', 'target must be a bigint ≥ 0')
  if (opts === null || typeof opts !== 'object') throw new ProverError('INVALID_ARGUMENT', 'find needs options { deadline, signal? }')
  const { deadline, signal } = opts as Partial<FindOptions>
  if (typeof deadline !== 'number' || Number.isNaN(deadline)) {
    throw new ProverError('INVALID_ARGUMENT', 'deadline must be a time in ms since the epoch')
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ProverError('INVALID_ARGUMENT', 'signal must be an AbortSignal')
}

/** True when a find has nothing to do: no record can be within a target of 0, or time or the signal says stop. */
export function findIsOver(target: bigint, opts: FindOptions): boolean {
  return target === 0n || opts.deadline <= Date.now() || opts.signal?.aborted === true
}
