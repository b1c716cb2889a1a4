// BkcNode.start given up part-way (a signal while it starts): it undoes what
// it did — ports closed, store closed, the data directory it created gone —
// and rejects with the signal's reason, not some other error.
import { existsSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import winston from 'winston'
import { BkcNode } from '../../../node/node.js'
import { tempDir, testNetwork } from '../../../bench/lib/fixtures.js'

const network = testNetwork({ bits: 8 })

/** A logger that calls `onMessage` for every message it logs. */
function watchingLogger(onMessage: (message: string, meta: Record<string, unknown>) => void): winston.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const entry = JSON.parse(chunk.toString('utf8')) as { message: string } & Record<string, unknown>
      onMessage(entry.message, entry)
      done()
    },
  })
  return winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] })
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

t.test('a signal aborted before start: nothing is left and start rejects with its reason', async (t) => {
  const tmp = tempDir('bkc-start-')
  t.teardown(tmp.cleanup)
  const dataDir = join(tmp.path, 'fresh', 'data')
  const controller = new AbortController()
  const reason = new Error('stopped by SIGINT')
  controller.abort(reason)
  const started = BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir,
    network,
    logger: watchingLogger(() => {}),
    signal: controller.signal,
  })
  await t.rejects(started, reason)
  t.notOk(existsSync(join(tmp.path, 'fresh')), 'the directories it created are gone')
})

t.test('a signal once P2P listens: the listener closes again, the new data dir goes, start rejects with the reason', async (t) => {
  const tmp = tempDir('bkc-start-')
  t.teardown(tmp.cleanup)
  const dataDir = join(tmp.path, 'data')
  const controller = new AbortController()
  const reason = new Error('stopped by SIGTERM')
  let listening: string | null = null
  const logger = watchingLogger((message, meta) => {
    if (message !== 'P2P listening') return
    listening = String(meta.address)
    controller.abort(reason)
  })
  await t.rejects(BkcNode.start({ listen: '127.0.0.1', port: 0, rpcPort: 0, dataDir, network, logger, signal: controller.signal }), reason)
  t.ok(listening, 'it got as far as listening')
  const [host, port] = listening!.split(':')
  t.equal(await connects(host!, Number(port)), false, 'nothing listens on its P2P port any more')
  t.notOk(existsSync(dataDir), 'the data directory it created is gone')
})

t.test('a data directory that existed stays when a start is given up', async (t) => {
  const tmp = tempDir('bkc-start-')
  t.teardown(tmp.cleanup)
  const controller = new AbortController()
  const logger = watchingLogger((message) => {
    if (message === 'P2P listening') controller.abort(new Error('stop'))
  })
  await t.rejects(
    BkcNode.start({ listen: '127.0.0.1', port: 0, rpcPort: 0, dataDir: tmp.path, network, logger, signal: controller.signal }),
  )
  t.ok(existsSync(join(tmp.path, 'chain')), 'its store is still there')
  const again = await BkcNode.start({
    listen: '127.0.0.1',
    port: 0,
    rpcPort: 0,
    dataDir: tmp.path,
    network,
    logger: watchingLogger(() => {}),
  })
  t.equal(again.chain.tip.height, 0, 'and opens again')
  await again.stop()
})
