// Builds the validator a configuration names, for the key it validates with:
// its fingerprint (configured, or the data directory's) and its prover. The
// log lines are DSC's, so users of that course recognise them.
import { join } from 'node:path'
import type { Logger } from '../../lib/log.js'
import { fingerprintToUuid, ValidatorConfigError, type ValidatorConfig } from './config.js'
import { loadOrCreateFingerprint } from './identity.js'
import { pomBuildLine, PomProver } from './pom-prover.js'
import { PosProver } from './pos-prover.js'
import { formatProgress } from './pos-progress.js'
import { PowProver } from './pow-prover.js'
import type { FindOptions, ProofCandidate, Prover } from './prover.js'

const RECORD_ENTRY_BYTES = 32
const gib = (bytes: number): string => (bytes >= 2 ** 30 ? `${+(bytes / 2 ** 30).toFixed(2)}GB` : `${Math.round(bytes / 2 ** 20)}MB`)

export type ValidatorFactory = (publicKey: Buffer) => Promise<{ fingerprint: Buffer; prover: Prover }>

export function validatorFactory(config: ValidatorConfig, dataDir: string, logger: Logger): ValidatorFactory {
  return async (publicKey) => {
    if (config.publicKey && !config.publicKey.equals(publicKey)) {
      throw new ValidatorConfigError(
        `the validator configuration names key ${config.publicKey.toString('hex')}, but mining was started with ${publicKey.toString('hex')}`,
      )
    }
    const fingerprint = config.fingerprint ?? (await loadOrCreateFingerprint(join(dataDir, 'validator')))
    const { search } = config
    const threads = search.threads
    let prover: Prover
    let ready: () => void = () => {}
    switch (search.kind) {
      case 'pow':
        logger.info(`Proof of Work (${threads}-threads)`)
        prover = new PowProver({ fingerprint, publicKey, threads })
        break
      case 'pom': {
        logger.info(`Proof of Memory (${threads}-threads, ${gib(search.memoryBytes)} RAM)`)
        const pom = new PomProver({ fingerprint, publicKey, memoryBytes: search.memoryBytes, threads })
        ready = () => {
          if (pom.buildStats) logger.info(pomBuildLine(pom.buildStats))
        }
        prover = pom
        break
      }
      case 'pos': {
        // A vault smaller than one cup per bucket gets smaller cups, not a bigger vault.
        const cupSize = Math.max(1, Math.min(search.cupSize, Math.floor(search.diskBytes / (search.buckets * RECORD_ENTRY_BYTES))))
        const cupsPerBucket = Math.max(1, Math.floor(search.diskBytes / (search.buckets * cupSize * RECORD_ENTRY_BYTES)))
        const vaultPath = search.vaultPath ?? join(dataDir, 'validator', 'pos.vault')
        logger.info(
          `Proof of Space (${threads}-threads, ${gib(search.buckets * cupSize * cupsPerBucket * RECORD_ENTRY_BYTES)} vault ${vaultPath})`,
        )
        let last = 0
        prover = new PosProver({
          vaultPath,
          fingerprint,
          publicKey,
          buckets: search.buckets,
          cupSize,
          cupsPerBucket,
          threadsHash: threads,
          onProgress: (p) => {
            if (Date.now() - last < 5000 && p.done < p.total) return
            last = Date.now()
            logger.info(`vault ${formatProgress(p)}`)
          },
        })
        break
      }
    }
    logger.info(`Fingerprint: ${fingerprintToUuid(fingerprint)}`)
    return { fingerprint, prover: withReadyLog(prover, ready) }
  }
}

/** The prover, with a log line once it is ready. */
function withReadyLog(inner: Prover, onReady: () => void): Prover {
  return {
    kind: inner.kind,
    ready: async () => {
      await inner.ready()
      onReady()
    },
    find: (challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null> => inner.find(challenge, target, opts),
    get hashRate() {
      return inner.hashRate
    },
    get storedRecords() {
      return inner.storedRecords
    },
    close: () => inner.close(),
  }
}
