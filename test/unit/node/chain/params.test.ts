// Network files: every malformed field is refused with a message naming it;
// the genesis block is a pure function of the file.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { blockHash } from '../../../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../../../protocol/chain/merkle.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import { NetworkFileError, loadNetworkFile, networkFromJson, rulesDigest } from '../../../../node/chain/params.js'
import { genesisChallenge } from '../../../../node/consensus/slot-rules.js'
import { workProof } from '../../../../node/consensus/work.js'
import { sha256 } from '../../../../protocol/wire/hash.js'
import { checkReward } from '../../../../node/chain/validation.js'
import { GENESIS_TIME, hexAddress, tempDir, testNetworkJson } from '../../../../bench/lib/fixtures.js'
import { be32, offCurveX } from '../../../helpers/tamper.js'

type Json = Record<string, any>
const DEVNET = fileURLToPath(new URL('../../../../node/networks/devnet.json', import.meta.url))
const DSC = fileURLToPath(new URL('../../../../node/networks/dsc.json', import.meta.url))
const k1 = generateKeyPair()
const k2 = generateKeyPair()
const base = (): Json => testNetworkJson({ balances: { [hexAddress(k1)]: 100, [hexAddress(k2)]: 5 } }) as Json
const edit = (f: (j: Json) => void): Json => {
  const j = structuredClone(base())
  f(j)
  return j
}
const refused = (message: RegExp) => ({ name: 'NetworkFileError', message })

t.test('a well-formed file loads', async (t) => {
  const net = networkFromJson(base(), 'x')
  t.equal(net.name, 'test')
  t.equal(net.networkId, 'bkc-test')
  t.equal(net.magic, 0x626b6374)
  t.equal(net.consensus.blockReward, 20)
  t.equal(net.genesis.header.height, 0)
  t.equal(net.genesis.header.timestamp, GENESIS_TIME)
  t.equal(net.genesis.txs.length, 2)
  t.same(net.genesisHash, blockHash(net.genesis.header))
  t.same(net.genesis.header.txRoot, merkleRoot(net.genesis.txs.map(txId)))
  t.same(net.genesis.header.target, net.consensus.target)
})

