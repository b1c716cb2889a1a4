// The mining loop: build a block template from the tip and the pool, let the
// consensus engine's sealer search a proof for about a second, submit a
// sealed block, and start over. A tip change aborts the search at once; the
// short jobs pick up new pool transactions and a fresh timestamp.
import { toHex } from '../../protocol/wire/bytes.js'
import { HEADER_BYTES, type Block, type BlockHeader } from '../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { TX_BYTES, ZERO_ADDRESS, ZERO_SIGNATURE, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import type { Chainstate, SubmitResult } from '../chain/chainstate.js'
import type { Logger } from '../../lib/log.js'
import type { Mempool } from '../mempool/pool.js'
import type { Sealer } from '../consensus/engine.js'

export interface MinerOptions {
  threads: number
  /** How long one template is searched before it is rebuilt. */
  jobMs: number
  submit: (block: Block) => Promise<SubmitResult>
}

export interface Template {
  header: BlockHeader
  txs: Transaction[]
  parent: string
}

/** Transfers that fit in a block next to the reward. */
export function maxTransfers(maxBlockBytes: number): number {
  return Math.floor((maxBlockBytes - HEADER_BYTES - 4) / TX_BYTES) - 1
}

export class Miner {
  private readonly searcher: Sealer
  private address: Buffer | null = null
  private loop: Promise<void> | null = null
  private running = false
  private closed = false
  /** Each mining loop runs under a token; a loop whose token is stale ends. */
  private token = 0
  private currentParent = ''
  private blocksFound = 0

  constructor(
    private readonly chain: Chainstate,
    private readonly mempool: Mempool,
    private readonly logger: Logger,
    private readonly opts: MinerOptions,
  ) {
    this.searcher = chain.params.engine.createSealer({ threads: opts.threads })
    chain.on('tip', (change) => {
      if (this.running && change.tip.hash !== this.currentParent) this.searcher.abort()
    })
  }

  get mining(): boolean {
    return this.running
  }

  get minerAddress(): string | null {
    return this.address ? toHex(this.address) : null
  }

  get hashRate(): number {
    return this.searcher.hashRate
  }

  get found(): number {
    return this.blocksFound
  }

  /** Starts mining to `address`, or switches the reward address of a running miner. */
  start(address: Buffer): void {
    if (this.closed) throw new MinerClosedError()
    const switching = this.running && this.address !== null && !this.address.equals(address)
    this.address = address
    if (switching) this.searcher.abort()
    if (this.running) return
    this.running = true
    const token = ++this.token
    this.logger.info('mining started', { miner: toHex(address), threads: this.opts.threads })
    // A loop still winding down from stop() finishes first; the new one follows.
    const loop: Promise<void> = (this.loop ?? Promise.resolve())
      .then(() => this.run(token))
      .finally(() => {
        if (this.loop === loop) this.loop = null
      })
    this.loop = loop
  }

  /** Stops mining; resolves once the workers are idle (within milliseconds). */
  async stop(): Promise<void> {
    if (this.running) {
      this.running = false
      this.token++
      this.searcher.abort()
      this.logger.info('mining stopped', { found: this.blocksFound })
    }
    await this.loop
  }

  /** Stops for good: a later start() throws. */
  async close(): Promise<void> {
    this.closed = true
    await this.stop()
    await this.searcher.close()
  }

  /** The next block to mine on the current tip, its proof not sealed yet. */
  async buildTemplate(miner: Buffer, now = Date.now()): Promise<Template> {
    return this.chain.exclusive(async () => {
      const parent = this.chain.tip
      const accounts = await this.chain.getAccounts(this.mempool.senders())
      const transfers = this.mempool.selectForBlock(accounts, maxTransfers(this.chain.params.consensus.maxBlockBytes))
      const height = parent.height + 1
      const timestamp = Math.max(now, this.chain.medianTimePast(parent) + 1)
      const reward: Transaction = {
        from: ZERO_ADDRESS,
        to: miner,
        amount: this.chain.params.consensus.blockReward,
        nonce: height,
        timestamp,
        signature: ZERO_SIGNATURE,
      }
      const txs = [reward, ...transfers.map((e) => e.tx)]
      const header: BlockHeader = {
        height,
        prevHash: Buffer.from(parent.hash, 'hex'),
        timestamp,
        txRoot: merkleRoot(txs.map(txId)),
        miner,
        target: this.chain.expectedTarget(parent),
        ...this.chain.params.engine.emptyProof(),
      }
      return { header, txs, parent: parent.hash }
    })
  }

  private async run(token: number): Promise<void> {
    const live = (): boolean => this.token === token && this.running && !this.closed
    while (live() && this.address) {
      try {
        const t = await this.buildTemplate(this.address)
        this.currentParent = t.parent
        if (!live()) break
        if (this.chain.tip.hash !== t.parent) continue
        const res = await this.searcher.search({ header: t.header, maxMs: this.opts.jobMs })
        if (!res.found || this.closed) continue
        const block: Block = { header: res.header, txs: t.txs }
        const result = await this.opts.submit(block)
        if (result.status === 'connected') {
          this.blocksFound++
          this.logger.info('mined block', { height: t.header.height, hash: result.hash, txs: t.txs.length - 1 })
        } else {
          this.logger.warn('mined block not accepted', { height: t.header.height, status: result.status })
        }
      } catch (err) {
        if (!live()) break
        this.logger.error('mining attempt failed', { error: (err as Error).message })
        await new Promise((r) => setTimeout(r, 1000).unref())
      }
    }
  }
}

export class MinerClosedError extends Error {
  override name = 'MinerClosedError'
  constructor() {
    super('the node is shutting down')
  }
}
