// A tiny iperf: one side streams deterministic pseudo-random bytes over TCP,
// the other reads everything, and both print {bytes, seconds, mbps, sha256}
// as a JSON line, so a test can prove a transfer arrived intact by comparing
// digests and a benchmark can read throughput. The stream is AES-256-CTR
// keystream under sha256(seed): incompressible, reproducible from the seed,
// and cheap enough that generating it never limits the link being measured.
//
//   node dist/bench/tcp-stream.js server --host IP --port P [--once] [--max-seconds 60]
//   node dist/bench/tcp-stream.js client --host IP --port P (--bytes N | --seconds S) [--seed X] [--max-seconds 60]
//
// --bytes takes an integer with an optional k/M/G (10^3) or Ki/Mi/Gi (2^10)
// suffix. The server writes "listening HOST:PORT" to stderr once ready
// (--port 0 picks a free port). Every run is bounded by --max-seconds.
import { createCipheriv, createHash, type Hash } from 'node:crypto'
import net from 'node:net'

const CHUNK = 64 * 1024

interface Flags {
  mode: 'server' | 'client'
  host: string
  port: number
  once: boolean
  bytes?: number
  seconds?: number
  seed: string
  maxSeconds: number
}

function fail(message: string): never {
  process.stderr.write(`tcp-stream: ${message}\n`)
  process.exit(2)
}

function parseBytes(text: string): number {
  const m = /^(\d+)(k|m|g|ki|mi|gi)?b?$/i.exec(text)
  if (!m) fail(`--bytes wants an integer with optional k/M/G/Ki/Mi/Gi suffix, got '${text}'`)
  const unit = (m[2] ?? '').toLowerCase()
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30 }[unit]!
  const n = Number(m[1]) * scale
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--bytes out of range: '${text}'`)
  return n
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) fail(`${flag} wants a positive number, got '${text}'`)
  return n
}

function parseArgs(argv: string[]): Flags {
  const [mode, ...rest] = argv
  if (mode !== 'server' && mode !== 'client') fail(`first argument must be 'server' or 'client', got '${mode ?? ''}'`)
  const flags: Flags = { mode, host: '', port: -1, once: false, seed: 'bkc', maxSeconds: 60 }
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!
    if (flag === '--once') {
      flags.once = true
      continue
    }
    const value = rest[++i]
    if (value === undefined) fail(`${flag} needs a value`)
    if (flag === '--host') flags.host = value
    else if (flag === '--port') flags.port = Number(value)
    else if (flag === '--bytes') flags.bytes = parseBytes(value)
    else if (flag === '--seconds') flags.seconds = positiveNumber(flag, value)
    else if (flag === '--seed') flags.seed = value
    else if (flag === '--max-seconds') flags.maxSeconds = positiveNumber(flag, value)
    else fail(`unknown flag '${flag}'`)
  }
  if (!flags.host) fail('--host is required')
  if (!Number.isInteger(flags.port) || flags.port < 0 || flags.port > 65535) fail('--port must be 0..65535')
  if (mode === 'client') {
    if (flags.port === 0) fail('the client needs a real --port')
    if ((flags.bytes === undefined) === (flags.seconds === undefined)) fail('the client needs exactly one of --bytes or --seconds')
    if (flags.seconds !== undefined && flags.seconds >= flags.maxSeconds) fail('--seconds must be below --max-seconds')
  } else if (flags.bytes !== undefined || flags.seconds !== undefined) {
    fail('--bytes and --seconds are client flags')
  }
  return flags
}

function report(bytes: number, startedNs: bigint, hash: Hash): void {
  const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9
  const mbps = seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0
  const line = { bytes, seconds: Number(seconds.toFixed(6)), mbps: Number(mbps.toFixed(3)), sha256: hash.digest('hex') }
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function runServer(flags: Flags): void {
  let active = 0
  const server = net.createServer((sock) => {
    active++
    const started = process.hrtime.bigint()
    const hash = createHash('sha256')
    let bytes = 0
    sock.on('data', (b: Buffer) => {
      bytes += b.length
      hash.update(b)
    })
    sock.on('error', (err) => process.stderr.write(`tcp-stream: connection error: ${err.message}\n`))
    sock.on('end', () => report(bytes, started, hash))
    sock.on('close', () => {
      active--
      if (flags.once) server.close(() => process.exit(0))
    })
  })
  if (flags.once) server.maxConnections = 1
  server.on('error', (err) => {
    process.stderr.write(`tcp-stream: cannot listen on ${flags.host}:${flags.port}: ${err.message}\n`)
    process.exit(1)
  })
  server.listen(flags.port, flags.host, () => {
    const addr = server.address() as net.AddressInfo
    process.stderr.write(`listening ${addr.address}:${addr.port}\n`)
  })
  setTimeout(() => {
    const idle = active === 0 && !flags.once
    process.stderr.write(`tcp-stream: --max-seconds ${flags.maxSeconds} reached${active ? ` with ${active} connection(s) open` : ''}\n`)
    process.exit(idle ? 0 : 1)
  }, flags.maxSeconds * 1000).unref()
}

function runClient(flags: Flags): void {
  const key = createHash('sha256').update(`tcp-stream:${flags.seed}`).digest()
  const keystream = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(CHUNK)
  const hash = createHash('sha256')
  let sent = 0
  let started = process.hrtime.bigint()
  const sock = net.connect({ host: flags.host, port: flags.port })
  const timer = setTimeout(() => {
    process.stderr.write(`tcp-stream: --max-seconds ${flags.maxSeconds} reached after ${sent} bytes\n`)
    process.exit(1)
  }, flags.maxSeconds * 1000)
  timer.unref()

  const more = (): boolean => {
    if (flags.bytes !== undefined) return sent < flags.bytes
    return Number(process.hrtime.bigint() - started) / 1e9 < flags.seconds!
  }
  const pump = (): void => {
    while (more()) {
      let chunk = keystream.update(zeros)
      if (flags.bytes !== undefined && sent + chunk.length > flags.bytes) chunk = chunk.subarray(0, flags.bytes - sent)
      hash.update(chunk)
      sent += chunk.length
      if (!sock.write(chunk)) {
        sock.once('drain', pump)
        return
      }
    }
    sock.end()
  }
  sock.on('connect', () => {
    started = process.hrtime.bigint()
    pump()
  })
  sock.on('data', () => {}) // the server never talks back; keep the socket flowing so 'end' arrives
  sock.on('error', (err) => {
    process.stderr.write(`tcp-stream: connection to ${flags.host}:${flags.port} failed: ${err.message}\n`)
    process.exit(1)
  })
  // 'close' after the server's FIN: it has read everything we sent.
  sock.on('close', (hadError) => {
    if (hadError) return
    clearTimeout(timer)
    report(sent, started, hash)
  })
}

const flags = parseArgs(process.argv.slice(2))
if (flags.mode === 'server') runServer(flags)
else runClient(flags)
