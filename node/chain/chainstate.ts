// The chain as this node sees it: the block tree, the best chain and the
// account state at its tip, kept in LevelDB. Blocks come in through
// submitBlock (from the miner, RPC or peers); the tree picks the best chain
// and activateBestChain moves the state there, reverting with undo data and
// applying the new branch, in atomic batches.
import { EventEmitter } from 'node:events'
import { toHex } from '../../protocol/wire/bytes.js'
import { blockHash, decodeBlock, decodeHeader, encodeBlock, encodeHeader, type Block } from '../../protocol/chain/block-codec.js'
import { encodeTx, isRewardForm, txId } from '../../protocol/chain/tx-codec.js'
import { BlockIndex, compareChains, type IndexEntry } from './block-index.js'
import { ValidationError } from './errors.js'
import type { NetworkParams } from './params.js'
import type { ParentBlock } from '../consensus/engine.js'
import { applyBlock, applyGenesis, EMPTY_ACCOUNT, touchedAddresses, type Account } from './state.js'
import { checkBlockContext, checkBlockSanity, checkBodySanity, checkHeaderSanity, medianTime, type CheckedBlock } from './validation.js'
import { ChainBatch, DataDirError, SCHEMA_VERSION, type ChainDb } from '../storage/chain-db.js'
import type { TxLocation } from '../storage/records.js'
import type { Logger } from '../../lib/log.js'

/** A block that joined the best chain, with its derived values. */
export interface ConnectedBlock {
  hash: string
  height: number
  block: Block
  txIds: string[]
  /** Encoded size in bytes. */
  size: number
}

export interface TipChange {
  tip: IndexEntry
  connected: ConnectedBlock[]
  disconnected: ConnectedBlock[]
}

export type SubmitResult =
  | { status: 'connected' | 'side' | 'duplicate'; hash: string; height: number }
  | { status: 'orphan'; hash: string; missing: string }
  | { status: 'invalid'; hash: string; error: ValidationError }

export interface ChainstateOptions {
  logger: Logger
  now?: () => number
  /** Rebuild the state from the stored blocks while opening. */
  reindex?: boolean
  /** Called inside the chain lock after each tip change (the mempool update). */
  onTipChange?: (change: TipChange) => Promise<void>
}

/** Blocks (or bytes of blocks) connected per batch during a long catch-up or reindex. */
const COMMIT_EVERY = 500
const COMMIT_BYTES = 16 * 1024 * 1024
/** Recently submitted blocks kept decoded, so connecting them needs no disk read. */
const CACHE_MAX = 64
const CACHE_MAX_BYTES = 16 * 1024 * 1024
const INVALID_MEMORY = 1024

export class Chainstate extends EventEmitter<{ tip: [TipChange] }> {
  private readonly index: BlockIndex
  private tipEntry!: IndexEntry
  /** The best chain's block hashes by height, so "is this block on it" needs no walk. */
  private readonly bestChain: string[] = []
  private lock: Promise<unknown> = Promise.resolve()
  private readonly recent = new Map<string, CheckedBlock>()
  private recentBytes = 0
  private readonly invalid = new Map<string, ValidationError>()
  private readonly now: () => number

  private constructor(
    readonly db: ChainDb,
    readonly params: NetworkParams,
    private readonly opts: ChainstateOptions,
  ) {
    super()
    this.now = opts.now ?? Date.now
    this.index = new BlockIndex(params.engine)
  }

  static async open(db: ChainDb, params: NetworkParams, opts: ChainstateOptions): Promise<Chainstate> {
    const cs = new Chainstate(db, params, opts)
    await cs.load()
    return cs
  }

  get tip(): IndexEntry {
    return this.tipEntry
  }

