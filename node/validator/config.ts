// What a validator is configured with: its kind of search and its sizes,
// from `bkc start` flags or a DSC dsc-config.yaml. Pure (but for the home
// directory a `~/` vault path names): parsing of sizes and of the YAML's
// `validator` section, with errors that name the field.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { isScalar, parseDocument, type Document } from 'yaml'

export interface PowConfig {
  kind: 'pow'
  threads: number
}
export interface PomConfig {
  kind: 'pom'
  threads: number
  memoryBytes: number
}
export interface PosConfig {
  kind: 'pos'
  threads: number
  diskBytes: number
  buckets: number
  cupSize: number
  /** The vault file; default `<data-dir>/validator/pos.vault`. */
  vaultPath?: string
}
export type ValidatorKindConfig = PowConfig | PomConfig | PosConfig

export interface ValidatorConfig {
  search: ValidatorKindConfig
  /** A fingerprint the configuration fixes (16 bytes); otherwise the data directory's. */
  fingerprint?: Buffer
  /** The key the configuration names: validating with another one is refused. */
  publicKey?: Buffer
}

export class ValidatorConfigError extends Error {
  override name = 'ValidatorConfigError'
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }

/** "64M", "1G", "1GiB", "512MB", "4096" → bytes (binary units). */
export function parseSize(v: unknown, what: string): number {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : ''
  // "iB" only after a unit letter: "1iB" is no size.
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(?:i?B)?|B)?$/i.exec(s)
  if (!m) throw new ValidatorConfigError(`${what}: expected a size such as 256M or 1G, got "${String(v).slice(0, 40)}"`)
  const bytes = Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toUpperCase()]!)
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new ValidatorConfigError(`${what}: ${String(v).slice(0, 40)} is not a usable size`)
  return bytes
}

/** A UUID (8-4-4-4-12 hex digits) or 32 hex digits → 16 bytes. */
export function parseFingerprint(v: unknown, what: string): Buffer {
  const s = typeof v === 'string' ? v : ''
  const hex = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) ? s.replace(/-/g, '') : s
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new ValidatorConfigError(`${what}: expected a UUID, got "${String(v).slice(0, 40)}"`)
  return Buffer.from(hex, 'hex')
}

/** 16 bytes → the UUID form DSC prints. */
export function fingerprintToUuid(fp: Uint8Array): string {
  const h = Buffer.from(fp).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** DSC's configs name the vault `~/dsc-pos.vault`: a shell would expand it, Node does not. */
function expandHome(path: string): string {
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : path
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function int(o: Obj, key: string, where: string, dflt: number, min: number, max: number): number {
  const v = o[key] ?? dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidatorConfigError(
      `${where}.${key}: expected an integer from ${min} to ${max}, got ${String(JSON.stringify(v)).slice(0, 40)}`,
    )
  }
  return v
}

function section(v: Obj, key: string, where: string): Obj | null {
  const s = v[key]
  if (s === undefined || s === null) return null
  if (!isObj(s)) throw new ValidatorConfigError(`${where}.${key}: expected a mapping`)
  if (s.enable !== undefined && typeof s.enable !== 'boolean')
    throw new ValidatorConfigError(`${where}.${key}.enable: expected true or false`)
  return s.enable === true ? s : null
}

/**
 * The `validator` section of a DSC dsc-config.yaml: exactly one of
 * proof_pow, proof_pom, proof_pos enabled. Other sections are ignored.
 */
export function validatorConfigFromYaml(text: string, source: string): ValidatorConfig {
  let parsed: Document.Parsed
  let doc: unknown
  try {
    parsed = parseDocument(text)
    if (parsed.errors.length > 0) throw parsed.errors[0]
    doc = parsed.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new ValidatorConfigError(`${source} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (!isObj(doc) || !isObj(doc.validator)) throw new ValidatorConfigError(`${source}: no "validator" section`)
  const v = doc.validator
  // Hex written plainly may read as a number (0x03ab…, or all digits): these two as written.
  for (const key of ['fingerprint', 'public_key']) {
    const node = parsed.getIn(['validator', key], true)
    if (isScalar(node) && typeof node.source === 'string' && typeof node.value !== 'string' && node.value !== null) v[key] = node.source
  }
  const where = `${source}: validator`
  const enabled = (['proof_pow', 'proof_pom', 'proof_pos'] as const).map((k) => [k, section(v, k, where)] as const).filter(([, s]) => s)
  if (enabled.length !== 1) {
    throw new ValidatorConfigError(`${where}: enable exactly one of proof_pow, proof_pom, proof_pos (${enabled.length} enabled)`)
  }
  const [key, s] = enabled[0]! as readonly [string, Obj]
  const w = `${where}.${key}`
  const threads = int(s, 'threads_hash', w, 1, 1, 64)
  let search: ValidatorKindConfig
  if (key === 'proof_pow') search = { kind: 'pow', threads }
  else if (key === 'proof_pom') search = { kind: 'pom', threads, memoryBytes: parseSize(s.memory ?? '1G', `${w}.memory`) }
  else {
    const vault = s.vault
    if (vault !== undefined && (typeof vault !== 'string' || vault.length === 0))
      throw new ValidatorConfigError(`${w}.vault: expected a path`)
    search = {
      kind: 'pos',
      threads,
      diskBytes: parseSize(s.disk ?? '10G', `${w}.disk`),
      buckets: int(s, 'buckets', w, 256, 1, 65536),
      cupSize: int(s, 'cup_size', w, 32768, 1, 1 << 24),
      ...(typeof vault === 'string' && { vaultPath: expandHome(vault) }),
    }
  }
  const config: ValidatorConfig = { search }
  if (v.fingerprint !== undefined && v.fingerprint !== null) config.fingerprint = parseFingerprint(v.fingerprint, `${where}.fingerprint`)
  if (v.public_key !== undefined && v.public_key !== null) {
    const pk = typeof v.public_key === 'string' ? v.public_key.replace(/^0x/, '') : ''
    if (!/^(02|03)[0-9a-fA-F]{64}$/.test(pk))
      throw new ValidatorConfigError(`${where}.public_key: expected a compressed public key (66 hex digits)`)
    config.publicKey = Buffer.from(pk, 'hex')
  }
  return config
}
