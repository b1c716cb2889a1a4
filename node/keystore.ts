// Encrypted keystore: one JSON file per account under a directory.
//
// The private key is sealed with XSalsa20-Poly1305 (tweetnacl secretbox)
// under a key derived from the password with scrypt. The address is kept in
// plaintext (readable without the password); it is bound to the sealed key
// by re-deriving it after opening, so an edited address is caught. Edited
// kdf parameters or salt derive a different key and fail to open, exactly
// like a wrong password (the two cannot be told apart without a password
// oracle that would be just as good to an attacker).
//
// Files are published with link(2), which refuses to overwrite: an existing
// account is never replaced, and of two concurrent creates of one name
// exactly one wins. The private key only ever reaches disk sealed.
import * as fsp from 'node:fs/promises'
import { randomBytes, scrypt, type ScryptOptions } from 'node:crypto'
import { join } from 'node:path'
import nacl from 'tweetnacl'
import { isHexOfLength, toHex } from '../protocol/wire/bytes.js'
import { addressFromPrivateKey, generateKeyPair, PRIVATE_KEY_BYTES } from '../protocol/chain/keys.js'
import { createFileExclusive, errno, PrivateFileError, readPrivateFile } from '../lib/files.js'

export type KeystoreErrorCode =
  | 'ACCOUNT_EXISTS'
  | 'ACCOUNT_NOT_FOUND'
  | 'WRONG_PASSWORD'
  | 'INVALID_NAME'
  | 'INVALID_PASSWORD'
  | 'CORRUPT_FILE'

export class KeystoreError extends Error {
  readonly code: KeystoreErrorCode
  constructor(code: KeystoreErrorCode, message: string) {
    super(message)
    this.name = 'KeystoreError'
    this.code = code
  }
}

/** scrypt cost parameters. */
export interface KdfParams {
  N: number
  r: number
  p: number
}

export interface KeystoreOptions {
  kdf?: KdfParams
}

/** 2^15, 8, 1: 32 MiB of memory per derivation (128·N·r bytes), the usual interactive setting. */
export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })

export const KEYSTORE_VERSION = 1
export const CIPHER_NAME = 'xsalsa20-poly1305'
const SALT_BYTES = 16
const FILE_SUFFIX = '.json'
const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/
const MAX_PASSWORD_LENGTH = 1024
/** A keystore file is a few hundred bytes; anything far larger is not one of ours. */
const MAX_FILE_BYTES = 64 * 1024

// Bounds on kdf parameters read from a file: an edited file must not be able
// to make unlock allocate gigabytes or spin for minutes. The largest allowed
// cost is N=2^20, r=8, p=1 (1 GiB, a few seconds).
const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16
const MAX_KDF_MEMORY = 2 ** 30
const MAX_KDF_WORK = 2 ** 23 // N * r * p

interface KeystoreFile {
  version: number
  name: string
  address: string
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string }
  cipher: typeof CIPHER_NAME
  nonce: string
  ciphertext: string
}

// ---------------------------------------------------------------- validation

export function isValidAccountName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RE.test(name)
}

function checkName(name: unknown): asserts name is string {
  if (!isValidAccountName(name)) {
    throw new KeystoreError(
      'INVALID_NAME',
      `invalid account name ${JSON.stringify(String(name))}: use 1-64 characters of A-Z a-z 0-9 _ . - not starting with "."`,
    )
  }
}

function checkPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new KeystoreError('INVALID_PASSWORD', `password must be a non-empty string of at most ${MAX_PASSWORD_LENGTH} characters`)
  }
}

/** True when scrypt with these parameters is something unlock may reasonably run. */
export function isSaneKdf(kdf: KdfParams): boolean {
  const { N, r, p } = kdf
  const inRange = (v: number, max: number): boolean => Number.isSafeInteger(v) && v >= 1 && v <= max
  return (
    inRange(N, MAX_N) &&
    N > 1 &&
    (N & (N - 1)) === 0 &&
    inRange(r, MAX_R) &&
    inRange(p, MAX_P) &&
    128 * N * r <= MAX_KDF_MEMORY &&
    N * r * p <= MAX_KDF_WORK
  )
}

// ---------------------------------------------------------------- crypto

function deriveKey(password: string, salt: Uint8Array, kdf: KdfParams): Promise<Buffer> {
  const { N, r, p } = kdf
  // OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B; the default
  // maxmem (32 MiB) is exactly what N=2^15,r=8 needs before that overhead.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * r * (N + p + 2) + 1024 * 1024 }
  return new Promise((resolve, reject) => {
    // Async scrypt runs on the libuv threadpool, keeping the event loop free.
    scrypt(password.normalize('NFC'), salt, nacl.secretbox.keyLength, options, (err, key) => {
      if (err) reject(err)
      else resolve(key)
    })
  })
}

async function seal(name: string, password: string, privateKey: Uint8Array, kdf: KdfParams): Promise<KeystoreFile> {
  const address = toHex(addressFromPrivateKey(privateKey))
  const salt = randomBytes(SALT_BYTES)
  const nonce = randomBytes(nacl.secretbox.nonceLength)
  const key = await deriveKey(password, salt, kdf)
  try {
    const ciphertext = nacl.secretbox(privateKey, nonce, key)
    return {
      version: KEYSTORE_VERSION,
      name,
      address,
      kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: toHex(salt) },
      cipher: CIPHER_NAME,
      nonce: toHex(nonce),
      ciphertext: toHex(ciphertext),
    }
  } finally {
    key.fill(0)
  }
}

