// Why transaction signatures are verified with OpenSSL: secp256k1 verify/s of
// protocol/chain/keys.ts's `verify` (node:crypto) against `verifyWithElliptic`,
// and sign/s of `sign` (elliptic, RFC 6979), on distinct (key, message)
// pairs; what the parsed-key cache saves (never-seen keys against one
// repeated key); then the hashing and codec work around every block: sha256
// of 151-byte headers, tx encode/decode/txId. Medians of 5 runs.
//
//   node dist/bench/crypto.js [--pairs 2000] [--runs 5] [--cold-keys 500]
import { hash as oneShotHash } from 'node:crypto'
import { blockHash, decodeHeader, encodeHeader } from '../protocol/chain/block-codec.js'
import { workProof } from '../node/consensus/work.js'
import { sha256 } from '../protocol/wire/hash.js'
import { decodeTx, encodeTx, txId, txSigningMessage, type Transaction } from '../protocol/chain/tx-codec.js'
import { sign, verify, verifyWithElliptic, type KeyPair } from '../protocol/chain/keys.js'
import {
  FastSigner,
  fmtInt,
  fmtMs,
  fmtRatio,
  GENESIS_TIME,
  intFlag,
  keyPairs,
  median,
  printHeader,
  printTable,
  ratesSync,
} from './lib/harness.js'

const PAIRS = intFlag('pairs', 2000)
const RUNS = intFlag('runs', 5)
const COLD_KEYS = intFlag('cold-keys', 500)
const CODEC_OPS = 100_000
const NETWORK_ID = 'bkc-bench'
/** keys.ts empties its key cache at 10,000 keys; past that the "warm" figures would include parsing. */
const KEY_CACHE_MAX = 10_000

interface Row {
  name: string
  rates: number[]
  note?: string
}

const rows: Row[] = []
const ratios: string[][] = []
function record(name: string, rates: number[], note = ''): number {
  rows.push({ name, rates, note })
  return median(rates)
}

/** Distinct signing messages, one per key: real transfer bytes from key i to key i+1. */
function messages(keys: KeyPair[]): Buffer[] {
  return keys.map((k, i) => {
    const tx: Transaction = {
      from: k.address,
      to: keys[(i + 1) % keys.length]!.address,
      amount: i + 1,
      nonce: i,
      timestamp: GENESIS_TIME + i,
      signature: Buffer.alloc(64),
    }
    return txSigningMessage(NETWORK_ID, tx)
  })
}

/** Runs `check` on every pair and throws unless each one holds: speed is never reported for failures. */
function verifyAll(name: string, check: typeof verify, addrs: Buffer[], msgs: Buffer[], sigs: Buffer[]): void {
  for (let i = 0; i < msgs.length; i++) {
    if (!check(addrs[i]!, msgs[i]!, sigs[i]!)) throw new Error(`${name}: signature ${i} did not verify`)
  }
}

function signatures(keys: KeyPair[]): void {
  const msgs = messages(keys)
  const addrs = keys.map((k) => k.address)
  let sigs: Buffer[] = []
  const signRate = record(
    `sign (elliptic, RFC 6979) — used`,
    ratesSync(RUNS, keys.length, () => {
      sigs = keys.map((k, i) => sign(k.privateKey, msgs[i]!))
    }),
  )
  const signers = keys.map((k) => new FastSigner(k.privateKey))
  const osslSignRate = record(
    'sign (node:crypto + low-S fold) — reference',
    ratesSync(RUNS, keys.length, () => {
      for (let i = 0; i < keys.length; i++) signers[i]!.sign(msgs[i]!)
    }),
    'random nonces, not RFC 6979',
  )

  // A tampered signature must fail on both paths, or the rates below mean nothing.
  const bad = Buffer.from(sigs[0]!)
  bad[10] = bad[10]! ^ 1
  if (verify(addrs[0]!, msgs[0]!, bad) || verifyWithElliptic(addrs[0]!, msgs[0]!, bad)) throw new Error('a tampered signature verified')

  verifyAll('verify warm-up', verify, addrs, msgs, sigs) // parses every key once: the runs below hit the cache
  const ossl = record(
    'verify (node:crypto), key cache warm — used',
    ratesSync(RUNS, keys.length, () => verifyAll('verify', verify, addrs, msgs, sigs)),
  )
  const ell = record(
    'verifyWithElliptic',
    ratesSync(RUNS, keys.length, () => verifyAll('verifyWithElliptic', verifyWithElliptic, addrs, msgs, sigs)),
    'no key cache',
  )

  ratios.push([`verify: node:crypto / elliptic`, fmtRatio(ossl / ell)])
  ratios.push([`sign: node:crypto / elliptic (if signing moved to OpenSSL)`, fmtRatio(osslSignRate / signRate)])
}

