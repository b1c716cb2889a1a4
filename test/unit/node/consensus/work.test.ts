// The `work` engine through the consensus interface: the proof rules with
// their reject codes, fork-choice weight and tie-break, the next target, and
// a sealer that finds a nonce and can be stopped.
import t from 'tap'
import fc from 'fast-check'
import { blockHash, type BlockHeader } from '../../../../protocol/chain/block-codec.js'
import { sha256 } from '../../../../protocol/wire/hash.js'
import { networkFromJson } from '../../../../node/chain/params.js'
import type { ConsensusEngine, ParentBlock } from '../../../../node/consensus/engine.js'
import { hashMeetsTarget, targetFromLeadingZeroBits } from '../../../../node/consensus/pow.js'
import { encodeHeader } from '../../../../protocol/chain/block-codec.js'
import { WORK_PROOF_BYTES, workNonce, workProof } from '../../../../node/consensus/work.js'
import { genesisRef, mine, testNetworkJson, type ParentRef } from '../../../../bench/lib/fixtures.js'
import { withFailingPow } from '../../../helpers/tamper.js'

const TWO_POW_256 = 1n << 256n
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))
const rejects = (code: string) => ({ name: 'ValidationError', code })
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))

// The engine as the node gets it: named (by default) in the network file.
const net = networkFromJson(testNetworkJson({ bits: 4 }), 'test network')
const engine: ConsensusEngine = net.engine
const block = mine(net, genesisRef(net))

/** The block index's view of a parent: a work block's target, proof type and (empty) seed. */
const parentBlock = (p: ParentRef): ParentBlock => ({
  ...p,
  hash: p.hash.toString('hex'),
  target: net.consensus.target,
  proofType: 'pow',
  seed: Buffer.alloc(0),
})