async function unseal(file: KeystoreFile, password: string, where: string): Promise<Buffer> {
  const kdf = { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p }
  const key = await deriveKey(password, Buffer.from(file.kdf.salt, 'hex'), kdf)
  let opened: Uint8Array | null
  try {
    opened = nacl.secretbox.open(Buffer.from(file.ciphertext, 'hex'), Buffer.from(file.nonce, 'hex'), key)
  } finally {
    key.fill(0)
  }
  if (opened === null) throw new KeystoreError('WRONG_PASSWORD', `wrong password for account "${file.name}"`)
  const privateKey = Buffer.from(opened)
  opened.fill(0)
  let address: string | null
  try {
    address = privateKey.length === PRIVATE_KEY_BYTES ? toHex(addressFromPrivateKey(privateKey)) : null
  } catch {
    address = null // not a valid scalar
  }
  if (address !== file.address.toLowerCase()) {
    privateKey.fill(0)
    throw new KeystoreError('CORRUPT_FILE', `keystore file ${where}: address does not match the sealed key`)
  }
  return privateKey
}

// ---------------------------------------------------------------- file format

/** Parses and checks a keystore file's text; CORRUPT_FILE (naming `where`) on anything unexpected. */
export function parseKeystoreFile(text: string, where: string): KeystoreFile {
  const corrupt = (why: string): KeystoreError => new KeystoreError('CORRUPT_FILE', `keystore file ${where} is corrupt: ${why}`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw corrupt('not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('not a JSON object')
  const f = value as Record<string, unknown>
  if (f.version !== KEYSTORE_VERSION) throw corrupt(`unsupported version ${JSON.stringify(f.version)}`)
  if (!isValidAccountName(f.name)) throw corrupt('bad name')
  if (!isHexOfLength(f.address, 33)) throw corrupt('bad address')
  const kdf = f.kdf as Record<string, unknown> | null
  if (typeof kdf !== 'object' || kdf === null || kdf.name !== 'scrypt') throw corrupt('unsupported kdf')
  const { N, r, p, salt } = kdf
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number' || !isSaneKdf({ N, r, p })) {
    throw corrupt('scrypt parameters out of bounds')
  }
  if (!isHexOfLength(salt, SALT_BYTES)) throw corrupt('bad salt')
  if (f.cipher !== CIPHER_NAME) throw corrupt('unsupported cipher')
  if (!isHexOfLength(f.nonce, nacl.secretbox.nonceLength)) throw corrupt('bad nonce')
  if (!isHexOfLength(f.ciphertext, PRIVATE_KEY_BYTES + nacl.secretbox.overheadLength)) throw corrupt('bad ciphertext length')
  return {
    version: KEYSTORE_VERSION,
    name: f.name,
    address: f.address.toLowerCase(),
    kdf: { name: 'scrypt', N, r, p, salt },
    cipher: CIPHER_NAME,
    nonce: f.nonce,
    ciphertext: f.ciphertext,
  }
}

// ---------------------------------------------------------------- keystore

export class Keystore {
  private readonly dir: string
  private readonly kdf: KdfParams

  constructor(dir: string, opts: KeystoreOptions = {}) {
    const kdf = opts.kdf ?? DEFAULT_KDF
    if (!isSaneKdf(kdf)) throw new RangeError(`unsupported scrypt parameters ${JSON.stringify(kdf)}`)
    this.dir = dir
    this.kdf = { N: kdf.N, r: kdf.r, p: kdf.p }
  }

  /** Generates a new key pair and stores it sealed under `password`. */
  async create(name: string, password: string): Promise<{ address: string }> {
    checkName(name)
    checkPassword(password)
    const { privateKey } = generateKeyPair()
    try {
      return await this.store(name, password, privateKey)
    } finally {
      privateKey.fill(0)
    }
  }

  /** Decrypts an account's private key; the caller should zero it when done. */
  async unlock(name: string, password: string): Promise<{ address: string; privateKey: Buffer }> {
    checkName(name)
    checkPassword(password)
    const file = await this.read(name)
    const privateKey = await unseal(file, password, this.pathOf(name))
    return { address: file.address, privateKey }
  }

  private pathOf(name: string): string {
    return join(this.dir, name + FILE_SUFFIX)
  }

  private async read(name: string): Promise<KeystoreFile> {
    const path = this.pathOf(name)
    let text: string | null
    try {
      // O_NOFOLLOW: a symlink planted in the keystore is not followed.
      text = await readPrivateFile(path, MAX_FILE_BYTES)
    } catch (err) {
      if (err instanceof PrivateFileError) throw new KeystoreError('CORRUPT_FILE', `keystore file ${err.message}`)
      throw err
    }
    if (text === null) throw new KeystoreError('ACCOUNT_NOT_FOUND', `no account named "${name}"`)
    const file = parseKeystoreFile(text, path)
    if (file.name !== name) throw new KeystoreError('CORRUPT_FILE', `keystore file ${path} holds account "${file.name}"`)
    return file
  }

  private async store(name: string, password: string, privateKey: Uint8Array): Promise<{ address: string }> {
    const final = this.pathOf(name)
    // Cheap early refusal before spending a key derivation; link() below is
    // what actually guarantees no overwrite.
    if (await this.entryExists(final)) throw existsError(name)
    const file = await seal(name, password, privateKey, this.kdf)
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 })
    // The temp file starts with "." so it is never a valid account name.
    if (!(await createFileExclusive(final, JSON.stringify(file, null, 2) + '\n'))) throw existsError(name)
    return { address: file.address }
  }

  private async entryExists(path: string): Promise<boolean> {
    try {
      await fsp.lstat(path)
      return true
    } catch (err) {
      if (errno(err) === 'ENOENT') return false
      throw err
    }
  }
}

function existsError(name: string): KeystoreError {
  return new KeystoreError('ACCOUNT_EXISTS', `account "${name}" already exists`)
}