  /** Runs `fn` with the chain lock held: block processing and pool admission never interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn)
    this.lock = run.catch(() => undefined)
    return run
  }

  // ---- queries --------------------------------------------------------

  async getAccount(address: string): Promise<Account> {
    return (await this.db.getAccount(address)) ?? { ...EMPTY_ACCOUNT }
  }

  async getAccounts(addresses: string[]): Promise<Map<string, Account>> {
    return this.db.getAccounts(addresses)
  }

  async getBlockByHash(hash: string): Promise<{ block: Block; hash: string; height: number } | undefined> {
    const cached = this.recent.get(hash)
    if (cached) return { block: cached.block, hash, height: cached.block.header.height }
    const bytes = await this.db.getBlock(hash)
    if (!bytes) return undefined
    const block = decodeBlock(bytes)
    return { block, hash, height: block.header.height }
  }

  async getBlockByHeight(height: number): Promise<{ block: Block; hash: string; height: number } | undefined> {
    if (height > this.tipEntry.height) return undefined
    const hash = await this.db.getHashAtHeight(height)
    return hash === undefined ? undefined : this.getBlockByHash(hash)
  }

  /** The best chain's block at `height` as stored (not decoded), for serving it to peers. */
  async getStoredBlockByHeight(height: number): Promise<{ hash: string; bytes: Buffer } | undefined> {
    if (height > this.tipEntry.height) return undefined
    const hash = await this.db.getHashAtHeight(height)
    if (hash === undefined) return undefined
    const bytes = await this.db.getBlock(hash)
    return bytes === undefined ? undefined : { hash, bytes }
  }

  getTxLocation(txid: string): Promise<TxLocation | undefined> {
    return this.db.getTxLocation(txid)
  }

  isOnBestChain(entry: { hash: string; height: number }): boolean {
    return this.bestChain[entry.height] === entry.hash
  }

  /** Moves the tip and keeps `bestChain` (hash by height) in step: O(depth of the move). */
  private setTip(tip: IndexEntry): void {
    this.tipEntry = tip
    this.bestChain.length = tip.height + 1
    for (let e: IndexEntry | undefined = tip; e && this.bestChain[e.height] !== e.hash; e = this.index.get(e.prev)) {
      this.bestChain[e.height] = e.hash
    }
  }

  entry(hash: string): IndexEntry | undefined {
    return this.index.get(hash)
  }

  /** Median timestamp of `entry` and its recent ancestors: a child must be later. */
  medianTimePast(entry: IndexEntry): number {
    return medianTime(this.index.recentTimestamps(entry, this.params.consensus.medianTimeSpan))
  }

  /** The target a child of `parent` must carry: the consensus engine's rule. */
  expectedTarget(parent: IndexEntry): Buffer {
    return this.params.engine.nextTarget(parent)
  }

  // ---- startup ---------------------------------------------------------

  private async load(): Promise<void> {
    const genesisHex = toHex(this.params.genesisHash)
    const storedGenesis = await this.db.getMeta('genesis')
    if (storedGenesis === undefined) {
      await this.writeGenesis()
    } else if (storedGenesis.toString('hex') !== genesisHex) {
      const network = (await this.db.getMeta('network'))?.toString('utf8') ?? 'another network'
      throw new DataDirError(
        `this data directory holds a chain of ${network} (genesis ${storedGenesis.toString('hex').slice(0, 16)}…), ` +
          `not of ${this.params.networkId} (genesis ${genesisHex.slice(0, 16)}…); use another --data-dir`,
      )
    }
    const version = (await this.db.getMeta('schema'))?.readUInt32BE(0)
    if (version !== SCHEMA_VERSION) throw new DataDirError(`data directory schema ${version} is not supported (expected ${SCHEMA_VERSION})`)

    const stored: Array<{ hash: string; header: ReturnType<typeof decodeHeader>; status: string }> = []
    for await (const e of this.db.entries()) stored.push({ hash: e.hash, header: decodeHeader(e.header), status: e.status })
    stored.sort((a, b) => a.header.height - b.header.height)
    for (const s of stored) {
      const prev = s.header.height === 0 ? '' : toHex(s.header.prevHash)
      if (prev !== '' && !this.index.has(prev)) continue // parentless leftovers cannot be on any chain
      const entry = this.index.makeEntry(s.hash, prev, s.header)
      this.index.add(entry)
      if (s.status === 'invalid') this.index.markInvalid(s.hash)
      else if (s.status === 'valid') this.index.setStatus(s.hash, 'valid')
    }
    const tipHash = await this.db.getTip()
    const tip = tipHash === undefined ? undefined : this.index.get(tipHash)
    const interrupted = (await this.db.getMeta('reindexing')) !== undefined
    if (this.opts.reindex || interrupted || !tip) {
      // A reindex that was cut short (or state without a tip) is finished
      // now: the stored blocks are the truth, the state is derived from them.
      const why = this.opts.reindex ? 'requested' : interrupted ? 'an earlier reindex was interrupted' : 'the state has no tip'
      this.opts.logger.info('rebuilding state from stored blocks', { reason: why, blocks: this.index.size })
      const { blocks, ms } = await this.exclusive(() => this.rebuildState())
      this.opts.logger.info('state rebuilt', { blocks, ms: Math.round(ms), blocksPerSecond: Math.round((blocks / Math.max(ms, 1)) * 1000) })
      return
    }
    this.setTip(tip)
    this.opts.logger.info('chain loaded', { height: tip.height, tip: tip.hash, blocks: this.index.size })
    // A crash between storing a better block and connecting it leaves work to do.
    await this.exclusive(() => this.activateAndNotify())
  }