/** Verify cost when the key was never seen (parse + verify) against one key seen before. */
function keyCache(): void {
  const fresh: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const keys = keyPairs(COLD_KEYS)
    const msgs = messages(keys)
    const sigs = keys.map((k, i) => new FastSigner(k.privateKey).sign(msgs[i]!))
    fresh.push(
      ratesSync(1, keys.length, () =>
        verifyAll(
          'verify, cold',
          verify,
          keys.map((k) => k.address),
          msgs,
          sigs,
        ),
      )[0]!,
    )
  }
  const cold = record('verify (node:crypto), never-seen keys', fresh, `${fmtInt(COLD_KEYS)} new keys a run`)

  const one = keyPairs(1)[0]!
  const signer = new FastSigner(one.privateKey)
  const msgs = messages(Array.from({ length: COLD_KEYS }, () => one)) // distinct amounts and nonces
  const sigs = msgs.map((m) => signer.sign(m))
  const addrs = msgs.map(() => one.address)
  verifyAll('verify warm-up', verify, addrs, msgs, sigs)
  const warm = record(
    'verify (node:crypto), one repeated key',
    ratesSync(RUNS, COLD_KEYS, () => verifyAll('verify, warm', verify, addrs, msgs, sigs)),
  )
  ratios.push(['verify: repeated key / never-seen key', fmtRatio(warm / cold)])
  ratios.push(['key parse cost (never-seen − repeated, per verify)', fmtMs(1000 / cold - 1000 / warm)])
}

function hashing(keys: KeyPair[]): void {
  const header = {
    height: 123_456,
    prevHash: sha256(Buffer.from('prev')),
    timestamp: GENESIS_TIME,
    txRoot: sha256(Buffer.from('root')),
    miner: keys[0]!.address,
    target: Buffer.alloc(32, 0xff),
    proofType: 'pow' as const,
    proof: workProof(42),
  }
  const bytes = encodeHeader(header)
  const HEADER_BYTES = bytes.length
  let sink = 0
  const n = CODEC_OPS
  record(
    `sha256 of a ${HEADER_BYTES}-byte header (protocol/hash)`,
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= sha256(bytes)[0]!
    }),
  )
  record(
    `crypto.hash one-shot, ${HEADER_BYTES} bytes`,
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= oneShotHash('sha256', bytes, 'buffer')[0]!
    }),
    'what the miner hashes with',
  )
  record(
    'blockHash (encodeHeader + sha256)',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= blockHash(header)[0]!
    }),
  )
  record(
    'decodeHeader',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= decodeHeader(bytes).height
    }),
  )

  const tx: Transaction = {
    from: keys[0]!.address,
    to: keys[1]!.address,
    amount: 5,
    nonce: 7,
    timestamp: GENESIS_TIME,
    signature: Buffer.alloc(64, 3),
  }
  const txBytes = encodeTx(tx)
  if (!decodeTx(txBytes).to.equals(tx.to)) throw new Error('tx codec round trip failed')
  record(
    'encodeTx',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= encodeTx(tx)[0]!
    }),
  )
  record(
    'decodeTx',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= decodeTx(txBytes).amount
    }),
  )
  record(
    'txId (encodeTx + sha256)',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= txId(tx)[0]!
    }),
  )
  record(
    'txSigningMessage',
    ratesSync(RUNS, n, () => {
      for (let i = 0; i < n; i++) sink ^= txSigningMessage(NETWORK_ID, tx)[0]!
    }),
  )
  if (sink === -1) console.log('') // keeps the results observably used
}

async function main(): Promise<void> {
  printHeader(
    'bench/crypto — signatures, hashing and codecs',
    `secp256k1 on ${fmtInt(PAIRS)} distinct (key, message) pairs; ${fmtInt(CODEC_OPS)} ops a run for hashing and codecs; medians of ${RUNS} runs`,
  )
  if (PAIRS + RUNS * COLD_KEYS + 1 >= KEY_CACHE_MAX) {
    console.log(
      `warning: ${PAIRS + RUNS * COLD_KEYS + 1} distinct keys exceed the key cache (${KEY_CACHE_MAX}); warm figures include parsing\n`,
    )
  }
  const keys = keyPairs(PAIRS)
  signatures(keys)
  keyCache()
  hashing(keys)

  printTable(
    ['operation', 'ops/s (median)', 'per op', 'each run (ops/s)', 'note'],
    rows.map((r) => {
      const m = median(r.rates)
      return [r.name, fmtInt(m), fmtMs(1000 / m), r.rates.map(fmtInt).join(' / '), r.note ?? '']
    }),
  )
  console.log('')
  printTable(['ratio', 'value'], ratios)
}

await main()
