// The proof-of-space vault file format: what is where, and the codecs of its
// header and build-progress records (no I/O here; pos-vault-file.ts reads and
// writes them).
//
//   0                identity page: magic "BKCVAULT", version, parameters,
//                    fingerprint, public key, sha256 of those (written once)
//   4096             progress slot A  } seq, phase, next nonce, buckets sorted,
//   4096 + slot      progress slot B  } per-bucket counts, sha256; written
//                                       alternately so a torn write leaves the other
//   dataOffset       bucket regions: cupSize × cupsPerBucket entries of 32 bytes
//
// A finished vault holds exactly `buckets` regions, bucket b at region b, each
// sorted. While building, the file holds one region more: the fill phase
// writes bucket b into region b + 1 and the sort phase writes sorted bucket b
// into region b, so the unsorted copy survives until the sorted one is on
// disk and a crash in the middle of a sort loses nothing. The spare last
// region is cut off when the build is done.
//
// A build in single-write passes (phase 'pass') writes sorted bucket b
// straight into region b: buckets 0..bucketsSorted-1 are done, the rest not
// yet written. bkc versions without this phase read such a progress record
// as invalid: they refuse the file, or restart from the other slot's record
// only when that is the empty initial one, so they never mix the layouts.
import { createHash } from 'node:crypto'
import { FINGERPRINT_BYTES, PUBLIC_KEY_BYTES, RECORD_ENTRY_BYTES } from '../../protocol/chain/proof-record.js'
import { readU64, writeU64 } from '../../protocol/wire/bytes.js'

export const VAULT_MAGIC = 'BKCVAULT'
export const VAULT_VERSION = 1
export const MAX_BUCKETS = 65_536
/** A bucket is sorted in memory (two regions at a time, pos-build.ts), so its region is bounded. */
export const MAX_REGION_BYTES = 512 * 1024 ** 2
/** The fill phase holds one cup per bucket in memory. */
export const MAX_FILL_BUFFER_BYTES = 1024 ** 3
const PAGE = 4096
const IDENTITY_BYTES = 120
const CHECKSUM_BYTES = 32
const PROGRESS_FIXED_BYTES = 24

export type VaultPhase = 'fill' | 'sort' | 'done' | 'pass'
const PHASES: readonly VaultPhase[] = ['fill', 'sort', 'done', 'pass']

export class VaultFormatError extends Error {
  override name = 'VaultFormatError'
  constructor(
    /** NOT_A_VAULT: no magic (some other file); the others concern a file that says it is a vault. */
    public readonly code:
      | 'NOT_A_VAULT'
      | 'UNSUPPORTED_VERSION'
      | 'CORRUPT_HEADER'
      | 'CORRUPT_PROGRESS'
      | 'CORRUPT_DATA'
      | 'WRONG_SIZE'
      | 'UNFINISHED'
      | 'BAD_PARAMS',
    message: string,
  ) {
    super(message)
  }
}

export interface VaultParams {
  /** A power of two in 1..65536. */
  buckets: number
  /** Entries per cup: one cup is one write. */
  cupSize: number
  cupsPerBucket: number
}

export interface VaultIdentity {
  fingerprint: Buffer
  publicKey: Buffer
}

export interface VaultHeader extends VaultParams, VaultIdentity {
  version: number
  dataOffset: number
}

export interface VaultProgress {
  /** Increases with every write; the slot with the highest valid seq is current. */
  seq: number
  phase: VaultPhase
  /** The fill phase's next nonce to hash. */
  nextNonce: number
  /** Sort and pass phases: buckets 0..bucketsSorted-1 are sorted, in their final regions. */
  bucketsSorted: number
  /** Entries stored per bucket (the fill phase's checkpoint). */
  counts: Uint32Array
}

export interface VaultLayout extends VaultParams {
  bucketBits: number
  /** Entries per bucket when full. */
  capacity: number
  regionBytes: number
  slotBytes: number
  dataOffset: number
  /** Size of a finished vault. */
  finalBytes: number
  /** Size while building (one spare region). */
  buildBytes: number
  /** Memory the fill phase's cup buffers take. */
  fillBufferBytes: number
}

const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0

