// The consensus engines this build knows, by the name a network file gives
// in `consensus.engine`.
import type { ConsensusEngine } from './engine.js'
import { WorkEngine } from './work.js'

export const ENGINE_NAMES = ['work'] as const
export type EngineName = (typeof ENGINE_NAMES)[number]
export const DEFAULT_ENGINE: EngineName = 'work'

export function isEngineName(v: unknown): v is EngineName {
  return typeof v === 'string' && (ENGINE_NAMES as readonly string[]).includes(v)
}

/** The network parameters an engine is built from. */
export interface EngineParams {
  /** The network's target: `work`'s fixed target, or the anchor of its retargeting. */
  target: Buffer
  targetBlockTimeMs: number
  /** `consensus.retarget` of the network file, when the network retargets. */
  retarget?: { rule: 'asert'; halfLifeMs: number; powLimit: Buffer; anchorTimeMs: number }
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
  }
}
