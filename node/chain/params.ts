// Network parameters: read from a network file (JSON) so every node of a
// network shares one genesis and one set of consensus rules.
import { readFileSync } from 'node:fs'
import { fromHex, isHexOfLength } from '../../protocol/wire/bytes.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { ZERO_ADDRESS, ZERO_SIGNATURE, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import { blockHash, type Block } from '../../protocol/chain/block-codec.js'
import { isValidAddress } from '../../protocol/chain/keys.js'
import type { ConsensusEngine } from '../consensus/engine.js'
import { createEngine, DEFAULT_ENGINE, ENGINE_NAMES, isEngineName, type EngineName, type SlotsParams } from '../consensus/engines.js'
import { workProof } from '../consensus/work.js'
import { genesisChallenge } from '../consensus/slot-rules.js'
import { sha256 } from '../../protocol/wire/hash.js'
import { toHex } from '../../protocol/wire/bytes.js'

/** `consensus.retarget`: the per-block difficulty rule; absent, the target is fixed. */
export interface RetargetParams {
  rule: 'asert'
  /** Time behind (ahead of) schedule that doubles (halves) the target. */
  halfLifeMs: number
  /** The easiest target a block may carry (32 bytes); at least `target`. */
  powLimit: Buffer
  /** When block 1 is due (ms since the epoch): the schedule's anchor, the network's launch time. */
  anchorTimeMs: number
}

export interface ConsensusParams {
  blockReward: number
  /** Proof-of-work target (32 bytes): every block's, or the anchor of `retarget`. */
  target: Buffer
  /** The block interval `retarget` holds. */
  targetBlockTimeMs: number
  retarget?: RetargetParams
  /** `consensus.engine`: `work` (the default) or `slots`. */
  engineName: EngineName
  /** `consensus.slots`, for the `slots` engine. */
  slots?: SlotsParams
  medianTimeSpan: number
  maxFutureBlockTimeMs: number
  maxBlockBytes: number
}

export interface NetworkParams {
  name: string
  /** Bound into every transaction signature: a signature is valid on one network only. */
  networkId: string
  /** P2P frame magic. */
  magic: number
  consensus: ConsensusParams
  /** The consensus engine named by `consensus.engine` (default `work`), built from these parameters. */
  engine: ConsensusEngine
  genesis: Block
  genesisHash: Buffer
}

export class NetworkFileError extends Error {
  override name = 'NetworkFileError'
}

type Json = Record<string, unknown>

/** ASERT's half-life against the future-time limit: a block at the limit eases its child by at most 2^(1/4) (19 %). */
export const MIN_HALF_LIFE_RATIO = 4

