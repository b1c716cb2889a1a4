// Reorganisations against a real LevelDB: after applying chain A and then a
// heavier chain B, the state must equal a fresh node's that only saw B.
// Plus tie-breaking, invalid branches, the tip event and long catch-ups.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { toHex } from '../../../../protocol/wire/bytes.js'
import { encodeBlock, encodeHeader } from '../../../../protocol/chain/block-codec.js'
import { txId } from '../../../../protocol/chain/tx-codec.js'
import { generateKeyPair } from '../../../../protocol/chain/keys.js'
import type { TipChange } from '../../../../node/chain/chainstate.js'
import { workNonce } from '../../../../node/consensus/work.js'
import { ChainBatch } from '../../../../node/storage/chain-db.js'
import { genesisRef, mine, mineChain, parentOf, tempDir, testNetwork, transfer, type ParentRef } from '../../../../bench/lib/fixtures.js'
import {
  addressesOf,
  buildBranch,
  hashOf,
  Ledger,
  openChain,
  snapshot,
  submitAll,
  txIdsOf,
  type TransferWish,
  testDir,
} from '../../../helpers/node-fixtures.js'

// Keys 0-2 hold coins at genesis, 3-4 start empty; 3 mines branch A, 4 branch B.
const keys = Array.from({ length: 5 }, () => generateKeyPair())
const hexKeys = keys.map((k) => toHex(k.address))
const net = testNetwork({ balances: { [hexKeys[0]!]: 300, [hexKeys[1]!]: 200, [hexKeys[2]!]: 100 } })
const dir = (t: Test, prefix = 'bkc-reorg-'): string => testDir(t, prefix)

/** Ledger balances as stored-account records (zero-balance, zero-nonce accounts are never stored). */
function ledgerAccounts(l: Ledger, addresses: readonly string[]): Record<string, { balance: number; nonce: number } | null> {
  const out: Record<string, { balance: number; nonce: number } | null> = {}
  for (const a of addresses) out[a] = l.accounts.get(a) ?? null
  return out
}

const wishArb = fc.record({
  from: fc.integer({ min: 0, max: 4 }),
  to: fc.integer({ min: 0, max: 4 }),
  amount: fc.integer({ min: 1, max: 250 }),
})
const blockWishes = fc.array(wishArb, { maxLength: 3 })

