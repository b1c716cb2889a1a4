// An open vault file: its header and current progress, positioned reads and
// writes, and durable progress commits (pos-vault.ts has the format).
import { randomBytes } from 'node:crypto'
import { promises as fsp, readSync, type Stats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { errno, syncDir } from '../../lib/files.js'
import {
  currentProgress,
  decodeHeader,
  decodeProgress,
  encodeHeader,
  encodeProgress,
  HEADER_PAGE_BYTES,
  progressSlotOffset,
  VaultFormatError,
  vaultLayout,
  type VaultHeader,
  type VaultIdentity,
  type VaultLayout,
  type VaultParams,
  type VaultProgress,
} from './pos-vault.js'

export class VaultFile {
  private closed = false

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: VaultHeader,
    readonly layout: VaultLayout,
    private current: VaultProgress,
    readonly writable: boolean,
  ) {}

  get progress(): VaultProgress {
    return this.current
  }

  /** The descriptor, for synchronous positioned reads (lookups). */
  get fd(): number {
    return this.handle.fd
  }

  /**
   * Creates a new, empty vault at `path`, which must not exist: written under
   * a temp name beside it and published with link(), so `path` never holds a
   * half-written header and an existing file is never replaced.
   */
  static async create(path: string, params: VaultParams, id: VaultIdentity): Promise<VaultFile> {
    const layout = vaultLayout(params)
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
    const first: VaultProgress = { seq: 0, phase: 'fill', nextNonce: 0, bucketsSorted: 0, counts: new Uint32Array(layout.buckets) }
    try {
      const h = await fsp.open(temp, 'wx', 0o600)
      try {
        await h.write(encodeHeader(params, id), 0, HEADER_PAGE_BYTES, 0)
        const slot = encodeProgress(layout, first)
        await h.write(slot, 0, slot.length, progressSlotOffset(layout, first.seq))
        await h.truncate(layout.buildBytes)
        await h.sync()
      } finally {
        await h.close()
      }
      try {
        await fsp.link(temp, path)
      } catch (err) {
        if (errno(err) === 'EEXIST') throw new Error(`${path} appeared while the vault was being created; not replacing it`)
        throw err
      }
    } finally {
      await fsp.unlink(temp).catch(() => {})
    }
    await syncDir(dirname(path))
    return VaultFile.open(path, true)
  }

  /** Opens an existing vault; VaultFormatError when it is not one or is damaged. */
  static async open(path: string, writable: boolean): Promise<VaultFile> {
    const handle = await fsp.open(path, writable ? 'r+' : 'r')
    try {
      const st = await handle.stat()
      if (!st.isFile()) throw new VaultFormatError('NOT_A_VAULT', `${path} is not a regular file`)
      const page = Buffer.alloc(HEADER_PAGE_BYTES)
      const { bytesRead } = await handle.read(page, 0, page.length, 0)
      const header = decodeHeader(page.subarray(0, bytesRead))
      const layout = vaultLayout(header)
      const slots = Buffer.alloc(2 * layout.slotBytes)
      const got = (await handle.read(slots, 0, slots.length, HEADER_PAGE_BYTES)).bytesRead
      const a = decodeProgress(layout, slots.subarray(0, Math.min(got, layout.slotBytes)))
      const b = got > layout.slotBytes ? decodeProgress(layout, slots.subarray(layout.slotBytes, got)) : null
      const progress = currentProgress(a, b)
      if (progress === null) throw new VaultFormatError('CORRUPT_PROGRESS', 'vault damaged: neither of its two progress records is valid')
      checkSize(st, layout, progress)
      return new VaultFile(path, handle, header, layout, progress, writable)
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  async write(buf: Uint8Array, length: number, position: number): Promise<void> {
    let done = 0
    // A regular file takes the whole write at once; the loop only guards a short one.
    for (let tries = 0; done < length; tries++) {
      if (tries > 100) throw new Error(`${this.path}: writes make no progress at offset ${position + done}`)
      const { bytesWritten } = await this.handle.write(buf, done, length - done, position + done)
      done += bytesWritten
    }
  }

  /** Reads exactly `length` bytes at `position`; an error when the file ends first. */
  async read(buf: Uint8Array, length: number, position: number): Promise<void> {
    let done = 0
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, position + done)
      if (bytesRead === 0) throw new VaultFormatError('WRONG_SIZE', `${this.path} ends at ${position + done}, before ${position + length}`)
      done += bytesRead
    }
  }

  /** The synchronous form of read(), for lookups that take a few tiny reads. */
  readSync(buf: Uint8Array, length: number, position: number): void {
    let done = 0
    while (done < length) {
      const n = readSync(this.handle.fd, buf, done, length - done, position + done)
      if (n === 0) throw new VaultFormatError('WRONG_SIZE', `${this.path} ends at ${position + done}, before ${position + length}`)
      done += n
    }
  }

  async sync(): Promise<void> {
    await this.handle.datasync()
  }

  /** Makes `next` the current progress: written to the other slot and synced; data written before it must be synced already. */
  async commit(next: Omit<VaultProgress, 'seq'>): Promise<void> {
    const p: VaultProgress = { ...next, counts: next.counts.slice(), seq: (this.current.seq + 1) >>> 0 }
    const slot = encodeProgress(this.layout, p)
    await this.write(slot, slot.length, progressSlotOffset(this.layout, p.seq))
    await this.handle.datasync()
    this.current = p
  }

  /** Cuts the spare build region off a vault whose buckets are all sorted. */
  async truncateToFinal(): Promise<void> {
    await this.handle.truncate(this.layout.finalBytes)
    await this.handle.sync()
  }

  async allocatedBytes(): Promise<number> {
    const st = await this.handle.stat()
    return st.blocks * 512
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.handle.close()
  }
}

function checkSize(st: Stats, layout: VaultLayout, p: VaultProgress): void {
  // Once every bucket is sorted the spare region may already be cut off, before 'done' is committed.
  const allSorted = p.phase === 'sort' && p.bucketsSorted === layout.buckets
  const expected = p.phase === 'done' ? layout.finalBytes : layout.buildBytes
  if (st.size === expected || (allSorted && st.size === layout.finalBytes)) return
  throw new VaultFormatError(
    'WRONG_SIZE',
    `vault is ${st.size} bytes; its header (phase ${p.phase}) says ${expected}: truncated or damaged`,
  )
}
