// The log lines for a moved tip: a warning for a reorganisation, one line
// per connected block for short moves, one summary line for long ones (a
// catch-up connects up to 500 at a time).
import { toHex } from '../../protocol/wire/bytes.js'
import type { Logger } from '../../lib/log.js'
import type { TipChange } from './chainstate.js'

/** Up to this many connected blocks get a line each. */
const PER_BLOCK_LINES = 3

export function logTipChange(logger: Logger, change: TipChange): void {
  if (change.disconnected.length > 0) {
    logger.warn('chain reorganised', {
      disconnected: change.disconnected.length,
      connected: change.connected.length,
      height: change.tip.height,
      tip: change.tip.hash,
    })
  }
  const last = change.connected[change.connected.length - 1]
  if (!last) return
  if (change.connected.length > PER_BLOCK_LINES) {
    logger.info('blocks connected', { count: change.connected.length, height: last.height, tip: last.hash })
    return
  }
  for (const b of change.connected) {
    logger.info('block connected', {
      height: b.height,
      hash: b.hash,
      // Every transaction, the reward included; transfers are the rest.
      txs: b.block.txs.length,
      transfers: b.block.txs.length - 1,
      miner: toHex(b.block.header.miner),
    })
  }
}
