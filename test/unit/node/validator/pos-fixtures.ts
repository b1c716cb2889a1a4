// Shared by the pos vault tests: an identity, tiny parameters, temp vault
// paths removed after the test, and a vault's content without its progress
// slots (which differ between two builds of the same vault only in seq).
import type { Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HEADER_PAGE_BYTES, vaultLayout, type VaultIdentity, type VaultParams } from '../../../../node/validator/pos-vault.js'
import { buildVault } from '../../../../node/validator/pos-build.js'

export const IDENTITY: VaultIdentity = {
  fingerprint: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
  publicKey: Buffer.concat([Buffer.from([0x02]), Buffer.alloc(32, 0x5a)]),
}
export const OTHER_IDENTITY: VaultIdentity = { fingerprint: Buffer.alloc(16, 7), publicKey: IDENTITY.publicKey }
export const TINY: VaultParams = { buckets: 16, cupSize: 64, cupsPerBucket: 4 }

/** A path for a vault in a fresh temp dir removed when `t` ends. */
export function vaultPath(t: Test, name = 'test.vault'): string {
  const dir = mkdtempSync(join(tmpdir(), 'bkc-pos-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, name)
}

/** The identity page and the bucket regions of a vault file. */
export function vaultContent(path: string, params: VaultParams): { header: Buffer; data: Buffer } {
  const bytes = readFileSync(path)
  return { header: bytes.subarray(0, HEADER_PAGE_BYTES), data: bytes.subarray(vaultLayout(params).dataOffset) }
}

/** A TINY vault whose build stopped at its second progress report: unfinished, mid-fill. */
export async function interruptedVault(path: string): Promise<void> {
  let calls = 0
  await buildVault({
    path,
    identity: IDENTITY,
    params: TINY,
    threadsHash: 0,
    onProgress: () => {
      if (++calls === 2) throw new Error('stop')
    },
  }).catch(() => {})
}
