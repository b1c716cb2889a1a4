// What the RPC shows of the consensus engine: getStatus on a work and on a
// slots network, getValidators over a slots chain won by two validators
// with empty slots between, and getBlock of a proof, an empty and a work
// block. The slots chain is sealed in-process and submitted to a node.
import { fingerprintToUuid } from '../../../../node/validator/config.js'
import t, { type Test } from 'tap'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { Block, ProofType } from '../../../../protocol/chain/block-codec.js'
import { decodeSlotProof } from '../../../../protocol/chain/slot-proof.js'
import { ZERO_ADDRESS } from '../../../../protocol/chain/tx-codec.js'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { networkFromJson, type NetworkParams } from '../../../../node/chain/params.js'
import { targetToBigInt } from '../../../../node/consensus/asert.js'
import { testNetwork } from '../../../../bench/lib/fixtures.js'
import { sealSlot, slotsEngine, slotsNetworkJson, testValidator, type TestValidator } from '../../../../bench/lib/slot-fixtures.js'
import { fund, nodeDataDir, rpcCall, rpcResult, startTestNode, type TestNode } from '../../../helpers/node-fixtures.js'

/**
 * Long slots, the current one begun half a slot ago: blocks for slots
 * 1..CURRENT are all due, and the node's metronome has no slot to fill
 * while the test runs (the next closes minutes from now).
 */
const SLOT_MS = 600_000
const CURRENT = 8

function slotsNet(): NetworkParams {
  const json = slotsNetworkJson({ networkId: 'bkc-rpc-slots' }) as {
    genesis: { timestamp: number }
    consensus: { targetBlockTimeMs: number; slots: { slotMs: number } }
  }
  json.genesis.timestamp = Date.now() - CURRENT * SLOT_MS - SLOT_MS / 2
  json.consensus.targetBlockTimeMs = SLOT_MS
  json.consensus.slots.slotMs = SLOT_MS
  return networkFromJson(json, 'rpc slots test network')
}

const alice = testValidator(generateKeyPair())
const bob = testValidator(generateKeyPair())
/** Alice's key with another fingerprint (another machine of hers): a validator of its own. */
const alice2: TestValidator = { key: alice.key, fingerprint: Buffer.alloc(16, 0xa2) }

type Step = { v: TestValidator; proofType: ProofType } | 'empty'
/** Slots 1..8: heights 1..8, newest last. */
const STEPS: Step[] = [
  { v: alice, proofType: 'pow' },
  'empty',
  { v: bob, proofType: 'pom' },
  { v: alice, proofType: 'pow' },
  'empty',
  { v: alice2, proofType: 'pos' },
  { v: bob, proofType: 'pom' },
  { v: alice, proofType: 'pow' },
]

/** A node on the slots network with STEPS submitted; returns it and the blocks. */
async function slotsChain(t: Test): Promise<{ node: TestNode; net: NetworkParams; blocks: Block[] }> {
  const net = slotsNet()
  const node = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const engine = slotsEngine(net)
  const blocks: Block[] = []
  for (const [i, step] of STEPS.entries()) {
    const slot = i + 1
    const parent = node.node.chain.tip
    const block = step === 'empty' ? engine.emptyBlock(parent, slot) : sealSlot(net, parent, step.v, slot, { proofType: step.proofType })
    const res = await node.node.chain.submitBlock(block)
    if (res.status !== 'connected') throw new Error(`slot ${slot}: ${JSON.stringify(res)}`)
    blocks.push(block)
  }
  return { node, net, blocks }
}

const hex = (b: Buffer): string => toHex(b)