t.test('property: apply A, reorg to heavier B  ==  fresh apply of B', async (t) => {
  const root = dir(t)
  let run = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(blockWishes, { minLength: 0, maxLength: 3 }), // common prefix
      fc.array(blockWishes, { minLength: 1, maxLength: 4 }), // chain A after the fork
      fc.array(blockWishes, { minLength: 1, maxLength: 3 }), // B's extra length over A
      fc.array(blockWishes, { minLength: 0, maxLength: 4 }),
      async (prefixW, aW, bExtraW, bBaseW) => {
        // B is one to three blocks longer than A (same target: more work).
        const bW = [...bBaseW, ...Array.from({ length: aW.length }, () => [] as TransferWish[])].slice(0, aW.length).concat(bExtraW)
        const ledger = Ledger.fromGenesis(net)
        const prefix = buildBranch(net, keys, genesisRef(net), ledger, prefixW, { miner: keys[0]! })
        const forkPoint: ParentRef = prefix.length > 0 ? parentOf(prefix[prefix.length - 1]!) : genesisRef(net)
        const ledgerA = ledger.clone()
        const chainA = buildBranch(net, keys, forkPoint, ledgerA, aW, { miner: keys[3]! })
        // B's first block spends the coins A's first transfer spent (same
        // sender, same nonce) to someone else: a double spend across branches.
        const firstA = chainA[0]!.txs[1]
        const ledgerB = ledger.clone()
        const chainB = buildBranch(net, keys, forkPoint, ledgerB, bW, { miner: keys[4]!, spacingMs: 1500 }, (i) => {
          if (i !== 0 || firstA === undefined) return []
          const sender = keys.find((k) => k.address.equals(firstA.from))!
          const other = keys.find((k) => !k.address.equals(firstA.to))!
          return [{ from: sender, to: other, amount: firstA.amount }]
        })
        const firstB = chainB[0]!.txs[1]
        if (firstA && !(firstB?.from.equals(firstA.from) && firstB.nonce === firstA.nonce && !firstB.to.equals(firstA.to))) {
          throw new Error("B does not double-spend A's first transfer")
        }

        const addrs = addressesOf(net, prefix, chainA, chainB)
        const ids = txIdsOf(prefix, chainA, chainB)
        const bIds = new Set(txIdsOf(prefix, chainB))
        const maxHeight = forkPoint.height + chainB.length + 1
        run++

        const a = await openChain(net, `${root}/${run}-a`)
        const b = await openChain(net, `${root}/${run}-b`)
        const ba = await openChain(net, `${root}/${run}-ba`)
        try {
          await submitAll(a.chain, [...prefix, ...chainA])
          if (a.chain.tip.hash !== hashOf(chainA[chainA.length - 1]!)) throw new Error('A did not become the tip')
          const events: TipChange[] = []
          a.chain.on('tip', (c) => events.push(c))
          const results = await submitAll(a.chain, chainB)
          // B blocks are side blocks until B outweighs A, then one reorg.
          const statuses = results.map((r) => r.status)
          const expectStatuses = chainB.map((_, i) => (i < chainA.length ? 'side' : 'connected'))
          if (statuses.join() !== expectStatuses.join()) throw new Error(`statuses ${statuses.join()} != ${expectStatuses.join()}`)
          const reorg = events[0]!
          if (reorg.disconnected.map((d) => d.hash).join() !== [...chainA].reverse().map(hashOf).join())
            throw new Error('disconnected list is wrong')
          if (
            reorg.connected.map((d) => d.hash).join() !==
            chainB
              .slice(0, chainA.length + 1)
              .map(hashOf)
              .join()
          )
            throw new Error('connected list is wrong')

          await submitAll(b.chain, [...prefix, ...chainB])
          await submitAll(ba.chain, [...prefix, ...chainB, ...chainA]) // A arrives late: all side blocks

          const sa = await snapshot(a.chain, addrs, ids, maxHeight)
          const sb = await snapshot(b.chain, addrs, ids, maxHeight)
          const sba = await snapshot(ba.chain, addrs, ids, maxHeight)
          t.same(sa, sb, 'A then B equals B alone')
          t.same(sba, sb, 'B then A equals B alone')
          t.same(sb.accounts, ledgerAccounts(ledgerB, addrs), 'balances and nonces match the model of B')
          for (const id of ids) {
            if (!bIds.has(id) && sa.txs[id] !== null) throw new Error(`A-only tx ${id} is still located`)
            if (bIds.has(id) && sa.txs[id] === null) throw new Error(`B tx ${id} is not located`)
          }
          t.equal(sa.tip.hash, hashOf(chainB[chainB.length - 1]!))
        } finally {
          await Promise.all([a.close(), b.close(), ba.close()])
        }
      },
    ),
    { numRuns: 20 },
  )
})

t.test('equal work: the earlier tip timestamp wins, whichever block arrives first', async (t) => {
  const root = dir(t)
  const base = mineChain(net, genesisRef(net), 2)
  const p = parentOf(base[1]!)
  const early = mine(net, p, { miner: keys[3]!.address, timestamp: p.timestamp + 1000 })
  const late = mine(net, p, { miner: keys[4]!.address, timestamp: p.timestamp + 1001 })
  for (const [name, order] of [
    ['early first', [early, late]],
    ['late first', [late, early]],
  ] as const) {
    const o = await openChain(net, `${root}/${name}`)
    try {
      await submitAll(o.chain, base)
      const results = await submitAll(o.chain, order)
      t.equal(o.chain.tip.hash, hashOf(early), `${name}: the earlier block is the tip`)
      t.same(
        results.map((r) => r.status),
        name === 'early first' ? ['connected', 'side'] : ['connected', 'connected'],
        `${name}: statuses`,
      )
      t.same(await o.chain.getAccount(hexKeys[3]!), { balance: 20, nonce: 0 })
      t.same(await o.chain.db.getAccount(hexKeys[4]!), undefined, "the loser's reward is undone")
    } finally {
      await o.close()
    }
  }
})

