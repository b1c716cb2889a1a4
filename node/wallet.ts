// The node's one unlocked account: which keystore account signs
// sendTransaction, with its private key held in memory until the next unlock
// or shutdown.
import { Semaphore } from '../lib/semaphore.js'
import type { Logger } from '../lib/log.js'
import type { Keystore } from './keystore.js'

export interface UnlockedAccount {
  name: string
  address: string
  privateKey: Buffer
}

/** A signing key the holder owns and must zero when done. */
export interface SigningKey {
  address: string
  privateKey: Buffer
}

export class NotUnlockedError extends Error {
  override name = 'NotUnlockedError'
  constructor() {
    super('no account is unlocked on this node: call unlock(name, password) first')
  }
}

export class Wallet {
  private current: UnlockedAccount | null = null
  /**
   * Key derivation (scrypt) shares libuv's threadpool with LevelDB, so a
   * flood of unlock calls must not take it over: two at a time, a short
   * queue, and "busy" past that.
   */
  private readonly kdf = new Semaphore(2, 16, 'account unlocks')

  constructor(
    private readonly keystore: Keystore,
    private readonly logger: Logger,
  ) {}

  get unlocked(): UnlockedAccount | null {
    return this.current
  }

  create(name: string, password: string): Promise<{ address: string }> {
    return this.kdf.run(() => this.keystore.create(name, password))
  }

  /** Makes `name` the unlocked account, zeroing the key of the one before. */
  async unlock(name: string, password: string): Promise<UnlockedAccount> {
    const { address, privateKey } = await this.kdf.run(() => this.keystore.unlock(name, password))
    this.current?.privateKey.fill(0)
    this.current = { name, address, privateKey }
    this.logger.info('account unlocked', { name, address })
    return this.current
  }

  /**
   * A copy of the unlocked key, taken now: a later unlock() zeroes the
   * account's own buffer, not this one.
   */
  copyKey(): SigningKey {
    if (!this.current) throw new NotUnlockedError()
    return { address: this.current.address, privateKey: Buffer.from(this.current.privateKey) }
  }

  /** Forgets the unlocked account, zeroing its key. */
  lock(): void {
    this.current?.privateKey.fill(0)
    this.current = null
  }
}
