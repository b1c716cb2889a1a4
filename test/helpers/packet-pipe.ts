// An in-memory stand-in for a TUN fd, so the VPN client can be tested without
// root or a network namespace: two connected Duplex streams where every
// write() on one side arrives as exactly one 'data' chunk on the other, the
// way each read() of a TUN returns exactly one packet.
import { Duplex } from 'node:stream'

/** One end of the pipe; the peer is wired up by packetPipe(). */
class PacketEnd extends Duplex {
  peer: PacketEnd | null = null
  /** The peer's write callback, held back while this side's reader is full (backpressure). */
  private blocked: (() => void) | null = null

  constructor() {
    // No _writev and no object mode: Buffer chunks, one _write per write().
    super({ allowHalfOpen: false })
  }

  /** A packet from the peer; false when this side's readable buffer is over its high-water mark. */
  deliver(packet: Buffer, done: () => void): void {
    // A copy, like the kernel's: the writer may reuse its buffer once write() returns.
    if (this.push(Buffer.from(packet))) done()
    else this.blocked = done
  }

  override _read(): void {
    const blocked = this.blocked
    this.blocked = null
    blocked?.()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer
    if (peer === null || peer.destroyed) {
      callback()
      return
    }
    peer.deliver(chunk, () => callback())
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null)
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const blocked = this.blocked
    this.blocked = null
    blocked?.()
    callback(error)
  }
}

/**
 * Two connected ends: give one to the code under test as its TUN and use the
 * other as the kernel (write = a packet the kernel routed into the TUN; 'data'
 * = a packet the program wrote to the TUN). Packet boundaries are kept:
 * reading is only ever done in flowing mode or chunk by chunk, never
 * read(n) that would glue chunks.
 */
export function packetPipe(): [Duplex, Duplex] {
  const a = new PacketEnd()
  const b = new PacketEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

/** Records every packet arriving at the kernel side of a pipe and waits for them. */
export class PacketSink {
  readonly packets: Buffer[] = []
  private waiters: Array<() => void> = []

  constructor(readonly end: Duplex) {
    end.on('data', (packet: Buffer) => {
      this.packets.push(packet)
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  /** Writes one packet into the TUN, as the kernel would. */
  send(packet: Buffer): void {
    this.end.write(packet)
  }

  /** The next packet not yet taken, waiting at most timeoutMs. */
  async next(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const packet = this.packets.shift()
      if (packet !== undefined) return packet
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no packet from the TUN side within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }
}