  private async writeGenesis(): Promise<void> {
    const g = this.params.genesis
    const hash = toHex(this.params.genesisHash)
    const applied = applyGenesis(g)
    const batch = new ChainBatch()
      .putBlock(hash, encodeBlock(g))
      .putEntry(hash, encodeHeader(g.header), 'valid')
      .putHeight(0, hash)
      .putTip(hash)
      .putMeta('genesis', this.params.genesisHash)
      .putMeta('network', Buffer.from(this.params.networkId, 'utf8'))
      .putMeta('schema', Buffer.from([0, 0, 0, SCHEMA_VERSION]))
    for (const [addr, acct] of applied.changes) batch.putAccount(addr, acct)
    g.txs.forEach((tx, i) => {
      const id = toHex(txId(tx))
      batch.putTx(id, { blockHash: hash, height: 0, index: i }).putAccountTx(toHex(tx.to), 0, i, id)
    })
    await this.db.write(batch)
  }

  // ---- block submission -------------------------------------------------

  /** Validates and stores a block, then moves to the best chain. */
  submitBlock(block: Block): Promise<SubmitResult> {
    return this.exclusive(() => this.submitBlockLocked(block, true))
  }

  /**
   * A batch from a peer (catch-up): each block validated and stored in
   * order, then one move to the best chain, so a long download commits in
   * large batches instead of block by block.
   */
  submitBlocks(blocks: Block[]): Promise<SubmitResult[]> {
    return this.exclusive(async () => {
      const results: SubmitResult[] = []
      const heavier = this.params.engine.clock !== undefined && this.batchMakesHeavierChain(blocks)
      for (const b of blocks) results.push(await this.submitBlockLocked(b, false, heavier))
      await this.activateAndNotify()
      return results.map((r) => {
        if (r.status !== 'connected' && r.status !== 'side') return r
        const e = this.index.get(r.hash)!
        if (e.status === 'invalid') {
          return {
            status: 'invalid',
            hash: r.hash,
            error: this.invalid.get(r.hash) ?? new ValidationError('INVALID_PARENT', 'block is invalid'),
          }
        }
        return { status: this.isOnBestChain(e) ? 'connected' : 'side', hash: r.hash, height: e.height }
      })
    })
  }

  /**
   * On a slot-clock network a block costs its validator little (an empty
   * block nothing), so only blocks that can matter are stored: one that
   * makes a heavier chain (alone, or as part of a catch-up batch that does),
   * or a rival for the tip's slot within its grace. Anything else — a late
   * rival, a block on an old ancestor — is refused for now (not remembered
   * as invalid), so nobody can fill the block store with side branches.
   */
  private staleReason(entry: IndexEntry, header: Block['header'], batchHeavier: boolean): ValidationError | null {
    const { engine } = this.params
    if (!engine.clock || batchHeavier || entry.chainWork > this.tipEntry.chainWork) return null
    if (engine.isLate(header, this.now())) {
      return new ValidationError('TOO_LATE', 'the block came after its slot and grace, and does not make a heavier chain', false)
    }
    if (entry.prev === this.tipEntry.prev) return null
    return new ValidationError('STALE', 'the block neither makes a heavier chain nor competes for the tip slot', false)
  }