function field<T>(obj: Json, key: string, where: string, check: (v: unknown) => v is T, expected: string): T {
  const v = obj[key]
  if (!check(v)) throw new NetworkFileError(`${where}.${key}: expected ${expected}`)
  return v
}
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Validates a parsed network file and builds its genesis block. */
export function networkFromJson(json: unknown, source = 'network file'): NetworkParams {
  if (!isObj(json)) throw new NetworkFileError(`${source}: expected a JSON object`)
  const name = field(json, 'name', source, isStr, 'a name (1-64 chars)')
  const networkId = field(json, 'networkId', source, isStr, 'an id (1-64 chars)')
  const magicHex = field(
    json,
    'magic',
    source,
    (v): v is string => typeof v === 'string' && /^0x[0-9a-fA-F]{8}$/.test(v),
    '"0x" and 8 hex digits',
  )
  const c = field(json, 'consensus', source, isObj, 'an object')
  const where = `${source}: consensus`
  const targetHex = field(c, 'target', where, (v): v is string => isHexOfLength(v, 32), '64 hex digits')
  // Optional: a network without it is a `work` network.
  const engineName = c.engine ?? DEFAULT_ENGINE
  if (!isEngineName(engineName)) {
    const got = String(JSON.stringify(engineName)).slice(0, 66)
    throw new NetworkFileError(
      `${where}.engine: unknown consensus engine ${got}; this build knows ${ENGINE_NAMES.map((n) => `"${n}"`).join(', ')}`,
    )
  }
  const consensus: ConsensusParams = {
    engineName,
    blockReward: field(c, 'blockReward', where, isPosInt, 'a positive integer'),
    target: fromHex(targetHex)!,
    targetBlockTimeMs: field(c, 'targetBlockTimeMs', where, isPosInt, 'a positive integer (ms)'),
    medianTimeSpan: field(c, 'medianTimeSpan', where, isPosInt, 'a positive integer'),
    maxFutureBlockTimeMs: field(c, 'maxFutureBlockTimeMs', where, isPosInt, 'a positive integer (ms)'),
    maxBlockBytes: field(
      c,
      'maxBlockBytes',
      where,
      (v): v is number => isPosInt(v) && v >= 1024 && v <= 4 * 1024 * 1024,
      'an integer in [1024, 4 MiB]',
    ),
  }
  if (consensus.target.equals(Buffer.alloc(32))) throw new NetworkFileError(`${where}.target: must not be zero`)
  if (c.retarget !== undefined) {
    consensus.retarget = retargetFromJson(c.retarget, `${where}.retarget`, consensus.target)
    // A block dated at the future limit makes its child easier by 2^(maxFuture / halfLife).
    if (consensus.retarget.halfLifeMs < MIN_HALF_LIFE_RATIO * consensus.maxFutureBlockTimeMs) {
      throw new NetworkFileError(
        `${where}.retarget.halfLifeMs: must be at least ${MIN_HALF_LIFE_RATIO} × maxFutureBlockTimeMs (${MIN_HALF_LIFE_RATIO * consensus.maxFutureBlockTimeMs}), or a block dated in the future eases the target too much`,
      )
    }
  }
  if (engineName === 'slots') {
    if (consensus.retarget !== undefined) throw new NetworkFileError(`${where}.retarget: the slots engine has its own target rule`)
    consensus.slots = slotsFromJson(c.slots, `${where}.slots`, consensus.target)
  } else if (c.slots !== undefined) throw new NetworkFileError(`${where}.slots: only for consensus.engine "slots"`)

  const g = field(json, 'genesis', source, isObj, 'an object')
  const timestamp = field(g, 'timestamp', `${source}: genesis`, isNonNegInt, 'a timestamp in ms')
  let engine: ConsensusEngine
  try {
    engine = createEngine(engineName, {
      target: consensus.target,
      targetBlockTimeMs: consensus.targetBlockTimeMs,
      genesisTime: timestamp,
      ...(consensus.retarget && { retarget: consensus.retarget }),
      ...(consensus.slots && { slots: consensus.slots }),
    })
  } catch (err) {
    if (err instanceof RangeError) throw new NetworkFileError(`${where}: ${err.message}`)
    throw err
  }
  const balances = g.balances ?? {}
  if (!isObj(balances)) throw new NetworkFileError(`${source}: genesis.balances: expected an object of address → amount`)
  // Keys are normalised to lower case first, so the same accounts written in
  // either case give the same genesis, and one address cannot appear twice.
  const normalised = new Map<string, unknown>()
  for (const [addr, amount] of Object.entries(balances)) {
    const lower = addr.toLowerCase()
    if (normalised.has(lower)) throw new NetworkFileError(`${source}: genesis.balances: address ${lower} is listed twice`)
    normalised.set(lower, amount)
  }
  const allocations: Transaction[] = []
  for (const addr of [...normalised.keys()].sort()) {
    const amount = normalised.get(addr)
    const bytes = isHexOfLength(addr, 33) ? fromHex(addr)! : null
    if (bytes === null || !isValidAddress(bytes))
      throw new NetworkFileError(`${source}: genesis.balances: "${addr}" is not an address (compressed public key hex)`)
    if (!isPosInt(amount)) throw new NetworkFileError(`${source}: genesis.balances["${addr}"]: expected a positive integer`)
    allocations.push({ from: ZERO_ADDRESS, to: bytes, amount, nonce: 0, timestamp, signature: ZERO_SIGNATURE })
  }
  const genesis: Block = {
    header: {
      height: 0,
      // The genesis block commits to the network's rules, so nodes that
      // disagree on any of them disagree on the genesis hash: in HELLO and
      // in the data directory.
      prevHash: rulesDigest(networkId, consensus),
      timestamp,
      txRoot: merkleRoot(allocations.map(txId)),
      miner: ZERO_ADDRESS,
      target: consensus.target,
      ...(engineName === 'slots'
        ? { proofType: 'empty' as const, proof: genesisChallenge(networkId) }
        : { proofType: 'pow' as const, proof: workProof(0) }),
    },
    txs: allocations,
  }
  const magic = parseInt(magicHex.slice(2), 16)
  return { name, networkId, magic, consensus, engine, genesis, genesisHash: blockHash(genesis.header) }
}