t.test('equal work and equal timestamps: the larger nonce wins, whichever arrives first', async (t) => {
  const root = dir(t)
  const p = genesisRef(net)
  const ts = p.timestamp + 1000
  // Nonce searches in disjoint ranges: `big` certainly ends with the larger nonce.
  const small = mine(net, p, { miner: keys[3]!.address, timestamp: ts, startNonce: 0 })
  const big = mine(net, p, { miner: keys[4]!.address, timestamp: ts, startNonce: 1_000_000 })
  t.ok(workNonce(big.header) > workNonce(small.header))
  for (const [name, order] of [
    ['small first', [small, big]],
    ['big first', [big, small]],
  ] as const) {
    const o = await openChain(net, `${root}/${name}`)
    try {
      await submitAll(o.chain, order)
      t.equal(o.chain.tip.hash, hashOf(big), `${name}: the larger nonce is the tip`)
      t.same(await o.chain.getAccount(hexKeys[4]!), { balance: 20, nonce: 0 })
      t.same(await o.chain.getAccount(hexKeys[3]!), { balance: 0, nonce: 0 })
    } finally {
      await o.close()
    }
  }
})

t.test('a competing branch with an invalid middle block: the node keeps the best valid chain', async (t) => {
  const o = await openChain(net, dir(t))
  t.teardown(o.close)
  const [k0, k1, , , k4] = keys
  // Main chain: a1 a2 a3. Branch from a1: b2 b3(overdraft) b4 b5, then a valid b3' b4' b5'.
  const [a1, a2, a3] = mineChain(net, genesisRef(net), 3)
  const b2 = mine(net, parentOf(a1!), {
    miner: k4!.address,
    timestamp: a2!.header.timestamp + 7,
    txs: [transfer(net, k0!, k4!.address, 100, 0)],
  })
  // k4 holds 120 (100 + reward of b2): spending 500 overdraws; caught only when connecting.
  const b3 = mine(net, parentOf(b2), {
    miner: k4!.address,
    timestamp: a3!.header.timestamp + 7,
    txs: [transfer(net, k4!, k1!.address, 500, 0)],
  })
  const [b4, b5] = mineChain(net, parentOf(b3), 2, { miner: k4!.address })
  await submitAll(o.chain, [a1!, a2!, a3!])
  const all = addressesOf(net, [a1!, a2!, a3!, b2, b3, b4!, b5!])
  const main = await snapshot(o.chain, all, txIdsOf([a1!, a2!, a3!]), 6)

  t.equal((await o.chain.submitBlock(b2)).status, 'side')
  t.equal((await o.chain.submitBlock(b3)).status, 'side', 'b3 ties with a3 and loses on time: not yet checked')
  const r4 = await o.chain.submitBlock(b4!)
  t.equal(r4.status, 'invalid', 'b4 outweighs a3; connecting its branch finds b3 invalid')
  t.equal(o.chain.entry(hashOf(b3))?.status, 'invalid')
  t.equal(o.chain.entry(hashOf(b4!))?.status, 'invalid', 'the descendant is invalid too')
  t.equal(o.chain.entry(hashOf(b2))?.status, 'valid', 'b2 itself connected fine')
  const r5 = await o.chain.submitBlock(b5!)
  t.equal(r5.status, 'invalid')
  if (r5.status === 'invalid') t.equal(r5.error.code, 'INVALID_PARENT')
  t.equal(o.chain.tip.hash, hashOf(a3!), 'still on a3')
  t.same(await snapshot(o.chain, all, txIdsOf([a1!, a2!, a3!]), 6), main, 'state as before the attempt')
  t.equal(await o.chain.getTxLocation(toHex(txId(b2.txs[1]!))), undefined, "b2's transfer was rolled back")

  // A valid continuation of b2 (b3' b4') is now the best chain.
  const b3v = mine(net, parentOf(b2), {
    miner: k4!.address,
    timestamp: b3.header.timestamp + 1,
    txs: [transfer(net, k4!, k1!.address, 110, 0)],
  })
  const b4v = mine(net, parentOf(b3v), { miner: k4!.address })
  t.equal((await o.chain.submitBlock(b3v)).status, 'side')
  t.equal((await o.chain.submitBlock(b4v)).status, 'connected')
  const fresh = await openChain(net, dir(t, 'bkc-reorg-fresh-'))
  t.teardown(fresh.close)
  await submitAll(fresh.chain, [a1!, b2, b3v, b4v])
  const ids = txIdsOf([a1!, a2!, a3!, b2, b3, b3v, b4v])
  t.same(await snapshot(o.chain, all, ids, 6), await snapshot(fresh.chain, all, ids, 6))
})