  /**
   * True when a catch-up batch, blocks in order each on the one before, ends
   * in a chain heavier than the tip — judged from the headers with the real
   * rules (proof, target), before anything is stored.
   */
  private batchMakesHeavierChain(blocks: readonly Block[]): boolean {
    const { engine } = this.params
    const first = blocks[0]
    const start = first && this.index.get(toHex(first.header.prevHash))
    if (!start || start.status === 'invalid') return false
    let parent: ParentBlock = start
    let work = start.chainWork
    for (const b of blocks) {
      const h = b.header
      if (toHex(h.prevHash) !== parent.hash || h.height !== parent.height + 1) return false
      let hash: Buffer
      try {
        hash = engine.checkProof(h)
        if (!h.target.equals(engine.nextTarget(parent))) return false
        engine.checkContext(h, parent, null)
      } catch (err) {
        if (err instanceof ValidationError) return false
        throw err
      }
      work += engine.weight(h)
      parent = {
        hash: toHex(hash),
        height: h.height,
        timestamp: h.timestamp,
        target: h.target,
        proofType: h.proofType,
        seed: engine.seed(h),
      }
    }
    return work > this.tipEntry.chainWork
  }

  private async submitBlockLocked(block: Block, activate: boolean, batchHeavier = false): Promise<SubmitResult> {
    const { header } = block
    const hash = toHex(blockHash(header))
    const known = this.index.get(hash)
    if (known) {
      if (known.status === 'invalid') {
        return {
          status: 'invalid',
          hash,
          error: this.invalid.get(hash) ?? new ValidationError('INVALID_PARENT', 'block is known to be invalid'),
        }
      }
      return { status: 'duplicate', hash, height: known.height }
    }
    const remembered = this.invalid.get(hash)
    if (remembered) return { status: 'invalid', hash, error: remembered }

    let checked: CheckedBlock
    try {
      // Header first: a block whose parent is unknown is held on its proof
      // alone, so orphans cost no signature checks.
      const headerHash = checkHeaderSanity(header, this.params)
      const prev = toHex(header.prevHash)
      const parent = this.index.get(prev)
      if (!parent) return { status: 'orphan', hash, missing: prev }
      if (parent.status === 'invalid') throw new ValidationError('INVALID_PARENT', `parent ${prev} is invalid`)
      checked = checkBodySanity(block, headerHash, this.params)
      checkBlockContext(
        header,
        {
          parentHeight: parent.height,
          medianTimePast: this.medianTimePast(parent),
          expectedTarget: this.expectedTarget(parent),
          now: this.now(),
        },
        this.params.consensus,
      )
      this.params.engine.checkContext(header, parent, this.now())
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err
      if (err.permanent) this.rememberInvalid(hash, err)
      return { status: 'invalid', hash, error: err }
    }

    const entry = this.index.makeEntry(hash, toHex(header.prevHash), header)
    const stale = this.staleReason(entry, header, batchHeavier)
    if (stale) return { status: 'invalid', hash, error: stale }
    await this.db.write(new ChainBatch().putBlock(hash, encodeBlock(block)).putEntry(hash, encodeHeader(header), 'unverified'))
    this.index.add(entry)
    this.cache(hash, checked)

    if (!activate) return { status: 'side', hash, height: entry.height } // settled by the caller's activation
    await this.activateAndNotify()
    const after = this.index.get(hash)!
    if (after.status === 'invalid') {
      return { status: 'invalid', hash, error: this.invalid.get(hash) ?? new ValidationError('INVALID_PARENT', 'block is invalid') }
    }
    return { status: this.isOnBestChain(after) ? 'connected' : 'side', hash, height: after.height }
  }

  private rememberInvalid(hash: string, err: ValidationError): void {
    if (this.invalid.size >= INVALID_MEMORY) this.invalid.delete(this.invalid.keys().next().value!)
    this.invalid.set(hash, err)
  }

  private cache(hash: string, checked: CheckedBlock): void {
    this.recent.set(hash, checked)
    this.recentBytes += checked.size
    while (this.recent.size > CACHE_MAX || this.recentBytes > CACHE_MAX_BYTES) {
      const [oldest, value] = this.recent.entries().next().value!
      this.recent.delete(oldest)
      this.recentBytes -= value.size
    }
  }

