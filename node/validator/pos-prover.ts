// The proof-of-space prover: a vault on disk (built, resumed or opened by
// ready()) answers each challenge with its nearest record.
import { FINGERPRINT_BYTES, PUBLIC_KEY_BYTES, RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'
import { buildVault } from './pos-build.js'
import { VaultReader } from './pos-lookup.js'
import type { BuildProgress } from './pos-progress.js'
import type { FindOptions, ProofCandidate, Prover } from './prover.js'

export interface PosProverOptions {
  vaultPath: string
  /** 16 bytes. */
  fingerprint: Uint8Array
  /** 33 bytes (compressed secp256k1). */
  publicKey: Uint8Array
  buckets: number
  /** Records per cup (one write). */
  cupSize: number
  cupsPerBucket: number
  /** Hash worker threads while building; 0 = this thread. Default 1. */
  threadsHash?: number
  onProgress?: (p: BuildProgress) => void
  /** Free bytes where the vault goes (default: fs.statfs); for tests. */
  freeBytes?: (dir: string) => Promise<number>
}

export class PosProver implements Prover {
  readonly kind = 'pos' as const
  private readonly abort = new AbortController()
  private readying: Promise<void> | null = null
  private reader: VaultReader | null = null
  private building = false
  private buildHashRate = 0
  private storedDuringBuild = 0
  private closed = false

  constructor(private readonly opts: PosProverOptions) {
    if (opts.fingerprint.length !== FINGERPRINT_BYTES) throw new RangeError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`)
    if (opts.publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key must be ${PUBLIC_KEY_BYTES} bytes`)
  }

  get hashRate(): number {
    return this.building ? this.buildHashRate : 0
  }

  get storedRecords(): number {
    return this.reader !== null ? this.reader.records : this.storedDuringBuild
  }

  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the pos prover is closed'))
    this.readying ??= this.open()
    return this.readying
  }

  private async open(): Promise<void> {
    const o = this.opts
    this.building = true
    try {
      await buildVault({
        path: o.vaultPath,
        identity: { fingerprint: Buffer.from(o.fingerprint), publicKey: Buffer.from(o.publicKey) },
        params: { buckets: o.buckets, cupSize: o.cupSize, cupsPerBucket: o.cupsPerBucket },
        threadsHash: o.threadsHash,
        signal: this.abort.signal,
        freeBytes: o.freeBytes,
        onProgress: (p) => {
          this.buildHashRate = p.hashesPerSecond
          if (p.phase === 'fill') this.storedDuringBuild = Math.floor(p.done / RECORD_ENTRY_BYTES)
          o.onProgress?.(p)
        },
      })
    } finally {
      this.building = false
    }
    const reader = await VaultReader.open(o.vaultPath)
    if (this.closed) {
      await reader.close()
      throw new Error('the pos prover was closed while opening its vault')
    }
    this.reader = reader
  }

  async find(challenge: Buffer, target: bigint, opts: FindOptions): Promise<ProofCandidate | null> {
    if (this.reader === null) throw new Error(this.closed ? 'the pos prover is closed' : 'the pos prover is not ready: await ready() first')
    if (opts.signal?.aborted) return null
    const best = this.reader.nearest(challenge)
    return best.distance < target ? best : null
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.abort.abort(new Error('the pos prover was closed'))
    await this.readying?.catch(() => {})
    await this.reader?.close()
    this.reader = null
  }
}