t.test('getStatus on a work network: engine, proof type, target and difficulty; no slot fields', async (t) => {
  const net = testNetwork({ bits: 8 })
  const { node, url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  await fund(node, hex(alice.key.address), 2)
  const s = await rpcResult<Record<string, unknown>>(url, 'getStatus')
  t.match(s, { height: 2, engine: 'work', proofType: 'pow', target: `00${'ff'.repeat(31)}`, difficulty: 256 })
  for (const k of ['slot', 'slotMs', 'tipSlot']) t.notOk(k in s, `no ${k}`)
})

t.test('getStatus on a slots network: the slot clock too; the difficulty is 2^192 / target', async (t) => {
  const net = slotsNet()
  const { url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  const fresh = await rpcResult<Record<string, unknown>>(url, 'getStatus')
  // Block 1's target is 2^188: a record wins with probability 1/16.
  t.match(fresh, { height: 0, engine: 'slots', proofType: null, slotMs: SLOT_MS, tipSlot: 0, slot: CURRENT })
  t.equal(fresh.target, hex(net.consensus.target))
  t.equal(targetToBigInt(net.consensus.target), 1n << 188n)
  t.equal(fresh.difficulty, 16)
})

t.test('getStatus on a slots chain follows the tip', async (t) => {
  const { node } = await slotsChain(t)
  const s = await rpcResult<Record<string, unknown>>(node.url, 'getStatus')
  const next = slotsEngine(node.node.chain.params).nextTarget(node.node.chain.tip)
  t.match(s, { height: STEPS.length, engine: 'slots', proofType: null, slotMs: SLOT_MS, tipSlot: CURRENT, slot: CURRENT })
  t.equal(s.target, hex(next), "the target of the tip's child")
  t.equal(s.difficulty, Number((1n << 192n) / targetToBigInt(next)))
})

t.test('getValidators counts blocks won, empty blocks, last block and fingerprint', async (t) => {
  const { node } = await slotsChain(t)
  const url = node.url
  const entry = (v: TestValidator, proofType: string, blocksWon: number, lastBlock: number) => ({
    key: hex(v.key.address),
    fingerprint: fingerprintToUuid(v.fingerprint),
    proofType,
    blocksWon,
    lastBlock,
  })
  const all = await rpcResult<Record<string, unknown>>(url, 'getValidators')
  t.same(all, {
    blocks: 8,
    emptyBlocks: 2,
    validators: [entry(alice, 'pow', 3, 8), entry(bob, 'pom', 2, 7), entry(alice2, 'pos', 1, 6)],
    local: { mining: false, key: null, proofType: null, hashRate: 0, storedRecords: 0 },
  })
  t.same(await rpcResult(url, 'getValidators', [1000]), all, 'more blocks than the chain has: the whole chain')
  t.same(await rpcResult(url, 'getValidators', [100]), all)
  t.same(await rpcResult(url, 'getValidators', [null]), all, 'null: the default')
  t.match(await rpcResult(url, 'getValidators', [5]), {
    blocks: 5,
    emptyBlocks: 1,
    validators: [entry(alice, 'pow', 2, 8), entry(bob, 'pom', 1, 7), entry(alice2, 'pos', 1, 6)],
  })
  t.match(await rpcResult(url, 'getValidators', ['3']), {
    blocks: 3,
    emptyBlocks: 0,
    validators: [entry(alice, 'pow', 1, 8), entry(bob, 'pom', 1, 7), entry(alice2, 'pos', 1, 6)],
  })
  t.same(await rpcResult(url, 'getValidators', { blocks: 1 }), {
    ...all,
    blocks: 1,
    emptyBlocks: 0,
    validators: [entry(alice, 'pow', 1, 8)],
  })

  for (const bad of [0, 1001, 'x', -1, 2.5, '1e3', true, [5]]) {
    const r = await rpcCall(url, 'getValidators', [bad])
    t.equal(r.error?.code, -32602, `getValidators(${JSON.stringify(bad)}): invalid params`)
    t.match(r.error?.message, /blocks/, 'naming the parameter')
  }
  t.equal((await rpcCall(url, 'getValidators', [5, 6])).error?.code, -32602, 'too many params')
})

t.test('getValidators of a chain with only its genesis: nothing won', async (t) => {
  const { url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: slotsNet() })
  t.match(await rpcResult(url, 'getValidators'), { blocks: 0, emptyBlocks: 0, validators: [] })
})

t.test('getBlock of a slots block: proofType and the proof, no nonce at top level', async (t) => {
  const { node, blocks } = await slotsChain(t)
  const net = node.node.chain.params
  const b = blocks[2]!
  const proof = decodeSlotProof(b.header.proof)
  const view = await rpcResult<Record<string, unknown>>(node.url, 'getBlock', [3])
  t.match(view, { height: 3, miner: hex(bob.key.address), proofType: 'pom', target: hex(b.header.target) })
  t.notOk('nonce' in view, 'no nonce field at top level')
  const p = view.proof as Record<string, unknown>
  t.same(Object.keys(p).sort(), ['challenge', 'distance', 'fingerprint', 'nonce', 'record', 'signature', 'slot'])
  t.match(p, {
    slot: 3,
    challenge: hex(proof.challenge),
    fingerprint: hex(bob.fingerprint),
    nonce: proof.nonce,
    signature: hex(proof.signature),
  })
  t.match(p.record, /^[0-9a-f]+$/)
  t.match(p.distance, /^[0-9a-f]{48}$/, 'the distance: 48 hex digits')
  t.ok(BigInt(`0x${p.distance as string}`) < targetToBigInt(b.header.target), 'within the target')
  t.equal(view.timestamp, slotsEngine(net).slotStart(3), "the slot's start")

  const empty = await rpcResult<Record<string, unknown>>(node.url, 'getBlock', [2])
  t.match(empty, { height: 2, proofType: 'empty', miner: hex(ZERO_ADDRESS), transactions: [] })
  t.same(empty.proof, { slot: 2, challenge: hex(blocks[1]!.header.proof) })
  t.notOk('nonce' in empty)

  const byHash = await rpcResult<Record<string, unknown>>(node.url, 'getBlockByHash', [view.hash])
  t.same({ ...byHash, onBestChain: undefined }, { ...view, onBestChain: undefined }, 'getBlockByHash shows the same')
  t.equal(byHash.onBestChain, true)
})

t.test('getBlock of a work block keeps its nonce at top level', async (t) => {
  const net = testNetwork({ bits: 8 })
  const { node, url } = await startTestNode(t, { dataDir: nodeDataDir(t), network: net })
  await fund(node, hex(alice.key.address), 1)
  const view = await rpcResult<Record<string, unknown>>(url, 'getBlock', [1])
  t.match(view, { height: 1, proofType: 'pow', nonce: Number, proof: { nonce: Number } })
  t.equal(view.nonce, (view.proof as { nonce: number }).nonce)
  t.same(Object.keys(view.proof as object), ['nonce'])
})