/** Liveness bound only (not a speed assertion): rejects if the promise hangs. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, hang]).finally(() => clearTimeout(timer))
}

t.test('a network file without an engine, or with "work", gets the work engine', async (t) => {
  t.equal(engine.name, 'work')
  const json = testNetworkJson({ bits: 4 }) as { consensus: Record<string, unknown> }
  json.consensus.engine = 'work'
  const explicit = networkFromJson(json, 'x')
  t.equal(explicit.engine.name, 'work')
  t.same(explicit.genesisHash, net.genesisHash, 'naming the default engine does not change the genesis')
})

t.test('checkProof accepts a solved header and returns its block hash', async (t) => {
  t.same(engine.checkProof(block.header), blockHash(block.header))
  t.same(engine.checkProof(block.header), sha256(encodeHeader(block.header)))
})

t.test('checkProof refuses with the rule that breaks', async (t) => {
  t.throws(() => engine.checkProof(withFailingPow(block).header), rejects('BAD_POW'), 'a nonce whose hash misses the target')
  const harder = { ...block.header, target: targetFromLeadingZeroBits(200) }
  t.throws(() => engine.checkProof(harder), rejects('BAD_POW'), 'a target lowered after solving')
  const easier = mine(net, genesisRef(net), { tamper: (h) => (h.target = targetFromLeadingZeroBits(2)) })
  t.ok(hashMeetsTarget(sha256(encodeHeader(easier.header)), easier.header.target), 'the easier header meets its own target')
  t.throws(() => engine.checkProof(easier.header), rejects('BAD_TARGET'), 'a target easier than the network allows')
  // The bound comes before the hash: an easier target that its own hash misses is still BAD_TARGET.
  const loose = { ...block.header, target: targetFromLeadingZeroBits(1) }
  for (let n = 0; hashMeetsTarget(sha256(encodeHeader(loose)), loose.target); ) loose.proof = workProof(++n)
  t.throws(() => engine.checkProof(loose), rejects('BAD_TARGET'), 'an easier target is refused before any hashing')
  for (const name of ['pos', 'pom', 'empty', 'toString']) {
    const header = { ...block.header, proofType: name } as unknown as BlockHeader
    t.throws(() => engine.checkProof(header), rejects('BAD_PROOF_TYPE'), `proof type "${name}"`)
  }
})

t.test('checkProof refuses a proof that is not an 8-byte nonce below 2^53', async (t) => {
  for (const n of [0, 7, 9, 32, 255]) {
    const header = { ...block.header, proof: Buffer.alloc(n) }
    t.throws(() => engine.checkProof(header), rejects('BAD_PROOF'), `a ${n}-byte proof`)
  }
  const big = Buffer.alloc(8)
  big.writeUInt32BE(0x200000, 0)
  t.throws(() => engine.checkProof({ ...block.header, proof: big }), rejects('BAD_PROOF'), 'nonce 2^53')
  t.throws(() => engine.checkProof({ ...block.header, proof: Buffer.alloc(8, 0xff) }), rejects('BAD_PROOF'), 'nonce 2^64-1')
  t.throws(() => engine.tieBreak({ ...block.header, proof: Buffer.alloc(4) }), rejects('BAD_PROOF'), 'tieBreak reads only a nonce')
})

t.test('a work proof is the nonce as 8 bytes big-endian (property)', async (t) => {
  t.equal(WORK_PROOF_BYTES, 8)
  t.same(workProof(0), Buffer.alloc(8))
  t.same(workProof(0x0102030405), Buffer.from('0000000102030405', 'hex'))
  t.same(workProof(2 ** 53 - 1), Buffer.from('001fffffffffffff', 'hex'))
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => workNonce({ ...block.header, proof: workProof(n) }) === n),
  )
  t.equal(engine.maxHeaderBytes, 153, 'a work header is 145 + 8 bytes')
  t.equal(encodeHeader(block.header).length, engine.maxHeaderBytes)
  t.same(engine.describeProof({ ...block.header, proof: workProof(77) }), { nonce: 77 }, 'getBlock shows the nonce')
})

t.test('the target rule needs nothing from a block but its height and time', async (t) => {
  t.same(engine.seed(block.header), Buffer.alloc(0), 'no seed')
  t.equal(engine.isLate(block.header, Number.MAX_SAFE_INTEGER), false, 'a work block is never late')
  t.doesNotThrow(
    () => engine.checkContext(block.header, parentBlock(genesisRef(net)), Date.now()),
    'no rules of its own against the parent',
  )
  t.equal(engine.clock, undefined, 'no slot clock')
})

t.test('weight is the expected number of hashes for the target (property)', async (t) => {
  t.equal(engine.weight(block.header), 16n, 'target of 4 zero bits: 16 hashes')
  fc.assert(
    fc.property(bytes32, (target) => engine.weight({ ...block.header, target }) === TWO_POW_256 / (big(target) + 1n)),
    { numRuns: 500 },
  )
  t.pass('weight = floor(2^256 / (target + 1))')
})

t.test('the tie-break value is the nonce', async (t) => {
  for (const nonce of [0, 1, 7, 2 ** 32, 2 ** 53 - 1]) {
    t.equal(engine.tieBreak({ ...block.header, proof: workProof(nonce) }), BigInt(nonce), `nonce ${nonce}`)
  }
})

t.test('every next target is the network target', async (t) => {
  const parents: ParentBlock[] = [
    parentBlock(genesisRef(net)),
    { ...parentBlock(genesisRef(net)), hash: 'ab'.repeat(32), height: 1000, timestamp: 2 ** 52 },
  ]
  for (const p of parents) t.same(engine.nextTarget(p), net.consensus.target, `parent at height ${p.height}`)
  const other = networkFromJson(testNetworkJson({ bits: 9 }), 'y').engine
  t.same(other.nextTarget(parents[0]!), targetFromLeadingZeroBits(9), "another network's target")
})

t.test('the template of a child: the time the rules allow, the next target, a pow proof of nonce 0', async (t) => {
  const parent = parentBlock(genesisRef(net))
  const now = parent.timestamp + 5000
  t.same(engine.template(parent, now, parent.timestamp + 1), {
    timestamp: now,
    target: net.consensus.target,
    proofType: 'pow',
    proof: workProof(0),
  })
  t.same(engine.template(parent, now, now + 7)?.timestamp, now + 7, 'never before the earliest time allowed')
})

t.test('a sealer', async (t) => {
  const sealer = engine.createSealer({ threads: 2 })
  t.teardown(() => sealer.close())
  const template = engine.template(parentBlock(genesisRef(net)), block.header.timestamp, 0)!
  const unsealed: BlockHeader = {
    ...block.header,
    proofType: template.proofType,
    proof: template.proof,
    target: targetFromLeadingZeroBits(8),
  }

  t.test('finds a nonce for an easy target; only the nonce changes', async (t) => {
    const r = await within(sealer.search({ header: unsealed, maxMs: 20_000 }), 30_000, 'easy search')
    if (!r.found) return t.fail(`not found: ${r.reason}`)
    t.equal(r.header.proof.length, WORK_PROOF_BYTES, 'an 8-byte proof')
    t.same({ ...r.header, proof: workProof(0) }, unsealed, 'every other field as given')
    t.ok(hashMeetsTarget(sha256(encodeHeader(r.header)), r.header.target), 'the sealed header meets its target')
    const strict = networkFromJson(testNetworkJson({ bits: 8 }), 'z').engine
    t.same(strict.checkProof(r.header), blockHash(r.header), 'and passes checkProof')
    t.ok(r.hashes >= 1)
    t.ok(sealer.hashRate > 0, 'the hash rate counts the search')
  })

  t.test('times out, and can be aborted', async (t) => {
    const impossible = { ...unsealed, target: Buffer.alloc(32) }
    t.match(await within(sealer.search({ header: impossible, maxMs: 100 }), 5000, 'timed search'), { found: false, reason: 'timeout' })
    const pending = sealer.search({ header: impossible, maxMs: 60_000 })
    setTimeout(() => sealer.abort(), 50)
    t.match(await within(pending, 5000, 'aborted search'), { found: false, reason: 'aborted' })
    const superseded = sealer.search({ header: impossible, maxMs: 60_000 })
    const next = sealer.search({ header: impossible, maxMs: 50 })
    t.match(await within(superseded, 5000, 'superseded search'), { found: false, reason: 'aborted' }, 'a new search supersedes')
    t.match(await within(next, 5000, 'next search'), { found: false, reason: 'timeout' })
  })

  t.test('close resolves a pending search aborted and refuses new ones', async (t) => {
    const s = engine.createSealer({ threads: 1 })
    const pending = s.search({ header: { ...unsealed, target: Buffer.alloc(32) }, maxMs: 60_000 })
    await within(s.close(), 5000, 'close')
    t.match(await pending, { found: false, reason: 'aborted' })
    await t.rejects(s.search({ header: unsealed, maxMs: 100 }), { code: 'CLOSED' })
    await s.close()
    t.equal(s.hashRate, 0)
  })
})
