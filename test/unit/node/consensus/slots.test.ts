// The `slots` engine's rules against a real chainstate: every rule with a
// case that breaks it, the empty block, the tie between two proofs of one
// slot and the late block. Blocks are sealed in-process (an easy target).
import t, { type Test } from 'tap'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { encodeBlock, type Block } from '../../../../protocol/chain/block-codec.js'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { ZERO_ADDRESS } from '../../../../protocol/chain/tx-codec.js'
import type { ParentBlock } from '../../../../node/consensus/engine.js'
import { targetToBigInt } from '../../../../node/consensus/asert.js'
import { mine, testNetwork } from '../../../../bench/lib/fixtures.js'
import {
  DRIFT_MS,
  findNonce,
  GRACE_MS,
  sealSlot,
  signSlotHeader,
  SLOT_MS,
  slotsEngine,
  slotsNetwork,
  testValidator,
} from '../../../../bench/lib/slot-fixtures.js'
import { hashOf, openChain, testDir } from '../../../helpers/node-fixtures.js'
import { decodeSlotProof, encodeSlotProof } from '../../../../protocol/chain/slot-proof.js'

const net = slotsNetwork()
const engine = slotsEngine(net)
const alice = testValidator(generateKeyPair())
const bob = testValidator(generateKeyPair())
const startOf = (slot: number): number => engine.slotStart(slot)

/** A chainstate whose clock the test sets. */
async function chainAt(t: Test, now: number) {
  const clock = { now }
  const opened = await openChain(net, testDir(t, 'bkc-slots-'), { now: () => clock.now })
  t.teardown(opened.close)
  const genesis = opened.chain.tip as ParentBlock
  return { chain: opened.chain, clock, genesis }
}

async function refused(t: Test, chain: Awaited<ReturnType<typeof chainAt>>['chain'], block: Block, code: string, why: string) {
  const res = await chain.submitBlock(block)
  t.equal(res.status, 'invalid', why)
  if (res.status === 'invalid') t.equal(res.error.code, code, `${why}: ${code}`)
}

t.test('a sealed block for a slot is accepted and carries the slot start as its time', async (t) => {
  const { chain, genesis } = await chainAt(t, startOf(1) + 100)
  const b = sealSlot(net, genesis, alice, 1)
  t.equal(b.header.timestamp, startOf(1))
  const res = await chain.submitBlock(b)
  t.equal(res.status, 'connected')
  t.equal(chain.tip.height, 1)
  t.same(engine.describeProof(b.header).slot, 1)
})

t.test('proof rules: each broken one is refused with its reason', async (t) => {
  const { chain, genesis } = await chainAt(t, startOf(1) + 100)
  await refused(
    t,
    chain,
    sealSlot(net, genesis, alice, 1, { challenge: Buffer.alloc(32, 7) }),
    'BAD_CHALLENGE',
    'a proof for another challenge',
  )
  // A nonce whose record is not within the target.
  const template = engine.template(genesis, startOf(1))!
  const challenge = template.proof.subarray(0, 32)
  const target = targetToBigInt(template.target)
  let losing = 0
  while (findNonce(alice, challenge, target, losing).nonce === losing) losing++
  await refused(
    t,
    chain,
    sealSlot(net, genesis, alice, 1, {
      tamper: (h) => {
        const p = decodeSlotProof(h.proof)
        p.nonce = losing
        h.proof = encodeSlotProof(p)
      },
      resign: true,
    }),
    'BAD_PROOF',
    'a record farther from the challenge than the target',
  )
  // Bob takes Alice's published proof and signs it as his: the record of
  // (fingerprint, Bob's key, nonce) is another record, so it does not win
  // (or the signature check fails when only the miner field is swapped).
  const hers = sealSlot(net, genesis, alice, 1)
  const stolen = { ...hers.header, miner: bob.key.address }
  const res = await chain.submitBlock({ header: stolen, txs: hers.txs })
  t.equal(res.status, 'invalid', 'a proof reused under another key')
  if (res.status === 'invalid') t.ok(['BAD_PROOF', 'BAD_BLOCK_SIGNATURE'].includes(res.error.code), res.error.code)
  const resigned = signSlotHeader(bob, stolen)
  const res2 = await chain.submitBlock({ header: resigned, txs: hers.txs })
  t.equal(res2.status, 'invalid', 'a proof reused and re-signed under another key')
  await refused(
    t,
    chain,
    sealSlot(net, genesis, alice, 1, {
      tamper: (h) => {
        h.proof = Buffer.from(h.proof)
        h.proof[h.proof.length - 1]! ^= 1
      },
    }),
    'BAD_BLOCK_SIGNATURE',
    'a damaged signature',
  )
  await refused(t, chain, sealSlot(net, genesis, alice, 1, { timestamp: startOf(1) + 1 }), 'BAD_SLOT', 'a time inside the slot')
  await refused(
    t,
    chain,
    sealSlot(net, genesis, alice, 1, { tamper: (h) => void (h.target = Buffer.from(net.consensus.slots!.targetLimit)), resign: true }),
    'BAD_TARGET',
    'a target other than the rule gives',
  )
  t.equal(chain.tip.height, 0, 'nothing was connected')
})