  /** A stored block with its derived values; stored blocks passed the sanity checks before storage. */
  private async loadChecked(hash: string, verify = false): Promise<CheckedBlock> {
    const cached = this.recent.get(hash)
    if (cached) return cached
    const bytes = await this.db.getBlock(hash)
    if (!bytes) throw new DataDirError(`block ${hash} is in the index but not stored; run with --reindex`)
    const block = decodeBlock(bytes)
    if (verify) return checkBlockSanity(block, this.params)
    return { block, hash: Buffer.from(hash, 'hex'), txIds: block.txs.map(txId), size: bytes.length }
  }

  private async activateAndNotify(verify = false): Promise<void> {
    await this.activateBestChain(verify)
  }

  /** Tells the pool (inside the lock) and then every listener about one committed move. */
  private async notify(change: TipChange): Promise<void> {
    if (this.opts.onTipChange) await this.opts.onTipChange(change)
    this.emit('tip', change)
  }

  /**
   * Moves the state to the best valid chain. Disconnects back to the fork
   * point (undo data) and connects the new branch, block by block, in one
   * batch — or, once each commit point is already better than the current
   * tip (a catch-up or a reindex), in batches of at most COMMIT_EVERY blocks
   * or COMMIT_BYTES of blocks, each announced on its own, so memory stays
   * bounded however long the branch. A block that breaks a rule is marked
   * invalid with its descendants and the next best chain is tried.
   */
  private async activateBestChain(verify: boolean): Promise<void> {
    for (;;) {
      const best = this.index.best()
      if (!best || compareChains(best, this.tipEntry) <= 0) break
      const fork = this.index.fork(this.tipEntry, best)
      let batch = new ChainBatch()
      const overlay = new Map<string, Account | null>()
      let disconnected: ConnectedBlock[] = []
      let connected: ConnectedBlock[] = []
      let pendingBytes = 0
      let reached = fork
      const flush = async (): Promise<void> => {
        await this.commit(batch.putTip(reached.hash), reached)
        const change = { tip: this.tipEntry, connected, disconnected }
        batch = new ChainBatch()
        overlay.clear()
        connected = []
        disconnected = []
        pendingBytes = 0
        await this.notify(change)
      }

      for (let e = this.tipEntry; e.hash !== fork.hash; e = this.index.get(e.prev)!) {
        disconnected.push(await this.disconnect(e, batch, overlay))
      }
      let failed = false
      for (const e of this.index.path(fork, best)) {
        try {
          const c = await this.connect(e, batch, overlay, verify)
          connected.push(c)
          pendingBytes += c.size
          reached = e
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err
          await this.rejectStored(e, err)
          failed = true
          break
        }
        const full = connected.length >= COMMIT_EVERY || pendingBytes >= COMMIT_BYTES
        if (full && compareChains(reached, this.tipEntry) > 0) await flush()
      }
      // Commit only a move to a better chain; otherwise the batch is dropped
      // and the state stays where it was.
      if (compareChains(reached, this.tipEntry) > 0) await flush()
      if (!failed) break
    }
  }

  /** A stored block broke a contextual rule: it and its descendants are invalid for good. */
  private async rejectStored(e: IndexEntry, err: ValidationError): Promise<void> {
    this.opts.logger.warn('block rejected', { hash: e.hash, height: e.height, code: err.code, reason: err.message })
    this.rememberInvalid(e.hash, err)
    this.index.markInvalid(e.hash)
    const header = encodeHeader((await this.loadChecked(e.hash)).block.header)
    await this.db.write(new ChainBatch().putEntry(e.hash, header, 'invalid'))
  }

  private async commit(batch: ChainBatch, tip: IndexEntry): Promise<void> {
    await this.db.write(batch)
    this.setTip(tip)
  }

  private async readAccounts(addrs: string[], overlay: Map<string, Account | null>): Promise<Map<string, Account>> {
    const out = new Map<string, Account>()
    const missing: string[] = []
    for (const a of addrs) {
      if (overlay.has(a)) {
        const v = overlay.get(a)
        if (v) out.set(a, v)
      } else missing.push(a)
    }
    if (missing.length > 0) for (const [a, v] of await this.db.getAccounts(missing)) out.set(a, v)
    return out
  }

