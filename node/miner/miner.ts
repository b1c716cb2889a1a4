// The mining loop: build a block template from the tip and the pool, let the
// consensus engine's sealer search a proof (`work`: for about a second, so
// the short jobs pick up new pool transactions and a fresh timestamp;
// `slots`: for the current slot), submit a sealed block, and start over. A
// tip change aborts the search at once. Under `slots` the miner is a
// validator: it signs with the reward address's key and searches with its
// prover, and between slots it waits for the next one.
import { toHex } from '../../protocol/wire/bytes.js'
import type { Block, BlockHeader } from '../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../protocol/chain/merkle.js'
import { TX_BYTES, ZERO_ADDRESS, ZERO_SIGNATURE, txId, type Transaction } from '../../protocol/chain/tx-codec.js'
import type { Chainstate, SubmitResult } from '../chain/chainstate.js'
import type { Logger } from '../../lib/log.js'
import type { Mempool } from '../mempool/pool.js'
import type { Sealer, SealerOptions } from '../consensus/engine.js'
import type { Prover } from '../validator/prover.js'

export interface MinerOptions {
  threads: number
  /** How long one `work` template is searched before it is rebuilt. */
  jobMs: number
  submit: (block: Block) => Promise<SubmitResult>
  /** The private key of a reward address, when this node holds it unlocked: `slots` signs with it. */
  keyFor?: (address: Buffer) => Buffer | null
  /** The validator's identity and search for a key: what `slots` seals with. */
  validator?: (publicKey: Buffer) => Promise<{ fingerprint: Buffer; prover: Prover }>
}

export interface Template {
  header: BlockHeader
  txs: Transaction[]
  parent: string
}

/** Transfers that fit in a block next to the reward. */
export function maxTransfers(maxBlockBytes: number, maxHeaderBytes: number): number {
  return Math.floor((maxBlockBytes - maxHeaderBytes - 4) / TX_BYTES) - 1
}