t.test('timing: not before the slot begins (beyond the drift), and a late rival loses', async (t) => {
  const { chain, clock, genesis } = await chainAt(t, startOf(1) - DRIFT_MS - 1)
  await refused(t, chain, sealSlot(net, genesis, alice, 1), 'TOO_EARLY', 'a block before its slot')
  clock.now = startOf(1) - DRIFT_MS
  t.equal((await chain.submitBlock(sealSlot(net, genesis, alice, 1))).status, 'connected', 'within the drift')
  const tip = chain.tip.hash
  // A rival for slot 1 after its grace: refused unless heavier.
  clock.now = startOf(2) + GRACE_MS + 1
  let rival = sealSlot(net, genesis, bob, 1)
  for (
    let start = 0;
    engine.tieBreak(rival.header) <= engine.tieBreak(chain.entry(tip) ? (await chain.getBlockByHash(tip))!.block.header : rival.header);
    start += 1
  ) {
    rival = sealSlot(net, genesis, bob, 1, {
      startNonce: findNonce(bob, rival.header.proof.subarray(0, 32), targetToBigInt(rival.header.target), start).nonce + 1,
    })
    if (start > 200) break
  }
  await refused(t, chain, rival, 'TOO_LATE', 'a better rival after the grace')
  t.equal(chain.tip.hash, tip, 'the tip stays')
})

t.test('two proofs for one slot: every node picks the nearer record, in any order, even late within the grace', async (t) => {
  const a = await chainAt(t, startOf(1) + 10)
  const b = await chainAt(t, startOf(1) + 10)
  const x = sealSlot(net, a.genesis, alice, 1)
  const y = sealSlot(net, a.genesis, bob, 1)
  const better = engine.tieBreak(x.header) > engine.tieBreak(y.header) ? x : y
  const worse = better === x ? y : x
  await a.chain.submitBlock(x)
  await a.chain.submitBlock(y)
  await b.chain.submitBlock(y)
  await b.chain.submitBlock(x)
  t.equal(a.chain.tip.hash, hashOf(better))
  t.equal(b.chain.tip.hash, hashOf(better))
  // The worse first, then the better one late but within the grace: it wins.
  const c = await chainAt(t, startOf(1) + 10)
  await c.chain.submitBlock(worse)
  c.clock.now = startOf(2) + GRACE_MS - 1
  t.equal((await c.chain.submitBlock(better)).status, 'connected', 'a better block within the grace')
  t.equal(c.chain.tip.hash, hashOf(better))
})

t.test('the empty block: identical on every node, due only after its slot, and outweighed by a proof for the slot', async (t) => {
  const a = await chainAt(t, startOf(2) + GRACE_MS)
  const b = await chainAt(t, startOf(2) + GRACE_MS)
  const ea = engine.emptyBlock(a.genesis, 1)
  const eb = engine.emptyBlock(b.genesis, 1)
  t.same(encodeBlock(ea), encodeBlock(eb), 'byte-identical')
  t.same(ea.txs, [])
  t.same(ea.header.miner, ZERO_ADDRESS)
  const early = await chainAt(t, startOf(2) + GRACE_MS - DRIFT_MS - 1)
  await refused(t, early.chain, engine.emptyBlock(early.genesis, 1), 'TOO_EARLY', 'an empty block before its slot and grace are over')
  t.equal((await a.chain.submitBlock(ea)).status, 'connected')
  // A proof for the same slot arrives late: heavier, so it still wins.
  const proof = sealSlot(net, a.genesis, alice, 1)
  t.equal((await a.chain.submitBlock(proof)).status, 'connected', 'the proof block replaces the empty one')
  t.equal(a.chain.tip.hash, hashOf(proof))
  t.ok(engine.weight(proof.header) > engine.weight(ea.header))
  // The empty block raises the next target; a proof block lowers it.
  const afterEmpty = targetToBigInt(engine.nextTarget({ ...(a.chain.entry(hashOf(ea)) as ParentBlock) }))
  const afterProof = targetToBigInt(engine.nextTarget(a.chain.tip))
  t.ok(afterEmpty > afterProof)
})

t.test('a tampered empty block is refused', async (t) => {
  const { chain, genesis } = await chainAt(t, startOf(10))
  const base = engine.emptyBlock(genesis, 3)
  const cases: Array<[string, string, (b: Block) => void]> = [
    ['BAD_EMPTY_BLOCK', 'with a miner', (b) => void (b.header.miner = alice.key.address)],
    ['BAD_CHALLENGE', 'with another challenge', (b) => void (b.header.proof = Buffer.alloc(32, 1))],
    ['BAD_PROOF', 'with a longer proof', (b) => void (b.header.proof = Buffer.alloc(40))],
    ['BAD_TARGET', 'with another target', (b) => void (b.header.target = Buffer.from(net.consensus.slots!.targetLimit))],
    ['BAD_SLOT', 'off its slot start', (b) => void (b.header.timestamp += 5)],
  ]
  for (const [code, why, tamper] of cases) {
    const b: Block = { header: { ...base.header }, txs: [] }
    tamper(b)
    await refused(t, chain, b, code, why)
  }
  t.equal(chain.tip.height, 0)
})