  private async connect(e: IndexEntry, batch: ChainBatch, overlay: Map<string, Account | null>, verify: boolean): Promise<ConnectedBlock> {
    const checked = await this.loadChecked(e.hash, verify)
    const { block } = checked
    if (verify) {
      // A reindex re-checks the contextual rules too (the clock rule aside:
      // a stored block's time was judged when it arrived).
      const parent = this.index.get(e.prev)!
      const ctx = {
        parentHeight: parent.height,
        medianTimePast: this.medianTimePast(parent),
        expectedTarget: this.expectedTarget(parent),
        now: block.header.timestamp,
      }
      checkBlockContext(block.header, ctx, this.params.consensus)
      this.params.engine.checkContext(block.header, parent, null)
    }
    const accounts = await this.readAccounts(touchedAddresses(block), overlay)
    const applied = applyBlock(block, accounts)
    for (const [addr, acct] of applied.changes) {
      overlay.set(addr, acct)
      batch.putAccount(addr, acct)
    }
    const txIds = checked.txIds.map(toHex)
    batch.putUndo(e.hash, applied.undo).putHeight(e.height, e.hash).putEntry(e.hash, encodeHeader(block.header), 'valid')
    block.txs.forEach((tx, i) => {
      const id = txIds[i]!
      batch.putTx(id, { blockHash: e.hash, height: e.height, index: i }).delPoolTx(id).putAccountTx(toHex(tx.to), e.height, i, id)
      if (!isRewardForm(tx)) batch.putAccountTx(toHex(tx.from), e.height, i, id)
    })
    this.index.setStatus(e.hash, 'valid')
    return { hash: e.hash, height: e.height, block, txIds, size: checked.size }
  }

  private async disconnect(e: IndexEntry, batch: ChainBatch, overlay: Map<string, Account | null>): Promise<ConnectedBlock> {
    const checked = await this.loadChecked(e.hash)
    const undo = await this.db.getUndo(e.hash)
    if (!undo) throw new DataDirError(`undo data for block ${e.hash} is missing; run with --reindex`)
    for (const [addr, prev] of undo) {
      overlay.set(addr, prev)
      batch.putAccount(addr, prev)
    }
    const txIds = checked.txIds.map(toHex)
    const now = this.now()
    batch.delUndo(e.hash).delHeight(e.height)
    checked.block.txs.forEach((tx, i) => {
      batch.delTx(txIds[i]!).delAccountTx(toHex(tx.to), e.height, i)
      if (isRewardForm(tx)) return
      batch.delAccountTx(toHex(tx.from), e.height, i)
      // Back to the pool in the same batch, so a crash cannot lose it; the
      // pool re-checks it (and the new branch deletes it if it holds it too).
      batch.putPoolTx(txIds[i]!, encodeTx(tx), now)
    })
    return { hash: e.hash, height: e.height, block: checked.block, txIds, size: checked.size }
  }

  // ---- maintenance -------------------------------------------------------

  /**
   * Rebuilds the account state and indexes from the stored blocks: back to
   * genesis, then every block of the best chain re-validated (signatures
   * included) and applied again. Returns how many blocks were applied.
   */
  reindex(): Promise<{ blocks: number; ms: number }> {
    return this.exclusive(() => this.rebuildState())
  }

  /**
   * The 'reindexing' mark is written before anything is cleared and removed
   * only once the best chain is connected again, so a crash at any point
   * leaves a data directory that finishes the rebuild at its next start.
   */
  private async rebuildState(): Promise<{ blocks: number; ms: number }> {
    const started = performance.now()
    await this.db.write(new ChainBatch().putMeta('reindexing', Buffer.from([1])))
    await this.db.clearState()
    await this.writeGenesis()
    this.setTip(this.index.get(toHex(this.params.genesisHash))!)
    this.recent.clear()
    this.recentBytes = 0
    await this.activateAndNotify(true)
    await this.db.write(new ChainBatch().delMeta('reindexing'))
    return { blocks: this.tipEntry.height, ms: performance.now() - started }
  }
}