/** Checks parameters; throws VaultFormatError('BAD_PARAMS') saying which one is wrong and why. */
export function checkParams(p: VaultParams): void {
  const bad = (msg: string): never => {
    throw new VaultFormatError('BAD_PARAMS', msg)
  }
  if (!isPowerOfTwo(p.buckets) || p.buckets > MAX_BUCKETS) bad(`buckets must be a power of two from 1 to ${MAX_BUCKETS}, got ${p.buckets}`)
  if (!Number.isSafeInteger(p.cupSize) || p.cupSize < 1) bad(`cup size must be a positive integer, got ${p.cupSize}`)
  if (!Number.isSafeInteger(p.cupsPerBucket) || p.cupsPerBucket < 1)
    bad(`cups per bucket must be a positive integer, got ${p.cupsPerBucket}`)
  const region = p.cupSize * p.cupsPerBucket * RECORD_ENTRY_BYTES
  if (region > MAX_REGION_BYTES) {
    bad(
      `a bucket region of ${region} bytes (cup size × cups per bucket × 32) exceeds the ${MAX_REGION_BYTES} bytes sorted in memory; use more buckets`,
    )
  }
  const fill = p.buckets * p.cupSize * RECORD_ENTRY_BYTES
  if (fill > MAX_FILL_BUFFER_BYTES) {
    bad(
      `cup buffers of ${fill} bytes (buckets × cup size × 32) exceed the ${MAX_FILL_BUFFER_BYTES} bytes allowed in memory; use a smaller cup size`,
    )
  }
}

export function vaultLayout(p: VaultParams): VaultLayout {
  checkParams(p)
  const capacity = p.cupSize * p.cupsPerBucket
  const regionBytes = capacity * RECORD_ENTRY_BYTES
  const slotBytes = Math.ceil((PROGRESS_FIXED_BYTES + 4 * p.buckets + CHECKSUM_BYTES) / PAGE) * PAGE
  const dataOffset = PAGE + 2 * slotBytes
  return {
    buckets: p.buckets,
    cupSize: p.cupSize,
    cupsPerBucket: p.cupsPerBucket,
    bucketBits: Math.log2(p.buckets),
    capacity,
    regionBytes,
    slotBytes,
    dataOffset,
    finalBytes: dataOffset + p.buckets * regionBytes,
    buildBytes: dataOffset + (p.buckets + 1) * regionBytes,
    fillBufferBytes: p.buckets * p.cupSize * RECORD_ENTRY_BYTES,
  }
}

/** Where region `index` starts. */
export function regionOffset(layout: VaultLayout, index: number): number {
  return layout.dataOffset + index * layout.regionBytes
}

/** The bucket a record (or challenge) belongs to: its top log2(buckets) bits. */
export function bucketOf(record: Uint8Array, bucketBits: number, offset = 0): number {
  if (bucketBits === 0) return 0
  return ((record[offset]! << 8) | record[offset + 1]!) >>> (16 - bucketBits)
}

/**
 * Parameters for a vault of about `diskBytes`: whole 1 MiB-ish cups of
 * `cupSize` per bucket, or one smaller cup per bucket for small vaults.
 */
export function paramsForDisk(diskBytes: number, buckets = 256, cupSize = 32_768): VaultParams {
  const perBucket = Math.floor(diskBytes / buckets / RECORD_ENTRY_BYTES)
  if (perBucket < 1) throw new VaultFormatError('BAD_PARAMS', `${diskBytes} bytes cannot hold one record in each of ${buckets} buckets`)
  const params =
    perBucket >= cupSize
      ? { buckets, cupSize, cupsPerBucket: Math.floor(perBucket / cupSize) }
      : { buckets, cupSize: perBucket, cupsPerBucket: 1 }
  checkParams(params)
  return params
}

const sha = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

export function encodeHeader(p: VaultParams, id: VaultIdentity): Buffer {
  const layout = vaultLayout(p)
  if (id.fingerprint.length !== FINGERPRINT_BYTES) throw new RangeError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`)
  if (id.publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key must be ${PUBLIC_KEY_BYTES} bytes`)
  const page = Buffer.alloc(PAGE)
  page.write(VAULT_MAGIC, 0, 'latin1')
  page.writeUInt32BE(VAULT_VERSION, 8)
  page.writeUInt32BE(p.buckets, 12)
  page.writeUInt32BE(p.cupSize, 16)
  page.writeUInt32BE(p.cupsPerBucket, 20)
  page.set(id.fingerprint, 24)
  page.set(id.publicKey, 40)
  writeU64(page, layout.dataOffset, 80)
  sha(page.subarray(0, 88)).copy(page, 88)
  return page
}

