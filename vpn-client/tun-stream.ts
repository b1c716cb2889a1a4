// Reads and writes a TUN fd through libuv's event loop, as a net.Socket.
//
// net.Socket({ fd }) refuses a character device (ERR_INVALID_FD_TYPE) and
// fs streams read in the thread pool, where a blocked read on the TUN keeps
// the process from exiting. A libuv pipe handle polls the non-blocking fd
// instead: each read() returns exactly one packet, and closing the handle
// closes the fd, which removes the interface; it is also much faster than the
// thread-pool path (bench/tunnel.ts measures the tunnel).
import { writeSync } from 'node:fs'
import net from 'node:net'

interface PipeWrapBinding {
  Pipe: new (type: number) => { open(fd: number): number }
  constants: { SOCKET: number }
}

/**
 * A duplex stream over the TUN fd: one 'data' chunk per packet; one write
 * per packet. A packet the kernel refuses (EINVAL for a bad virtio header,
 * EIO while the link is down) is dropped and reported to `onWriteError`: a
 * stream write error would destroy the socket, close the fd and remove the
 * interface, all for one bad packet.
 */
export function tunStream(fd: number, onWriteError: (err: NodeJS.ErrnoException) => void = () => {}): net.Socket {
  // process.binding is deprecated for general use, but pipe_wrap is on its
  // allow-list and is the only public-ish way to wrap an arbitrary pollable fd.
  const { Pipe, constants } = (process as unknown as { binding(name: string): PipeWrapBinding }).binding('pipe_wrap')
  const handle = new Pipe(constants.SOCKET)
  const status = handle.open(fd)
  if (status !== 0) throw new Error(`cannot poll the TUN fd ${fd} (libuv status ${status})`)
  const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts)
  // writev would glue several packets into one write(): the TUN takes one packet per write.
  ;(socket as unknown as { _writev: unknown })._writev = null
  // Written at once, not through libuv's queue: a TUN write does not block
  // (the kernel queues or drops), and each packet gets its own error.
  ;(socket as unknown as { _write: unknown })._write = (chunk: Buffer, _enc: string, cb: (err?: Error | null) => void): void => {
    try {
      writeSync(fd, chunk)
    } catch (err) {
      onWriteError(err as NodeJS.ErrnoException)
    }
    cb()
  }
  return socket
}
