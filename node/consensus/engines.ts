// The consensus engines this build knows, by the name a network file gives
// in `consensus.engine`.
import type { ConsensusEngine } from './engine.js'
import { SlotsEngine } from './slots.js'
import { WorkEngine } from './work.js'

export const ENGINE_NAMES = ['work', 'slots'] as const
export type EngineName = (typeof ENGINE_NAMES)[number]
export const DEFAULT_ENGINE: EngineName = 'work'

export function isEngineName(v: unknown): v is EngineName {
  return typeof v === 'string' && (ENGINE_NAMES as readonly string[]).includes(v)
}

/** `consensus.slots` of a network file: the `slots` engine's clock and bounds. */
export interface SlotsParams {
  slotMs: number
  graceMs: number
  maxDriftMs: number
  /** The easiest target a block may carry (32 bytes, below 2^192). */
  targetLimit: Buffer
}

/** The network parameters an engine is built from. */
export interface EngineParams {
  /** The network's target: `work`'s fixed target or the anchor of its retargeting; block 1's under `slots`. */
  target: Buffer
  targetBlockTimeMs: number
  genesisTime: number
  /** `consensus.retarget` of the network file, when a `work` network retargets. */
  retarget?: { rule: 'asert'; halfLifeMs: number; powLimit: Buffer; anchorTimeMs: number }
  /** `consensus.slots`: required by `slots`. */
  slots?: SlotsParams
}

export function createEngine(name: EngineName, params: EngineParams): ConsensusEngine {
  switch (name) {
    case 'work':
      if (params.retarget !== undefined && params.retarget.rule !== 'asert') {
        throw new Error(`the work engine has no retarget rule "${String(params.retarget.rule)}"`)
      }
      return new WorkEngine({
        target: params.target,
        ...(params.retarget && {
          retarget: {
            targetBlockTimeMs: params.targetBlockTimeMs,
            halfLifeMs: params.retarget.halfLifeMs,
            powLimit: params.retarget.powLimit,
            anchorTimeMs: params.retarget.anchorTimeMs,
          },
        }),
      })
    case 'slots':
      if (params.slots === undefined) throw new Error('the slots engine needs consensus.slots')
      return new SlotsEngine({ genesisTime: params.genesisTime, target: params.target, ...params.slots })
  }
}