/** The identity page; `bytes` is what the file holds from offset 0 (at least 4096 bytes for a whole header). */
export function decodeHeader(bytes: Buffer): VaultHeader {
  if (bytes.length < VAULT_MAGIC.length || bytes.toString('latin1', 0, VAULT_MAGIC.length) !== VAULT_MAGIC) {
    throw new VaultFormatError('NOT_A_VAULT', `not a vault: the file does not start with "${VAULT_MAGIC}"`)
  }
  if (bytes.length < IDENTITY_BYTES)
    throw new VaultFormatError('CORRUPT_HEADER', `vault header truncated: ${bytes.length} of ${IDENTITY_BYTES} bytes`)
  if (!sha(bytes.subarray(0, 88)).equals(bytes.subarray(88, IDENTITY_BYTES))) {
    throw new VaultFormatError('CORRUPT_HEADER', 'vault header damaged: its checksum does not match')
  }
  const version = bytes.readUInt32BE(8)
  if (version !== VAULT_VERSION)
    throw new VaultFormatError('UNSUPPORTED_VERSION', `vault format version ${version} is not supported (this bkc reads ${VAULT_VERSION})`)
  const params = { buckets: bytes.readUInt32BE(12), cupSize: bytes.readUInt32BE(16), cupsPerBucket: bytes.readUInt32BE(20) }
  let layout: VaultLayout
  try {
    layout = vaultLayout(params)
  } catch (err) {
    throw new VaultFormatError('CORRUPT_HEADER', `vault header holds impossible parameters: ${(err as Error).message}`)
  }
  const dataOffset = readU64(bytes, 80)
  if (dataOffset !== layout.dataOffset)
    throw new VaultFormatError('CORRUPT_HEADER', `vault header: data offset ${dataOffset}, expected ${layout.dataOffset}`)
  return {
    version,
    ...params,
    fingerprint: Buffer.from(bytes.subarray(24, 40)),
    publicKey: Buffer.from(bytes.subarray(40, 73)),
    dataOffset,
  }
}

export function encodeProgress(layout: VaultLayout, p: VaultProgress): Buffer {
  if (p.counts.length !== layout.buckets) throw new RangeError(`progress needs ${layout.buckets} counts, got ${p.counts.length}`)
  const slot = Buffer.alloc(layout.slotBytes)
  slot.writeUInt32BE(p.seq >>> 0, 0)
  slot.writeUInt8(PHASES.indexOf(p.phase), 4)
  writeU64(slot, p.nextNonce, 8)
  slot.writeUInt32BE(p.bucketsSorted, 16)
  slot.writeUInt32BE(layout.buckets, 20)
  for (let b = 0; b < layout.buckets; b++) slot.writeUInt32BE(p.counts[b]!, PROGRESS_FIXED_BYTES + 4 * b)
  const end = PROGRESS_FIXED_BYTES + 4 * layout.buckets
  sha(slot.subarray(0, end)).copy(slot, end)
  return slot
}

/** One progress slot, or null when it is not a whole, valid record (never written, or torn). */
export function decodeProgress(layout: VaultLayout, slot: Buffer): VaultProgress | null {
  const end = PROGRESS_FIXED_BYTES + 4 * layout.buckets
  if (slot.length < end + CHECKSUM_BYTES) return null
  if (!sha(slot.subarray(0, end)).equals(slot.subarray(end, end + CHECKSUM_BYTES))) return null
  const phase = PHASES[slot.readUInt8(4)]
  const nextNonce = readU64(slot, 8)
  const bucketsSorted = slot.readUInt32BE(16)
  if (phase === undefined || nextNonce === null || slot.readUInt32BE(20) !== layout.buckets || bucketsSorted > layout.buckets) return null
  const counts = new Uint32Array(layout.buckets)
  for (let b = 0; b < layout.buckets; b++) {
    const c = slot.readUInt32BE(PROGRESS_FIXED_BYTES + 4 * b)
    if (c > layout.capacity) return null
    counts[b] = c
  }
  return { seq: slot.readUInt32BE(0), phase, nextNonce, bucketsSorted, counts }
}

/** The current one of the two slots: the valid one with the higher seq (seq wraps at 2^32). */
export function currentProgress(a: VaultProgress | null, b: VaultProgress | null): VaultProgress | null {
  if (a === null) return b
  if (b === null) return a
  return ((b.seq - a.seq) | 0) > 0 ? b : a
}

/** Offset of the slot a progress record with `seq` goes to. */
export function progressSlotOffset(layout: VaultLayout, seq: number): number {
  return PAGE + (seq % 2) * layout.slotBytes
}

export const HEADER_PAGE_BYTES = PAGE