t.test('each malformed field is refused, naming the field', async (t) => {
  const cases: Array<[string, (j: Json) => void, RegExp]> = [
    ['not an object', () => {}, /expected a JSON object/],
    ['missing name', (j) => delete j.name, /\.name: /],
    ['empty name', (j) => (j.name = ''), /\.name: /],
    ['name of 65 chars', (j) => (j.name = 'n'.repeat(65)), /\.name: /],
    ['missing networkId', (j) => delete j.networkId, /\.networkId: /],
    ['numeric networkId', (j) => (j.networkId = 7), /\.networkId: /],
    ['magic without 0x', (j) => (j.magic = '626b6374'), /\.magic: /],
    ['magic of 7 digits', (j) => (j.magic = '0x626b637'), /\.magic: /],
    ['magic as a number', (j) => (j.magic = 0x626b6374), /\.magic: /],
    ['magic not hex', (j) => (j.magic = '0x626b63zz'), /\.magic: /],
    ['missing consensus', (j) => delete j.consensus, /\.consensus: /],
    ['target of 63 hex digits', (j) => (j.consensus.target = 'f'.repeat(63)), /consensus\.target: expected 64 hex/],
    ['target of 66 hex digits', (j) => (j.consensus.target = 'f'.repeat(66)), /consensus\.target: /],
    ['target not hex', (j) => (j.consensus.target = 'g'.repeat(64)), /consensus\.target: /],
    ['zero target', (j) => (j.consensus.target = '0'.repeat(64)), /consensus\.target: must not be zero/],
    ['zero reward', (j) => (j.consensus.blockReward = 0), /consensus\.blockReward: /],
    ['fractional reward', (j) => (j.consensus.blockReward = 1.5), /consensus\.blockReward: /],
    ['string reward', (j) => (j.consensus.blockReward = '20'), /consensus\.blockReward: /],
    ['zero block time', (j) => (j.consensus.targetBlockTimeMs = 0), /consensus\.targetBlockTimeMs: /],
    ['zero median span', (j) => (j.consensus.medianTimeSpan = 0), /consensus\.medianTimeSpan: /],
    ['negative future limit', (j) => (j.consensus.maxFutureBlockTimeMs = -1), /consensus\.maxFutureBlockTimeMs: /],
    ['maxBlockBytes 1023', (j) => (j.consensus.maxBlockBytes = 1023), /consensus\.maxBlockBytes: /],
    ['maxBlockBytes 4 MiB + 1', (j) => (j.consensus.maxBlockBytes = 4 * 1024 * 1024 + 1), /consensus\.maxBlockBytes: /],
    [
      'unknown engine',
      (j) => (j.consensus.engine = 'stake'),
      /consensus\.engine: unknown consensus engine "stake"; this build knows "work", "slots"$/,
    ],
    ['engine as a number', (j) => (j.consensus.engine = 7), /consensus\.engine: unknown consensus engine 7;/],
    ['engine in upper case', (j) => (j.consensus.engine = 'WORK'), /consensus\.engine: unknown consensus engine "WORK"/],
    ['empty engine', (j) => (j.consensus.engine = ''), /consensus\.engine: unknown consensus engine ""/],
    ['missing genesis', (j) => delete j.genesis, /\.genesis: /],
    ['negative genesis timestamp', (j) => (j.genesis.timestamp = -1), /genesis\.timestamp: /],
    ['genesis timestamp above 2^53-1', (j) => (j.genesis.timestamp = 2 ** 53), /genesis\.timestamp: /],
    ['balances as an array', (j) => (j.genesis.balances = []), /genesis\.balances: /],
    ['balance to a short hex', (j) => (j.genesis.balances = { '02ab': 5 }), /genesis\.balances: "02ab" is not an address/],
    ['balance to a non-hex key', (j) => (j.genesis.balances = { alice: 5 }), /genesis\.balances: "alice" is not an address/],
    ['balance to an off-curve x', (j) => (j.genesis.balances = { ['02' + be32(offCurveX()).toString('hex')]: 5 }), /is not an address/],
    ['balance to the zero address', (j) => (j.genesis.balances = { ['00'.repeat(33)]: 5 }), /is not an address/],
    ['balance to an 04-prefixed key', (j) => (j.genesis.balances = { ['04' + hexAddress(k1).slice(2)]: 5 }), /is not an address/],
    ['fractional balance', (j) => (j.genesis.balances[hexAddress(k1)] = 1.5), /genesis\.balances\[".{66}"\]: expected a positive integer/],
    ['string balance', (j) => (j.genesis.balances[hexAddress(k1)] = '100'), /genesis\.balances\[/],
    ['zero balance', (j) => (j.genesis.balances[hexAddress(k1)] = 0), /genesis\.balances\[/],
    ['balance above 2^53-1', (j) => (j.genesis.balances[hexAddress(k1)] = 2 ** 53), /genesis\.balances\[/],
  ]
  for (const [label, f, message] of cases) {
    const json = label === 'not an object' ? [] : edit(f)
    t.throws(() => networkFromJson(json, 'net.json'), refused(message), label)
  }
  t.throws(() => networkFromJson(null), refused(/expected a JSON object/), 'null')
  t.throws(() => networkFromJson('{}'), refused(/expected a JSON object/), 'a string')
})

t.test('boundaries that are allowed', async (t) => {
  t.doesNotThrow(() => networkFromJson(edit((j) => (j.consensus.maxBlockBytes = 1024))))
  t.doesNotThrow(() => networkFromJson(edit((j) => (j.consensus.maxBlockBytes = 4 * 1024 * 1024))))
  t.doesNotThrow(() => networkFromJson(edit((j) => (j.consensus.target = 'F'.repeat(64)))), 'upper-case hex target')
  t.doesNotThrow(() => networkFromJson(edit((j) => (j.genesis.timestamp = 0))))
  t.equal(networkFromJson(edit((j) => delete j.genesis.balances)).genesis.txs.length, 0, 'no balances: empty genesis')
})

t.test('genesis is a pure function of the file', async (t) => {
  const a = networkFromJson(base())
  t.same(networkFromJson(base()).genesisHash, a.genesisHash, 'same file, same genesis hash')
  const reordered = edit((j) => (j.genesis.balances = { [hexAddress(k2)]: 5, [hexAddress(k1)]: 100 }))
  t.same(networkFromJson(reordered).genesisHash, a.genesisHash, 'key order in the JSON does not matter')
  const cases: Array<[string, (j: Json) => void]> = [
    ['a different balance', (j) => (j.genesis.balances[hexAddress(k1)] = 101)],
    ['an extra account', (j) => (j.genesis.balances[hexAddress(generateKeyPair())] = 1)],
    ['a different timestamp', (j) => (j.genesis.timestamp += 1)],
    ['a different target', (j) => (j.consensus.target = '07' + 'f'.repeat(62))],
  ]
  for (const [label, f] of cases) t.notSame(networkFromJson(edit(f)).genesisHash, a.genesisHash, label)
})

t.test('genesis allocations are reward-form credits sorted by address', async (t) => {
  const net = networkFromJson(base())
  const to = net.genesis.txs.map((tx) => toHex(tx.to))
  t.same(to, [...to].sort())
  for (const tx of net.genesis.txs) {
    t.ok(tx.from.equals(Buffer.alloc(33)) && tx.signature.equals(Buffer.alloc(64)) && tx.nonce === 0)
  }
  t.throws(() => checkReward(net.genesis.txs[0], net.genesis.header, net.consensus), { code: 'BAD_REWARD' }, 'genesis is not a mined block')
})

t.test('the shipped devnet.json loads', async (t) => {
  const net = loadNetworkFile(DEVNET)
  t.equal(net.name, 'devnet')
  t.equal(net.networkId, 'bkc-devnet-2')
  t.equal(net.genesisHash.length, 32)
  t.same(loadNetworkFile(DEVNET).genesisHash, net.genesisHash, 'stable across loads')
  // Rebuilt by hand from the file (rules JSON, its digest, the 153 header bytes): docs/PROTOCOL.md "Blocks".
  t.equal(toHex(net.genesisHash), '8f155e12f9e24c70d28ed45f590978a234e593f219d20be073c26883a8d474a1', 'the genesis every devnet node has')
  t.equal(toHex(net.genesis.header.prevHash), '51934e6272e553909f0528af7019a50c650add16ab47b2816617f731cf8a6c13', 'the rules digest')
  t.equal(net.engine.name, 'work', 'the default engine')
  t.same(net.genesis.header.proof, workProof(0), 'a work genesis: proof type pow, nonce 0')
  t.equal(net.genesis.header.proofType, 'pow')
})

t.test('the shipped dsc.json loads: a slots network whose genesis is an empty block carrying its challenge', async (t) => {
  const net = loadNetworkFile(DSC)
  t.equal(net.name, 'dsc')
  t.equal(net.networkId, 'bkc-dsc-1')
  t.equal(net.engine.name, 'slots')
  t.equal(net.consensus.engineName, 'slots')
  t.same(net.consensus.slots, {
    slotMs: 6000,
    graceMs: 1500,
    maxDriftMs: 1000,
    targetLimit: Buffer.from('0000000000000000400000000000000000000000000000000000000000000000', 'hex'),
  })
  t.equal(net.genesis.header.proofType, 'empty')
  t.same(net.genesis.header.proof, genesisChallenge('bkc-dsc-1'))
  t.equal(
    toHex(net.genesis.header.proof),
    'b47aa1c811f370ad73c6de0805c142bc53e3b85c82e2444677a0fe11b6dc3a7d',
    'sha256("bkc-slot-genesis" ‖ networkId)',
  )
  t.equal(toHex(net.genesis.header.prevHash), 'e01246d84be0ea589fddcb93afd7b6c849934eaa54fad6634e76aee15c4cb98c', 'the rules digest')
  t.equal(toHex(net.genesisHash), '6ea27bf0925383e2e3bd26628cb6b19cb6d581686615ead5d907b6db7f23e175', 'the genesis every dsc node has')
})

t.test('the genesis prevHash is sha256 of a tag and the rules as JSON, keys in a fixed order', async (t) => {
  const net = networkFromJson(base(), 'x')
  const c = base().consensus
  const rules = JSON.stringify({
    networkId: 'bkc-test',
    engine: 'work',
    blockReward: c.blockReward,
    target: c.target.toLowerCase(),
    targetBlockTimeMs: c.targetBlockTimeMs,
    medianTimeSpan: c.medianTimeSpan,
    maxFutureBlockTimeMs: c.maxFutureBlockTimeMs,
    maxBlockBytes: c.maxBlockBytes,
  })
  t.same(net.genesis.header.prevHash, sha256(Buffer.from('bkc-rules\n'), Buffer.from(rules)))
  t.same(net.genesis.header.prevHash, rulesDigest(net.networkId, net.consensus))
})

t.test('every consensus rule and the network id are part of the genesis block', async (t) => {
  const a = networkFromJson(base(), 'x')
  const cases: Array<[string, (j: Json) => void]> = [
    ['networkId', (j) => (j.networkId = 'bkc-test-2')],
    ['blockReward', (j) => (j.consensus.blockReward += 1)],
    ['targetBlockTimeMs', (j) => (j.consensus.targetBlockTimeMs += 1)],
    ['medianTimeSpan', (j) => (j.consensus.medianTimeSpan += 1)],
    ['maxFutureBlockTimeMs', (j) => (j.consensus.maxFutureBlockTimeMs += 1)],
    ['maxBlockBytes', (j) => (j.consensus.maxBlockBytes += 1)],
    ['target', (j) => (j.consensus.target = '07' + 'f'.repeat(62))],
    ['retarget', (j) => (j.consensus.retarget = { rule: 'asert', halfLifeMs: 600_000, powLimit: 'f'.repeat(64), anchorTimeMs: 1 })],
  ]
  for (const [label, f] of cases) {
    const b = networkFromJson(edit(f), 'x')
    t.notSame(b.genesis.header.prevHash, a.genesis.header.prevHash, `${label}: another rules digest`)
    t.notSame(b.genesisHash, a.genesisHash, `${label}: another genesis`)
  }
  const r = (halfLifeMs: number, anchorTimeMs: number) =>
    networkFromJson(
      edit((j) => (j.consensus.retarget = { rule: 'asert', halfLifeMs, powLimit: 'f'.repeat(64), anchorTimeMs })),
      'x',
    ).genesisHash
  t.notSame(r(600_000, 1), r(600_001, 1), 'retarget.halfLifeMs')
  t.notSame(r(600_000, 1), r(600_000, 2), 'retarget.anchorTimeMs')
  t.same(
    networkFromJson(
      edit((j) => (j.name = 'other')),
      'x',
    ).genesisHash,
    a.genesisHash,
    'the display name is not a rule',
  )
  t.same(
    networkFromJson(
      edit((j) => (j.magic = '0x01020304')),
      'x',
    ).genesisHash,
    a.genesisHash,
    'nor the frame magic',
  )
})

t.test('a network file naming an engine this build does not know is refused, naming the file and the known engines', async (t) => {
  const dir = tempDir()
  t.teardown(dir.cleanup)
  const path = join(dir.path, 'stake.json')
  writeFileSync(path, JSON.stringify(edit((j) => (j.consensus.engine = 'stake'))))
  t.throws(
    () => loadNetworkFile(path),
    refused(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: consensus\\.engine: .*"stake".*"work", "slots"$`)),
  )
  writeFileSync(path, JSON.stringify(edit((j) => (j.consensus.engine = 'work'))))
  t.equal(loadNetworkFile(path).engine.name, 'work', 'the same file naming "work" loads')
})

t.test('loadNetworkFile reports unreadable and non-JSON files', async (t) => {
  const dir = tempDir()
  t.teardown(dir.cleanup)
  t.throws(() => loadNetworkFile(join(dir.path, 'missing.json')), refused(/cannot read network file/))
  const bad = join(dir.path, 'bad.json')
  writeFileSync(bad, '{ "name": ')
  t.throws(() => loadNetworkFile(bad), refused(/is not valid JSON/))
  const good = join(dir.path, 'good.json')
  writeFileSync(good, JSON.stringify(edit((j) => delete j.magic)))
  t.throws(
    () => loadNetworkFile(good),
    refused(new RegExp(`${good.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\.magic: `)),
    'the path is in the message',
  )
  t.ok(new NetworkFileError('x') instanceof Error)
})

t.test('genesis balance keys are case-insensitive and may not repeat', async (t) => {
  const { generateKeyPair } = await import('../../../../protocol/chain/keys.js')
  const { networkFromJson, NetworkFileError } = await import('../../../../node/chain/params.js')
  const { testNetworkJson } = await import('../../../../bench/lib/fixtures.js')
  const a = generateKeyPair().address.toString('hex')
  const b = generateKeyPair().address.toString('hex')
  const lower = networkFromJson(testNetworkJson({ balances: { [a]: 5, [b]: 7 } }))
  const upper = networkFromJson(testNetworkJson({ balances: { [b.toUpperCase()]: 7, [a.toUpperCase()]: 5 } }))
  t.equal(upper.genesisHash.toString('hex'), lower.genesisHash.toString('hex'), 'same genesis in either case')
  t.throws(() => networkFromJson(testNetworkJson({ balances: { [a]: 5, [a.toUpperCase()]: 6 } })), NetworkFileError, 'one address twice')
})

t.test('consensus.retarget: each bad field or value is refused, naming the file and the field', async (t) => {
  const good = (): Json => ({ rule: 'asert', halfLifeMs: 3_600_000, powLimit: '1' + 'f'.repeat(63), anchorTimeMs: 1_700_000_000_000 })
  const withRetarget = (f: (r: Json) => void): Json =>
    edit((j) => {
      j.consensus.retarget = good()
      f(j.consensus.retarget)
    })
  t.doesNotThrow(
    () =>
      networkFromJson(
        withRetarget(() => {}),
        'net.json',
      ),
    'a well-formed retarget loads',
  )
  const cases: Array<[string, Json, RegExp]> = [
    ['retarget as an array', edit((j) => (j.consensus.retarget = [])), /^net\.json: consensus\.retarget: expected an object$/],
    ['retarget null', edit((j) => (j.consensus.retarget = null)), /^net\.json: consensus\.retarget: expected an object$/],
    ['missing rule', withRetarget((r) => delete r.rule), /^net\.json: consensus\.retarget\.rule: expected "asert"/],
    ['unknown rule', withRetarget((r) => (r.rule = 'lwma')), /^net\.json: consensus\.retarget\.rule: expected "asert"/],
    ['missing halfLifeMs', withRetarget((r) => delete r.halfLifeMs), /^net\.json: consensus\.retarget\.halfLifeMs: expected a positive/],
    ['zero halfLifeMs', withRetarget((r) => (r.halfLifeMs = 0)), /consensus\.retarget\.halfLifeMs: /],
    ['fractional halfLifeMs', withRetarget((r) => (r.halfLifeMs = 1.5)), /consensus\.retarget\.halfLifeMs: /],
    ['string halfLifeMs', withRetarget((r) => (r.halfLifeMs = '3600000')), /consensus\.retarget\.halfLifeMs: /],
    ['halfLifeMs above 2^53-1', withRetarget((r) => (r.halfLifeMs = 2 ** 53)), /consensus\.retarget\.halfLifeMs: /],
    ['missing powLimit', withRetarget((r) => delete r.powLimit), /^net\.json: consensus\.retarget\.powLimit: expected 64 hex/],
    ['powLimit of 63 digits', withRetarget((r) => (r.powLimit = 'f'.repeat(63))), /consensus\.retarget\.powLimit: expected 64 hex/],
    ['powLimit not hex', withRetarget((r) => (r.powLimit = 'g'.repeat(64))), /consensus\.retarget\.powLimit: expected 64 hex/],
    [
      'powLimit harder than target',
      withRetarget((r) => (r.powLimit = '00' + 'f'.repeat(62))),
      /^net\.json: consensus\.retarget\.powLimit: must not be harder than consensus\.target$/,
    ],
    [
      'missing anchorTimeMs',
      withRetarget((r) => delete r.anchorTimeMs),
      /^net\.json: consensus\.retarget\.anchorTimeMs: expected a time in ms/,
    ],
    ['negative anchorTimeMs', withRetarget((r) => (r.anchorTimeMs = -1)), /^net\.json: consensus\.retarget\.anchorTimeMs: /],
    ['fractional anchorTimeMs', withRetarget((r) => (r.anchorTimeMs = 1.5)), /^net\.json: consensus\.retarget\.anchorTimeMs: /],
    ['string anchorTimeMs', withRetarget((r) => (r.anchorTimeMs = '1700000000000')), /^net\.json: consensus\.retarget\.anchorTimeMs: /],
    ['anchorTimeMs above 2^53-1', withRetarget((r) => (r.anchorTimeMs = 2 ** 53)), /^net\.json: consensus\.retarget\.anchorTimeMs: /],
    ['anchorTimeMs null', withRetarget((r) => (r.anchorTimeMs = null)), /^net\.json: consensus\.retarget\.anchorTimeMs: /],
    ['unknown field', withRetarget((r) => (r.window = 45)), /^net\.json: consensus\.retarget\.window: unknown field$/],
    [
      'targetBlockTimeMs inside retarget',
      withRetarget((r) => (r.targetBlockTimeMs = 5000)),
      /consensus\.retarget\.targetBlockTimeMs: unknown field/,
    ],
  ]
  for (const [label, json, message] of cases) t.throws(() => networkFromJson(json, 'net.json'), refused(message), label)
  const equal = withRetarget((r) => (r.powLimit = base().consensus.target))
  t.doesNotThrow(() => networkFromJson(equal, 'net.json'), 'powLimit equal to the target is allowed')
})

t.test('consensus.retarget is part of the genesis block', async (t) => {
  const plain = networkFromJson(base(), 'x')
  const retargeting = networkFromJson(
    edit((j) => (j.consensus.retarget = { rule: 'asert', halfLifeMs: 600_000, powLimit: 'f'.repeat(64), anchorTimeMs: 1_800_000_000_000 })),
    'x',
  )
  t.notSame(retargeting.genesisHash, plain.genesisHash, 'nodes that retarget and nodes that do not have different genesis blocks')
  t.equal(plain.consensus.retarget, undefined)
  t.same(retargeting.consensus.retarget, {
    rule: 'asert',
    halfLifeMs: 600_000,
    powLimit: Buffer.from('f'.repeat(64), 'hex'),
    anchorTimeMs: 1_800_000_000_000,
  })
})