t.test('the tip event lists disconnected blocks tip-first and connected blocks oldest-first', async (t) => {
  const o = await openChain(net, dir(t))
  t.teardown(o.close)
  const common = mineChain(net, genesisRef(net), 1)
  const a = mineChain(net, parentOf(common[0]!), 3, { miner: keys[3]!.address })
  // Later timestamps: at equal height b loses the tie, so only b[3] moves the tip.
  const b = buildBranch(net, keys, parentOf(common[0]!), Ledger.fromGenesis(net), [[], [], [], []], { miner: keys[4]!, spacingMs: 1500 })
  await submitAll(o.chain, [...common, ...a])
  const events: TipChange[] = []
  o.chain.on('tip', (c) => events.push(c))
  await submitAll(o.chain, b)
  t.equal(events.length, 1, 'one event for the whole reorg')
  const e = events[0]!
  t.same(
    e.disconnected.map((d) => [d.height, d.hash]),
    [...a].reverse().map((x) => [x.header.height, hashOf(x)]),
  )
  t.same(
    e.connected.map((c) => [c.height, c.hash]),
    b.map((x) => [x.header.height, hashOf(x)]),
  )
  t.equal(e.tip.hash, hashOf(b[3]!))
  t.same(e.connected[0]!.txIds, txIdsOf([b[0]!]))
})

const LONG = 520 // more than the 500-block commit batch

t.test(`a catch-up of ${LONG} stored but unconnected blocks (crash before connect) connects them all at open`, async (t) => {
  const d = dir(t)
  const ledger = Ledger.fromGenesis(net)
  const wishes = Array.from({ length: LONG }, (_, i) => (i % 50 === 0 ? [{ from: i % 3, to: 3 + (i % 2), amount: 7 }] : []))
  const blocks = buildBranch(net, keys, genesisRef(net), ledger, wishes, { miner: keys[4]! })
  // Store the blocks the way submitBlock does before activating them, as if
  // the node had crashed right after.
  const first = await openChain(net, d)
  const batch = new ChainBatch()
  for (const b of blocks) batch.putBlock(hashOf(b), encodeBlock(b)).putEntry(hashOf(b), encodeHeader(b.header), 'unverified')
  await first.db.write(batch)
  await first.close()

  const changes: TipChange[] = []
  const reopened = await openChain(net, d, { onTipChange: async (c) => void changes.push(c) })
  t.teardown(reopened.close)
  t.equal(reopened.chain.tip.hash, hashOf(blocks[LONG - 1]!))
  t.equal(
    changes.reduce((n, c) => n + c.connected.length, 0),
    LONG,
    'every block reported connected once',
  )
  const addrs = addressesOf(net, blocks)
  t.same((await snapshot(reopened.chain, addrs, [], 0)).accounts, ledgerAccounts(ledger, addrs))
  const ids = txIdsOf(blocks)
  const fresh = await openChain(net, dir(t, 'bkc-reorg-fresh-'))
  t.teardown(fresh.close)
  await submitAll(fresh.chain, blocks)
  t.same(await snapshot(reopened.chain, addrs, ids), await snapshot(fresh.chain, addrs, ids))

  // And reindex walks the same long path from genesis.
  const { blocks: n } = await reopened.chain.reindex()
  t.equal(n, LONG)
  t.same(await snapshot(reopened.chain, addrs, ids), await snapshot(fresh.chain, addrs, ids))
})

