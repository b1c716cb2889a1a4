// The network-namespace lab itself: it builds two hosts on a bridge without
// creating anything in the root namespace (not even transiently, watched
// with `ip monitor`), ICMP and a 5 MB TCP stream cross it intact, spawned
// children are the real programs (pid inside the namespace) and get killed,
// and destroy() leaves no namespace behind. Skips without root.
import t from 'tap'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { canRunNetns, NetnsLab } from '../../bench/lib/netns-lab.js'

const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url))
const TCP_STREAM = `${PACKAGE_DIR}dist/bench/tcp-stream.js`
const ICMP_PING = fileURLToPath(new URL('../helpers/icmp_ping.py', import.meta.url))
const PYTHON = process.env.PYTHON ?? 'python3'

function rootLinks(): string[] {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8', timeout: 10_000 })
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!)
    .sort()
}

function netnsList(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 })
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0]!)
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as Record<string, unknown>
}

/** Resolves with the collected text once `pattern` shows up in the stream (bounded). */
function waitForOutput(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms: ${text}`)), timeoutMs)
    child[stream]!.setEncoding('utf8').on('data', (s: string) => {
      text += s
      if (pattern.test(text)) {
        clearTimeout(timer)
        resolve(text)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (!pattern.test(text)) reject(new Error(`exited (${code}) before ${pattern}: ${text}`))
    })
  })
}

const reason = canRunNetns()
if (reason) {
  t.plan(0, reason)
} else {
  t.test('lab between two hosts', async (t) => {
    t.ok(existsSync(TCP_STREAM), `${TCP_STREAM} is built (npx tsc -p tsconfig.json)`)
    const linksBefore = rootLinks()

    // Any root-namespace link event naming a lab interface means something leaked, however briefly.
    const monitor = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let rootEvents = ''
    monitor.stdout.setEncoding('utf8').on('data', (s: string) => (rootEvents += s))
    t.teardown(() => {
      if (monitor.exitCode === null && monitor.signalCode === null) process.kill(monitor.pid!, 'SIGKILL')
    })
    await new Promise((resolve) => setTimeout(resolve, 300))

    const lab = await NetnsLab.create({ hosts: ['a', 'b'] })
    t.teardown(() => lab.destroy())
    t.match(lab.addressOf('a'), /^10\.\d+\.\d+\.10$/)
    t.match(lab.addressOf('b'), /^10\.\d+\.\d+\.11$/)
    t.same(rootLinks(), linksBefore, 'root namespace links unchanged while the lab runs')
    const present = netnsList()
    for (const ns of lab.namespaces) t.ok(present.includes(ns), `${ns} exists`)

    const addr = await lab.exec('a', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'lab0'])
    t.match(addr.stdout, `inet ${lab.addressOf('a')}/24`, 'a has its lab address on lab0')

    const ping = await lab.exec('a', [PYTHON, ICMP_PING, lab.addressOf('b'), '-c', '3', '-i', '0.1'])
    t.equal(ping.code, 0, `ping a -> b: ${ping.stderr}`)
    const pingSummary = lastJson(ping.stdout)
    t.equal(pingSummary.sent, 3)
    t.ok((pingSummary.received as number) >= 1, 'at least one echo reply')

    const nobody = lab.addressOf('a').replace(/\.\d+$/, '.250')
    const unanswered = await lab.exec('a', [PYTHON, ICMP_PING, nobody, '-c', '1', '-W', '0.5'])
    t.equal(unanswered.code, 1, 'no reply from an unused lab address')
    t.equal(lastJson(unanswered.stdout).received, 0)

    const server = lab.spawn('b', [process.execPath, TCP_STREAM, 'server', '--host', lab.addressOf('b'), '--port', '5201', '--once'])
    const serverOut = new Promise<string>((resolve) => {
      let text = ''
      server.stdout!.setEncoding('utf8').on('data', (s: string) => (text += s))
      server.once('close', () => resolve(text))
    })
    await waitForOutput(server, 'stderr', /listening /)
    const client = await lab.exec('a', [
      process.execPath,
      TCP_STREAM,
      'client',
      '--host',
      lab.addressOf('b'),
      '--port',
      '5201',
      '--bytes',
      '5000000',
      '--seed',
      'lab',
    ])
    t.equal(client.code, 0, `client exit: ${client.stderr}`)
    const sent = lastJson(client.stdout)
    const received = lastJson(await serverOut)
    t.equal(server.exitCode, 0, '--once server exits after one connection')
    t.equal(sent.bytes, 5_000_000)
    t.equal(received.bytes, 5_000_000)
    t.match(sent.sha256, /^[0-9a-f]{64}$/)
    t.equal(received.sha256, sent.sha256, 'server read exactly what the client sent')

    // The pid we hold must be the program inside the namespace, not a wrapper.
    const sleeper = lab.spawn('a', ['sleep', '60'], { stdio: 'ignore' })
    const pids = execFileSync('ip', ['netns', 'pids', lab.nsName('a')], { encoding: 'utf8' }).split(/\s+/)
    t.ok(pids.includes(String(sleeper.pid)), 'spawned pid lives in the namespace')
    const stopped = await lab.kill(sleeper)
    t.equal(stopped.signal, 'SIGTERM', 'kill() waited for the exit')

    const lingering = lab.spawn('b', ['sleep', '60'], { stdio: 'ignore' })
    const names = lab.namespaces
    t.same(await lab.destroy(), [], 'destroy reports no errors')
    t.ok(lingering.exitCode !== null || lingering.signalCode !== null, 'destroy killed the child still running')
    const after = netnsList()
    for (const ns of names) t.notOk(after.includes(ns), `${ns} deleted`)
    t.same(await lab.destroy(), [], 'destroy is idempotent')
    t.same(rootLinks(), linksBefore, 'root namespace links unchanged after destroy')

    await new Promise((resolve) => setTimeout(resolve, 200))
    const leaked = rootEvents.split('\n').filter((l) => /\b(lab0|br0|v\d+)\b/.test(l))
    t.same(leaked, [], 'no lab interface ever appeared in the root namespace')
  })
}
