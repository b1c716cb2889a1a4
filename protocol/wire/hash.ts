// SHA-256 through node:crypto (OpenSSL): the only hash the chain uses.
import { createHash } from 'node:crypto'

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
