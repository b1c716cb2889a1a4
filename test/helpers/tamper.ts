// Extra fixtures for the chain-core unit tests: curve arithmetic done
// independently with BigInt (high-S twins, off-curve x), OpenSSL key objects,
// blocks whose transaction list is tampered with (root recomputed, PoW
// re-solved so only the intended rule breaks), and small builders.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { encodeHeader, type Block, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import { applyGenesis, type Account } from '../../node/chain/state.js'
import type { IndexEntry } from '../../node/chain/block-index.js'
import type { NetworkParams } from '../../node/chain/params.js'
import { hashMeetsTarget } from '../../node/consensus/pow.js'
import { workNonce, workProof } from '../../node/consensus/work.js'
import { CURVE_N } from '../../protocol/chain/keys.js'
import { mine, type MineOptions, type ParentRef } from '../../bench/lib/fixtures.js'

export const HALF_N = CURVE_N >> 1n
export const CURVE_P = BigInt('0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f')

export const big = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'))
export const be32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')

/** The other valid encoding of the same signature: (r, n − s). */
export function highSTwin(sig: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(sig.subarray(0, 32)), be32(CURVE_N - big(sig.subarray(32)))])
}

/** (r, min(s, n − s)): the canonical form of any valid signature. */
export function toLowS(sig: Uint8Array): Buffer {
  return big(sig.subarray(32)) > HALF_N ? highSTwin(sig) : Buffer.from(sig)
}

export function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(bytes)
  const i = Math.floor(bit / 8) % out.length
  out[i] = out[i]! ^ (1 << (bit % 8))
  return out
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  let b = base % mod
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod
    b = (b * b) % mod
  }
  return result
}

/** True when x³ + 7 is a square mod p, i.e. some curve point has this x (Euler's criterion). */
export function isCurveX(x: bigint): boolean {
  const rhs = (x * x * x + 7n) % CURVE_P
  return rhs === 0n || modPow(rhs, (CURVE_P - 1n) / 2n, CURVE_P) === 1n
}

/** An x below p that is the x of no curve point. */
export function offCurveX(start = 1n): bigint {
  let x = start
  while (isCurveX(x)) x++
  return x
}

const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex')

export { opensslPrivateKey } from '../../bench/lib/fixtures.js'

/** OpenSSL public key object without the code under test (no low-S rule, no cache). */
export function opensslPublicKey(address: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, address]), format: 'der', type: 'spki' })
}

/** A transfer with a zero signature: enough for the state rules, which do not check signatures. */
export function unsignedTransfer(from: Buffer, to: Buffer, amount: number, nonce: number): Transaction {
  return { from, to, amount, nonce, timestamp: 1, signature: Buffer.alloc(64) }
}

export function rootOf(txs: readonly Transaction[]): Buffer {
  return merkleRoot(txs.map(txId))
}

/**
 * Mines a block whose transactions (reward included) are edited by `edit`;
 * the root is recomputed and the PoW re-solved, so the only broken rule is
 * the one `edit` breaks.
 */
export function mineEdited(
  net: NetworkParams,
  parent: ParentRef,
  edit: (txs: Transaction[], h: BlockHeader) => void,
  opts: MineOptions = {},
): Block {
  return mine(net, parent, {
    ...opts,
    tamper: (h, txs) => {
      edit(txs, h)
      h.txRoot = rootOf(txs)
    },
  })
}

/** The same block with a nonce whose hash misses the target. */
export function withFailingPow(block: Block): Block {
  const h = { ...block.header }
  for (let nonce = workNonce(h); hashMeetsTarget(sha256(encodeHeader(h)), h.target); ) h.proof = workProof(++nonce)
  return { header: h, txs: block.txs }
}

/** The accounts a network starts with. */
export function genesisAccounts(net: NetworkParams): Map<string, Account> {
  return new Map(applyGenesis(net.genesis).changes)
}

/** Applies state changes (null = delete) to a copy of `accounts`. */
export function withWrites(accounts: ReadonlyMap<string, Account>, writes: ReadonlyMap<string, Account | null>): Map<string, Account> {
  const out = new Map(accounts)
  for (const [addr, acct] of writes) {
    if (acct === null) out.delete(addr)
    else out.set(addr, acct)
  }
  return out
}

export function indexEntry(fields: Partial<IndexEntry> & { hash: string }): IndexEntry {
  return {
    prev: '',
    height: 0,
    timestamp: 0,
    target: Buffer.alloc(32, 0xff),
    proofType: 'pow',
    seed: Buffer.alloc(0),
    tieBreak: 0n,
    work: 1n,
    chainWork: 1n,
    status: 'unverified',
    ...fields,
  }
}
