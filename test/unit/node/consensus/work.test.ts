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
import { genesisRef, mine, testNetworkJson } from '../../../../bench/lib/fixtures.js'
import { withFailingPow } from '../../../helpers/tamper.js'

const TWO_POW_256 = 1n << 256n
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))
const rejects = (code: string) => ({ name: 'ValidationError', code })
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))

// The engine as the node gets it: named (by default) in the network file.
const net = networkFromJson(testNetworkJson({ bits: 4 }), 'test network')
const engine: ConsensusEngine = net.engine
const block = mine(net, genesisRef(net))

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
  while (hashMeetsTarget(sha256(encodeHeader(loose)), loose.target)) loose.nonce++
  t.throws(() => engine.checkProof(loose), rejects('BAD_TARGET'), 'an easier target is refused before any hashing')
  for (const name of ['pos', 'pom', 'toString']) {
    const header = { ...block.header, proofType: name } as unknown as BlockHeader
    t.throws(() => engine.checkProof(header), rejects('BAD_PROOF_TYPE'), `proof type "${name}"`)
  }
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
  for (const nonce of [0, 1, 7, 2 ** 32, 2 ** 53 - 1]) t.equal(engine.tieBreak({ ...block.header, nonce }), BigInt(nonce), `nonce ${nonce}`)
})

t.test('every next target is the network target', async (t) => {
  const parents: ParentBlock[] = [
    { hash: net.genesisHash.toString('hex'), height: 0, timestamp: net.genesis.header.timestamp },
    { hash: 'ab'.repeat(32), height: 1000, timestamp: 2 ** 52 },
  ]
  for (const p of parents) t.same(engine.nextTarget(p), net.consensus.target, `parent at height ${p.height}`)
  const other = networkFromJson(testNetworkJson({ bits: 9 }), 'y').engine
  t.same(other.nextTarget(parents[0]!), targetFromLeadingZeroBits(9), "another network's target")
})

t.test('an unsealed header carries a pow proof type and nonce 0', async (t) => {
  t.same(engine.emptyProof(), { proofType: 'pow', nonce: 0 })
})

t.test('a sealer', async (t) => {
  const sealer = engine.createSealer({ threads: 2 })
  t.teardown(() => sealer.close())
  const unsealed: BlockHeader = { ...block.header, ...engine.emptyProof(), target: targetFromLeadingZeroBits(8) }

  t.test('finds a nonce for an easy target; only the nonce changes', async (t) => {
    const r = await within(sealer.search({ header: unsealed, maxMs: 20_000 }), 30_000, 'easy search')
    if (!r.found) return t.fail(`not found: ${r.reason}`)
    t.same({ ...r.header, nonce: 0 }, unsealed, 'every other field as given')
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