t.test('wrong engine: a work block on a slots network and a slots block on a work network are refused', async (t) => {
  const { chain, genesis } = await chainAt(t, startOf(1))
  const workNet = testNetwork()
  const workBlock = mine(workNet, { hash: Buffer.from(genesis.hash, 'hex'), height: 0, timestamp: startOf(2) })
  await refused(t, chain, workBlock, 'BAD_PROOF', 'a proof-of-work header: its nonce is not a slot proof')
  const w = await openChain(workNet, testDir(t, 'bkc-work-'))
  t.teardown(w.close)
  const slotBlock = sealSlot(net, genesis, alice, 1)
  slotBlock.header.prevHash = workNet.genesisHash
  const res = await w.chain.submitBlock(slotBlock)
  t.equal(res.status, 'invalid')
  if (res.status === 'invalid') t.equal(res.error.code, 'BAD_PROOF', 'a slot proof is not a nonce')
})

t.test('after an outage one empty block marks the gap, and proof blocks follow from the next slot only', async (t) => {
  const { chain, clock, genesis } = await chainAt(t, startOf(600) + GRACE_MS)
  t.equal(engine.template(genesis, startOf(599)), null, 'no proof block may skip slots')
  await refused(
    t,
    chain,
    sealSlot(net, { ...genesis, timestamp: startOf(598) }, alice, 599, {
      tamper: (h) => void (h.prevHash = Buffer.from(genesis.hash, 'hex')),
      resign: true,
    }),
    'BAD_SLOT',
    'a proof block across the gap',
  )
  const e = engine.emptyBlock(genesis, 599)
  t.equal((await chain.submitBlock(e)).status, 'connected')
  t.equal(chain.tip.height, 1, 'one block for 599 slots')
  t.equal(toHex(e.header.prevHash), genesis.hash)
  clock.now = startOf(600) + 10
  t.equal((await chain.submitBlock(sealSlot(net, chain.tip, alice, 600))).status, 'connected', 'the next slot resumes')
  t.equal(SLOT_MS, engine.slotMs)
})

t.test("a withheld proof for a slot does not replace the empty block and the next slot's proof", async (t) => {
  const { chain, clock, genesis } = await chainAt(t, startOf(2) + GRACE_MS)
  const withheld = sealSlot(net, genesis, alice, 1)
  const empty = engine.emptyBlock(genesis, 1)
  t.equal((await chain.submitBlock(empty)).status, 'connected')
  clock.now = startOf(2) + 10
  const next = sealSlot(net, chain.tip, bob, 2)
  t.equal((await chain.submitBlock(next)).status, 'connected')
  clock.now = startOf(3) + 10
  await refused(t, chain, withheld, 'TOO_LATE', 'released in slot 3')
  const batch = await chain.submitBlocks([withheld])
  t.equal(batch[0]!.status, 'invalid', 'as a batch too')
  t.equal(chain.tip.hash, hashOf(next))
})

t.test('nobody fills the block store: blocks on old ancestors and batches that lead nowhere are not stored', async (t) => {
  const { chain, clock, genesis } = await chainAt(t, startOf(1) + 10)
  t.equal((await chain.submitBlock(sealSlot(net, genesis, alice, 1))).status, 'connected')
  clock.now = startOf(2) + 10
  t.equal((await chain.submitBlock(sealSlot(net, chain.tip, alice, 2))).status, 'connected')
  clock.now = startOf(5) + GRACE_MS
  // Empty blocks on genesis for slots 2..4: free to make, each on an old ancestor.
  const forged = [2, 3, 4].map((s) => engine.emptyBlock(genesis, s))
  for (const f of forged) {
    const res = await chain.submitBlock(f)
    t.equal(res.status, 'invalid')
    if (res.status === 'invalid') t.ok(['STALE', 'TOO_LATE'].includes(res.error.code), res.error.code)
  }
  const chainOfEmpties: Block[] = []
  let p: ParentBlock = genesis
  for (const s of [2, 3]) {
    const e = engine.emptyBlock(p, s)
    chainOfEmpties.push(e)
    p = {
      hash: hashOf(e),
      height: e.header.height,
      timestamp: e.header.timestamp,
      target: e.header.target,
      proofType: 'empty',
      seed: engine.seed(e.header),
    }
  }
  const results = await chain.submitBlocks(chainOfEmpties)
  t.ok(
    results.every((r) => r.status === 'invalid' || r.status === 'orphan'),
    `a batch lighter than the tip is refused whole: ${results.map((r) => r.status).join(' ')}`,
  )
  for (const f of [...forged, ...chainOfEmpties]) t.equal(chain.entry(hashOf(f)), undefined, 'not in the block index')
})
