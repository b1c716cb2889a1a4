// Values of the validator commands' flags: sizes (64M, 10G), a validator's
// fingerprint (a UUID or 32 hex digits) and public key (66 hex digits).
import { FINGERPRINT_BYTES, PUBLIC_KEY_BYTES } from '../../protocol/chain/proof-record.js'
import { UsageError } from '../options.js'

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }

/** "64M", "1.5G", "512k", "10GiB", "4096": bytes, in binary units. */
export function parseSize(flag: string) {
  return (v: unknown): number => {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(String(v).trim())
    const bytes = m === null ? Number.NaN : Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!)
    if (!Number.isSafeInteger(bytes) || bytes < 1)
      throw new UsageError(`--${flag} must be a size such as 64M, 1G or 10G, got "${String(v)}"`)
    return bytes
  }
}

/** A fingerprint: a UUID (8-4-4-4-12 hex digits) or 32 hex digits. */
export function parseFingerprint(flag: string) {
  return (v: unknown): Buffer => {
    const s = String(v).trim()
    const hex = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) ? s.replaceAll('-', '') : s
    if (!new RegExp(`^[0-9a-f]{${2 * FINGERPRINT_BYTES}}$`, 'i').test(hex)) {
      throw new UsageError(`--${flag} must be a UUID or ${2 * FINGERPRINT_BYTES} hex digits, got "${s}"`)
    }
    return Buffer.from(hex, 'hex')
  }
}

/** A compressed secp256k1 public key: 66 hex digits starting 02 or 03. */
export function parsePublicKey(flag: string) {
  return (v: unknown): Buffer => {
    const s = String(v).trim()
    if (!new RegExp(`^0[23][0-9a-f]{${2 * PUBLIC_KEY_BYTES - 2}}$`, 'i').test(s)) {
      throw new UsageError(`--${flag} must be a compressed public key: ${2 * PUBLIC_KEY_BYTES} hex digits starting 02 or 03, got "${s}"`)
    }
    return Buffer.from(s, 'hex')
  }
}

/** 16 bytes as a UUID: 00112233-4455-6677-8899-aabbccddeeff. */
export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** "10.0 GiB", "64.0 MiB", "512 B" */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= size) return `${(n / size).toFixed(1)} ${unit}`
  }
  return `${n} B`
}

/** The stamp DataSys Coin's commands start their lines with: "20250314 09:26:53.589". */
export function stamp(now = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())} ` +
    `${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}.${p(now.getMilliseconds(), 3)}`
  )
}