t.test(`a reorg of ${LONG} blocks onto ${LONG + 1} competing ones`, async (t) => {
  const o = await openChain(net, dir(t))
  t.teardown(o.close)
  const lA = Ledger.fromGenesis(net)
  const lB = Ledger.fromGenesis(net)
  const aW = Array.from({ length: LONG }, (_, i) => (i % 100 === 0 ? [{ from: 0, to: 3, amount: 5 }] : []))
  const bW = Array.from({ length: LONG + 1 }, (_, i) => (i % 100 === 1 ? [{ from: 0, to: 4, amount: 6 }] : []))
  const chainA = buildBranch(net, keys, genesisRef(net), lA, aW, { miner: keys[3]! })
  const chainB = buildBranch(net, keys, genesisRef(net), lB, bW, { miner: keys[4]!, spacingMs: 1001 })
  await submitAll(o.chain, chainA)
  const events: TipChange[] = []
  o.chain.on('tip', (c) => events.push(c))
  const results = await submitAll(o.chain, chainB)
  t.ok(results.slice(0, LONG).every((r) => r.status === 'side'))
  t.equal(results[LONG]!.status, 'connected')
  t.equal(events.length, 1)
  t.equal(events[0]!.disconnected.length, LONG)
  t.equal(events[0]!.connected.length, LONG + 1)
  const addrs = addressesOf(net, chainA, chainB)
  const ids = txIdsOf(chainA, chainB)
  const fresh = await openChain(net, dir(t, 'bkc-reorg-fresh-'))
  t.teardown(fresh.close)
  await submitAll(fresh.chain, chainB)
  const sa = await snapshot(o.chain, addrs, ids)
  t.same(sa, await snapshot(fresh.chain, addrs, ids))
  t.same(sa.accounts, ledgerAccounts(lB, addrs))
})

t.test('isOnBestChain follows reorgs both ways, and survives a reopen', async (t) => {
  const net = testNetwork()
  const dir = tempDir()
  t.teardown(dir.cleanup)
  const common = mineChain(net, genesisRef(net), 3)
  const a = mineChain(net, parentOf(common[2]!), 2)
  const b = mineChain(net, parentOf(common[2]!), 4, { miner: generateKeyPair().address })
  let o = await openChain(net, dir.path)
  await submitAll(o.chain, [...common, ...a])
  const on = (blocks: typeof a): boolean[] => blocks.map((x) => o.chain.isOnBestChain(o.chain.entry(hashOf(x))!))
  t.same(on(a), [true, true], 'A is the best chain')
  await submitAll(o.chain, b)
  t.same(on(a), [false, false], 'after the reorg A is off it')
  t.same(on(b), [true, true, true, true], 'and B on it')
  t.same(on(common), [true, true, true], 'the common prefix stays')
  await o.close()
  o = await openChain(net, dir.path)
  t.same([...on(a), ...on(b)], [false, false, true, true, true, true], 'the same after reopening')
  await o.close()
})
