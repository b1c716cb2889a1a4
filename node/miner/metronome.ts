// The metronome without a metronome server: on a `slots` network every node,
// validator or not, adds the empty block for a slot that ended with no block
// on its best chain, once the slot's grace is over. Every node with the same
// tip derives the same block, so they agree without a trusted party; a real
// proof block for the slot outweighs it. Only the slot that just ended is
// filled: a network that was down resumes with one empty block, not a burst.
import type { Logger } from '../../lib/log.js'
import type { Block } from '../../protocol/chain/block-codec.js'
import type { SubmitResult } from '../chain/chainstate.js'
import type { ParentBlock, SlotClock } from '../consensus/engine.js'

export interface MetronomeOptions {
  clock: SlotClock
  tip: () => ParentBlock
  submit: (block: Block) => Promise<SubmitResult>
  logger: Logger
  /**
   * False while a peer reports a longer chain: a node still catching up
   * would fill a slot on a tip everyone else has left.
   */
  synced?: () => boolean
  now?: () => number
}

/** Slots without a new tip after which a node stops waiting for a peer's longer chain. */
export const STUCK_SLOTS = 3

export class Metronome {
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  private ticking: Promise<void> = Promise.resolve()
  private emptyBlocks = 0
  /** The tip last seen, and since when: a node stuck on one tip stops waiting for peers. */
  private seenTip = ''
  private seenSince = 0

  constructor(private readonly opts: MetronomeOptions) {}

  /** Empty blocks this node added. */
  get added(): number {
    return this.emptyBlocks
  }

  start(): void {
    if (this.stopped || this.timer) return
    this.schedule()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.ticking
  }

  /** The slot whose grace ended last at `now`. */
  private lastClosedSlot(now: number): number {
    const { clock } = this.opts
    return clock.slotOf(now - clock.graceMs) - 1
  }

  private schedule(): void {
    if (this.stopped) return
    const { clock } = this.opts
    const now = this.now()
    const next = clock.slotStart(this.lastClosedSlot(now) + 2) + clock.graceMs
    this.timer = setTimeout(
      () => {
        this.timer = null
        this.ticking = this.tick().finally(() => this.schedule())
      },
      Math.max(1, next - now),
    )
    this.timer.unref()
  }

  /** Fills the slot that just closed when the best chain has no block for it. */
  async tick(): Promise<void> {
    const { clock, logger } = this.opts
    const slot = this.lastClosedSlot(this.now())
    const tip = this.opts.tip()
    if (slot < 1 || clock.slotOf(tip.timestamp) >= slot) return
    // A tip of the slot before is live; an older one may be a node still
    // catching up, which waits until no peer reports a longer chain — but
    // not for ever: a peer's claim is unproven, and after STUCK_SLOTS with
    // no new tip the node fills the slot anyway.
    const now = this.now()
    if (tip.hash !== this.seenTip) {
      this.seenTip = tip.hash
      this.seenSince = now
    }
    const live = clock.slotOf(tip.timestamp) === slot - 1
    const stuck = now - this.seenSince >= STUCK_SLOTS * clock.slotMs
    if (!live && !stuck && this.opts.synced && !this.opts.synced()) return
    const block = clock.emptyBlock(tip, slot)
    try {
      const res = await this.opts.submit(block)
      if (res.status === 'connected') {
        this.emptyBlocks++
        logger.info('empty block', { slot, height: block.header.height, hash: res.hash })
      } else if (res.status === 'invalid') {
        logger.warn('empty block refused', { slot, code: res.error.code, reason: res.error.message })
      }
    } catch (err) {
      logger.error('empty block failed', { slot, error: (err as Error).message })
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)()
  }
}