/**
 * sha256 of a tag and the consensus rules as JSON, keys in a fixed order:
 * the genesis block's previous hash.
 */
export function rulesDigest(networkId: string, c: ConsensusParams): Buffer {
  const rules = {
    networkId,
    engine: c.engineName,
    blockReward: c.blockReward,
    target: toHex(c.target),
    targetBlockTimeMs: c.targetBlockTimeMs,
    medianTimeSpan: c.medianTimeSpan,
    maxFutureBlockTimeMs: c.maxFutureBlockTimeMs,
    maxBlockBytes: c.maxBlockBytes,
    retarget: c.retarget && { ...c.retarget, powLimit: toHex(c.retarget.powLimit) },
    slots: c.slots && { ...c.slots, targetLimit: toHex(c.slots.targetLimit) },
  }
  return sha256(Buffer.from('bkc-rules\n', 'utf8'), Buffer.from(JSON.stringify(rules), 'utf8'))
}

function slotsFromJson(v: unknown, where: string, target: Buffer): SlotsParams {
  if (!isObj(v)) throw new NetworkFileError(`${where}: expected an object (the slots engine's clock)`)
  const slotMs = field(v, 'slotMs', where, (x): x is number => isPosInt(x) && x >= 100, 'an integer of at least 100 (ms)')
  const graceMs = field(v, 'graceMs', where, (x): x is number => isNonNegInt(x) && x < slotMs, 'an integer below slotMs (ms)')
  const maxDriftMs = field(v, 'maxDriftMs', where, isNonNegInt, 'a non-negative integer (ms)')
  const limitHex = field(v, 'targetLimit', where, (x): x is string => isHexOfLength(x, 32), '64 hex digits')
  const targetLimit = fromHex(limitHex)!
  if (targetLimit.subarray(0, 8).some((b) => b !== 0))
    throw new NetworkFileError(`${where}.targetLimit: must be below 2^192 (a record's size)`)
  if (Buffer.compare(targetLimit, target) < 0) throw new NetworkFileError(`${where}.targetLimit: must not be harder than consensus.target`)
  const unknown = Object.keys(v).filter((k) => !['slotMs', 'graceMs', 'maxDriftMs', 'targetLimit'].includes(k))
  if (unknown.length > 0) throw new NetworkFileError(`${where}.${unknown[0]!.slice(0, 64)}: unknown field`)
  return { slotMs, graceMs, maxDriftMs, targetLimit }
}

function retargetFromJson(v: unknown, where: string, target: Buffer): RetargetParams {
  if (!isObj(v)) throw new NetworkFileError(`${where}: expected an object`)
  field(v, 'rule', where, (r): r is 'asert' => r === 'asert', '"asert" (the only rule this build knows)')
  const halfLifeMs = field(v, 'halfLifeMs', where, isPosInt, 'a positive integer (ms)')
  const powLimitHex = field(v, 'powLimit', where, (x): x is string => isHexOfLength(x, 32), '64 hex digits')
  const powLimit = fromHex(powLimitHex)!
  if (Buffer.compare(powLimit, target) < 0) throw new NetworkFileError(`${where}.powLimit: must not be harder than consensus.target`)
  const anchorTimeMs = field(v, 'anchorTimeMs', where, isNonNegInt, 'a time in ms since the epoch (a non-negative integer)')
  const unknown = Object.keys(v).filter((k) => !['rule', 'halfLifeMs', 'powLimit', 'anchorTimeMs'].includes(k))
  if (unknown.length > 0) throw new NetworkFileError(`${where}.${unknown[0]!.slice(0, 64)}: unknown field`)
  return { rule: 'asert', halfLifeMs, powLimit, anchorTimeMs }
}

export function loadNetworkFile(path: string): NetworkParams {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new NetworkFileError(`cannot read network file ${path}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new NetworkFileError(`network file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  return networkFromJson(json, path)
}