export class Miner {
  /** `work`: made at once; `slots`: made for the reward address at start. */
  private searcher: Sealer | null = null
  private searcherFor = ''
  /** A validator's sealer whose prover is still getting ready (a pom table or pos vault building). */
  private pending: { hex: string; sealer: Sealer; ready: Promise<void> } | null = null
  private address: Buffer | null = null
  private wake: (() => void) | null = null
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
    if (!chain.params.engine.clock) this.searcher = chain.params.engine.createSealer({ threads: opts.threads })
    chain.on('tip', (change) => {
      if (this.running && change.tip.hash !== this.currentParent) this.interrupt()
    })
  }

  get mining(): boolean {
    return this.running
  }

  get minerAddress(): string | null {
    return this.address ? toHex(this.address) : null
  }

  get hashRate(): number {
    return this.searcher?.hashRate ?? 0
  }

  /** The validator's search, under `slots` (null before the first start). */
  get prover(): Prover | null {
    return this.proverInUse
  }
  private proverInUse: Prover | null = null

  /** Aborts the search or the wait for the next slot. */
  private interrupt(): void {
    this.searcher?.abort()
    this.wake?.()
  }

  get found(): number {
    return this.blocksFound
  }

  /** Starts mining to `address`, or switches the reward address of a running miner. */
  start(address: Buffer): void {
    if (this.closed) throw new MinerClosedError()
    if (this.chain.params.engine.clock && !this.opts.keyFor?.(address)) {
      throw new Error('a slots validator signs its blocks: unlock the reward account on this node first')
    }
    const switching = this.running && this.address !== null && !this.address.equals(address)
    this.address = address
    if (switching) this.interrupt()
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
      this.interrupt()
      this.logger.info('mining stopped', { found: this.blocksFound })
    }
    await this.loop
  }

  /** Stops for good: a later start() throws. A table or vault still being built stops too. */
  async close(): Promise<void> {
    this.closed = true
    const pending = this.pending
    this.pending = null
    await pending?.sealer.close()
    await this.stop()
    await this.searcher?.close()
  }

  /**
   * The sealer for `address`: under `slots` one per validator key, with its
   * prover made ready (a table or vault is built once, not per start; a
   * stop while it builds lets the build go on for the next start). Null
   * when interrupted first. A build that fails is dropped, so the next
   * attempt starts afresh and reports its own error.
   */
  private async sealerFor(address: Buffer): Promise<Sealer | null> {
    const hex = toHex(address)
    if (this.searcher && (this.searcherFor === hex || !this.chain.params.engine.clock)) return this.searcher
    if (this.pending?.hex !== hex) {
      const privateKey = this.opts.keyFor?.(address)
      if (!privateKey) throw new Error('the reward account is not unlocked on this node')
      if (!this.opts.validator) throw new Error('this node has no validator configured')
      const old = this.pending
      this.pending = null
      await old?.sealer.close()
      const validator = await this.opts.validator(address)
      const options: SealerOptions = {
        threads: this.opts.threads,
        key: { publicKey: address, privateKey: Buffer.from(privateKey) },
        validator,
      }
      const sealer = this.chain.params.engine.createSealer(options)
      const ready = validator.prover.ready()
      ready.catch(() => {}) // awaited below; a build that outlives its start must not go unhandled
      this.pending = { hex, sealer, ready }
      this.proverInUse = validator.prover
    }
    const pending = this.pending!
    try {
      if (!(await this.untilReadyOrWoken(pending.ready))) return null
    } catch (err) {
      if (this.pending === pending) this.pending = null
      await pending.sealer.close()
      throw err
    }
    if (this.pending === pending) this.pending = null
    await this.searcher?.close()
    this.searcher = pending.sealer
    this.searcherFor = hex
    return pending.sealer
  }

  /** Resolves true when `ready` does, false when a stop or a new reward address wakes the loop first. */
  private untilReadyOrWoken(ready: Promise<void>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const self = this
      function woken(): void {
        if (self.wake === woken) self.wake = null
        resolve(false)
      }
      this.wake = woken
      ready.then(
        () => {
          if (self.wake === woken) self.wake = null
          resolve(true)
        },
        (err: unknown) => {
          if (self.wake === woken) self.wake = null
          reject(err)
        },
      )
    })
  }

  /** DSC's validator lines, which users of that course know: "block B, diff D, hash H" and the nonce. */
  private logDscBlock(header: BlockHeader, hash: string): void {
    const proof = this.chain.params.engine.describeProof(header)
    const diff = Number((1n << 192n) / (BigInt(`0x${header.target.toString('hex')}`) + 1n))
    this.logger.info(`block ${header.height}, diff ${diff.toPrecision(6)}, hash ${hash}`)
    this.logger.info(`block ${header.height}, NONCE ${proof.nonce} (${(this.hashRate / 1e6).toFixed(2)} MH/s)`)
  }

  /** Sleeps until the next slot begins, or a tip change or stop wakes it. */
  private waitForNextSlot(): Promise<void> {
    const clock = this.chain.params.engine.clock
    const now = Date.now()
    const ms = clock ? clock.slotStart(clock.slotOf(now) + 1) - now : 1000
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms))
      const self = this
      function done(): void {
        clearTimeout(timer)
        if (self.wake === done) self.wake = null
        resolve()
      }
      this.wake = done
    })
  }

  /** The next block to mine on the current tip, its proof not sealed yet. */
  async buildTemplate(miner: Buffer, now = Date.now()): Promise<Template | null> {
    return this.chain.exclusive(async () => {
      const parent = this.chain.tip
      const { engine, consensus } = this.chain.params
      const fields = engine.template(parent, now, this.chain.medianTimePast(parent) + 1)
      if (fields === null) return null
      const accounts = await this.chain.getAccounts(this.mempool.senders())
      const transfers = this.mempool.selectForBlock(accounts, maxTransfers(consensus.maxBlockBytes, engine.maxHeaderBytes))
      const height = parent.height + 1
      const { timestamp } = fields
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
        target: fields.target,
        proofType: fields.proofType,
        proof: fields.proof,
      }
      return { header, txs, parent: parent.hash }
    })
  }

  private async run(token: number): Promise<void> {
    const live = (): boolean => this.token === token && this.running && !this.closed
    while (live() && this.address) {
      try {
        // One reward address per pass: the template's miner and the sealer's key agree.
        const address = this.address
        const sealer = await this.sealerFor(address)
        if (!live()) break
        if (sealer === null || !address.equals(this.address)) continue
        const t = await this.buildTemplate(address)
        if (!live()) break
        if (t === null) {
          this.currentParent = this.chain.tip.hash
          await this.waitForNextSlot()
          continue
        }
        this.currentParent = t.parent
        if (this.chain.tip.hash !== t.parent) continue
        const res = await sealer.search({ header: t.header, maxMs: this.opts.jobMs })
        if (!res.found || this.closed) continue
        const block: Block = { header: res.header, txs: t.txs }
        const result = await this.opts.submit(block)
        if (result.status === 'connected') {
          this.blocksFound++
          this.logger.info('mined block', { height: t.header.height, hash: result.hash, txs: t.txs.length - 1 })
          if (this.chain.params.engine.clock) this.logDscBlock(res.header, result.hash)
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
