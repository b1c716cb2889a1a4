// Blocks per second applied from disk: a chain of signed transfers is
// submitted to a Chainstate on a fresh LevelDB (the original submitBlock
// path), the database is closed, then reopened (index load) and reindexed
// — every block re-validated, signatures included, and re-applied — three
// times. The baseline, measured between the reindex runs, is the signature
// checks alone: the part of a reindex no storage work can remove. Other
// load on the machine disturbs wall time, so the ratios are also given in
// CPU time.
//
//   node dist/bench/reindex.js [--blocks 2000] [--runs 3]
import { join } from 'node:path'
import { txSigningMessage } from '../protocol/chain/tx-codec.js'
import { verify } from '../protocol/chain/keys.js'
import { Chainstate } from '../node/chain/chainstate.js'
import { silentLogger } from '../lib/log.js'
import { ChainDb } from '../node/storage/chain-db.js'
import {
  buildTransferChain,
  checkAccounts,
  fmtInt,
  fmtMs,
  fmtRatio,
  intFlag,
  measure,
  median,
  printHeader,
  printTable,
  tempDir,
  type Timing,
  type TransferChain,
} from './lib/harness.js'

const BLOCKS = intFlag('blocks', 2000)
const RUNS = intFlag('runs', 3)
const ACCOUNTS = 100
const TRANSFERS_PER_BLOCK = 10
/** The baseline checks every SAMPLE_EVERY-th block a run: half a pass over the chain in all. */
const SAMPLE_EVERY = 2 * RUNS

const logger = silentLogger()

async function openChain(dir: string, chain: TransferChain): Promise<{ db: ChainDb; cs: Chainstate; dbOpen: Timing; indexLoad: Timing }> {
  let db!: ChainDb
  const dbOpen = await measure(async () => {
    db = await ChainDb.open(dir)
  })
  let cs!: Chainstate
  const indexLoad = await measure(async () => {
    cs = await Chainstate.open(db, chain.net, { logger })
  })
  return { db, cs, dbOpen, indexLoad }
}

async function checkTip(cs: Chainstate, chain: TransferChain, where: string): Promise<void> {
  const last = chain.blocks[chain.blocks.length - 1]!
  if (cs.tip.height !== last.header.height) throw new Error(`${where}: tip height ${cs.tip.height}, expected ${last.header.height}`)
  checkAccounts(chain.expected, await cs.getAccounts([...chain.expected.keys()]), where)
}

/** The signature checks of a sample of blocks, as a reindex does them (warm key cache); scaled to the whole chain. */
async function verifySample(chain: TransferChain, run: number): Promise<Timing> {
  let checked = 0
  const t = await measure(() => {
    for (let b = run % chain.blocks.length; b < chain.blocks.length; b += SAMPLE_EVERY) {
      const txs = chain.blocks[b]!.txs
      for (let i = 1; i < txs.length; i++) {
        const tx = txs[i]!
        if (!verify(tx.from, txSigningMessage(chain.net.networkId, tx), tx.signature)) throw new Error('baseline: a signature failed')
        checked++
      }
    }
  })
  const scale = chain.transfers / checked
  return { ms: t.ms * scale, cpuMs: t.cpuMs * scale }
}

async function main(): Promise<void> {
  printHeader(
    'bench/reindex — blocks applied from disk on restart',
    `${fmtInt(BLOCKS)} blocks × ${TRANSFERS_PER_BLOCK} signed transfers (${fmtInt(BLOCKS * TRANSFERS_PER_BLOCK)}) among ${ACCOUNTS} accounts; medians of ${RUNS} runs`,
  )
  let chain!: TransferChain
  const build = await measure(() => {
    chain = buildTransferChain({ blocks: BLOCKS, accounts: ACCOUNTS, transfersPerBlock: TRANSFERS_PER_BLOCK })
  })

  const tmp = tempDir()
  const dir = join(tmp.path, 'chain')
  try {
    // The original path: blocks as they arrive from the miner or peers.
    const first = await openChain(dir, chain)
    const submit = await measure(async () => {
      for (const block of chain.blocks) {
        const r = await first.cs.submitBlock(block)
        if (r.status !== 'connected')
          throw new Error(`submitBlock at height ${block.header.height}: ${r.status}${'error' in r ? ` (${r.error.message})` : ''}`)
      }
    })
    await checkTip(first.cs, chain, 'after submitBlock')
    await first.db.close()

    const dbOpen: Timing[] = []
    const indexLoad: Timing[] = []
    const reindex: Timing[] = []
    const floor: Timing[] = []
    for (let run = 0; run < RUNS; run++) {
      const opened = await openChain(dir, chain)
      try {
        dbOpen.push(opened.dbOpen)
        indexLoad.push(opened.indexLoad)
        await checkTip(opened.cs, chain, `reopen ${run + 1}`)
        let applied = 0
        reindex.push(
          await measure(async () => {
            applied = (await opened.cs.reindex()).blocks
          }),
        )
        if (applied !== BLOCKS) throw new Error(`reindex ${run + 1} applied ${applied} blocks, expected ${BLOCKS}`)
        await checkTip(opened.cs, chain, `reindex ${run + 1}`)
      } finally {
        await opened.db.close()
      }
      floor.push(await verifySample(chain, run))
    }

    const ms = (ts: Timing[]): number => median(ts.map((t) => t.ms))
    const cpu = (ts: Timing[]): number => median(ts.map((t) => t.cpuMs))
    const perS = (n: number, wallMs: number): string => fmtInt((n / wallMs) * 1000)
    const row = (name: string, ts: Timing[], rates: boolean, note = ''): string[] => [
      name,
      fmtMs(ms(ts)),
      fmtMs(cpu(ts)),
      rates ? perS(BLOCKS, ms(ts)) : '',
      rates ? perS(chain.transfers, ms(ts)) : '',
      ts.length > 1 ? ts.map((t) => fmtMs(t.ms)).join(' / ') : '1 run',
      note,
    ]
    printTable(
      ['phase', 'wall (median)', 'CPU', 'blocks/s', 'transfers/s', 'wall of each run', 'note'],
      [
        row('build chain (sign + mine)', [build], true, 'bench only, OpenSSL signing'),
        row('submitBlock (original path)', [submit], true),
        row('LevelDB open', dbOpen, false),
        row('Chainstate.open (index load)', indexLoad, false, `${fmtMs((ms(indexLoad) / BLOCKS) * 1000)} / 1,000 blocks`),
        row('reindex (re-verify + re-apply)', reindex, true),
        row('baseline: signature checks alone', floor, true, `warm key cache; every ${SAMPLE_EVERY}th block, scaled`),
      ],
    )
    console.log('')
    printTable(
      ['ratio to the signature checks', 'wall', 'CPU'],
      [
        ['reindex', fmtRatio(ms(reindex) / ms(floor)), fmtRatio(cpu(reindex) / cpu(floor))],
        ['submitBlock', fmtRatio(submit.ms / ms(floor)), fmtRatio(submit.cpuMs / cpu(floor))],
      ],
    )
    console.log('')
    console.log(`state checked after submit and after every reindex: ${chain.expected.size} accounts match (balance and nonce)`)
  } finally {
    tmp.cleanup()
  }
}

await main()
