// Misbehaving connections against a real node, from a raw TCP client bound
// to its own loopback source address: garbage, an oversized frame header, a
// message before HELLO, a wrong genesis, a second HELLO. Each offender is
// dropped (and, except for the honest mistake of a wrong genesis,
// discouraged: its address is refused at once afterwards) while an honest
// peer stays connected and keeps receiving blocks. Then the limits: a full
// node refuses another inbound with TOO_MANY_PEERS, and a peer that never
// answers PING (or never says HELLO) is dropped.
import t from 'tap'
import { encodeFrame, FRAME_HEADER_BYTES } from '../../protocol/wire/frame.js'
import { MAX_P2P_PAYLOAD_BYTES, MESSAGE_TYPES } from '../../protocol/chain/messages.js'
import { generateKeyPair } from '../../protocol/chain/keys.js'
import type { CloseInfo } from '../../node/p2p/peer.js'
import { mine } from '../../bench/lib/fixtures.js'
import { tipRef, waitFor } from '../helpers/node-fixtures.js'
import { handshaken, helloFor, rawHost, RawPeer, startNet, waitPeers, type TestNet } from '../helpers/net-fixtures.js'

/** Every connection node 0 closed: the remote host and why. */
function recordCloses(tn: TestNet): Array<{ host: string; info: CloseInfo }> {
  const out: Array<{ host: string; info: CloseInfo }> = []
  tn.at(0).node.connman!.on('closed', (peer, info) => out.push({ host: peer.address.host, info }))
  return out
}

function connectTo(tn: TestNet, i: number, localAddress: string): Promise<RawPeer> {
  const { host, port } = tn.at(i).p2p
  return RawPeer.connect({ host, port, localAddress, magic: tn.network.magic })
}

t.test('offenders are dropped and discouraged while an honest peer keeps being served', async (t) => {
  const tn = await startNet(t, 2)
  const [n0, n1] = [tn.at(0).node, tn.at(1).node]
  await waitPeers([n0, n1], 1)
  const honest = n0.connman!.ready().find((p) => p.hello?.listenHost === tn.at(1).host)!
  t.ok(honest, 'node 0 has node 1 as a peer')
  const closes = recordCloses(tn)
  const miner = generateKeyPair().address

  /** Node 1 gets a new block; node 0 must receive it over the same, still open, connection. */
  const honestStillServed = async (label: string): Promise<void> => {
    const block = mine(tn.network, tipRef(n1.chain), { miner })
    const r = await n1.chain.submitBlock(block)
    t.equal(r.status, 'connected', `${label}: node 1 takes a new block`)
    await waitFor(`${label}: the block to reach node 0`, () => n0.chain.tip.hash === r.hash)
    t.equal(honest.state, 'ready', `${label}: the honest peer is still connected`)
    t.ok(n0.connman!.ready().includes(honest), `${label}: same connection, never dropped`)
  }

  /** A new connection from `source` is closed at once, before the node says anything (no HELLO). */
  const refusedAtOnce = async (label: string, source: string): Promise<void> => {
    const probe = await connectTo(tn, 0, source).catch(() => null)
    if (probe === null) return void t.pass(`${label}: the connection from ${source} is refused`)
    await probe.waitClosed(5000)
    t.equal(probe.bytesReceived, 0, `${label}: a new connection from ${source} is closed at once, without a HELLO`)
  }

  /** The node greets a connection from `source` with its HELLO: not discouraged. */
  const stillWelcome = async (label: string, source: string): Promise<void> => {
    const probe = await connectTo(tn, 0, source)
    const hello = await probe.next('HELLO')
    t.ok(hello.genesis.equals(tn.network.genesisHash), `${label}: a new connection from ${source} is greeted with HELLO`)
    probe.destroy()
  }

  const closeOf = async (source: string): Promise<CloseInfo> =>
    (await waitFor(`node 0 to log the close of ${source}`, () => closes.find((c) => c.host === source))).info

  await t.test('(a) garbage bytes', async (t) => {
    const source = rawHost(1)
    const raw = await connectTo(tn, 0, source)
    raw.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(64, 0xab)]))
    await raw.waitClosed()
    t.pass('the node closed the socket')
    const info = await closeOf(source)
    t.equal(info.misbehaving, true, 'counted as misbehaviour')
    t.match(info.reason, /BAD_MAGIC/, 'reason names the bad magic')
    await refusedAtOnce('(a)', source)
    await honestStillServed('(a)')
  })

  await t.test('(b) a frame header announcing more than 8 MiB', async (t) => {
    const source = rawHost(2)
    const raw = await connectTo(tn, 0, source)
    // A real header (magic, type, flags) whose length field then claims 8 MiB + 1.
    const header = encodeFrame(tn.network.magic, MESSAGE_TYPES.BLOCKS, Buffer.alloc(0))
    header.writeUInt32BE(MAX_P2P_PAYLOAD_BYTES + 1, 6)
    t.equal(header.length, FRAME_HEADER_BYTES, 'a bare 14-byte header')
    raw.write(header) // and no payload at all: the header alone must be enough
    await raw.waitClosed()
    t.pass('closed on the header alone, before any payload was sent')
    const info = await closeOf(source)
    t.equal(info.misbehaving, true, 'counted as misbehaviour')
    t.match(info.reason, /FRAME_TOO_LARGE/, 'reason names the oversized frame')
    await refusedAtOnce('(b)', source)
    await honestStillServed('(b)')
  })

  await t.test('(c) a valid PING before HELLO', async (t) => {
    const source = rawHost(3)
    const raw = await connectTo(tn, 0, source)
    raw.send({ type: 'PING', nonce: 42 })
    await raw.waitClosed()
    t.pass('closed')
    t.notOk(
      raw.received.some((m) => m.type === 'PONG'),
      'no PONG for a PING before the handshake',
    )
    const disconnect = raw.received.find((m) => m.type === 'DISCONNECT')
    if (disconnect) t.equal(disconnect.code, 'PROTOCOL', 'the DISCONNECT says PROTOCOL')
    const info = await closeOf(source)
    t.equal(info.misbehaving, true, 'counted as misbehaviour')
    t.match(info.reason, /PING before the handshake/, 'reason names the early PING')
    await refusedAtOnce('(c)', source)
    await honestStillServed('(c)')
  })

  await t.test('(d) a HELLO with a wrong genesis', async (t) => {
    const source = rawHost(4)
    const raw = await connectTo(tn, 0, source)
    raw.send(helloFor(tn.network, { genesis: Buffer.alloc(32, 7) }))
    const d = await raw.next('DISCONNECT')
    t.equal(d.code, 'WRONG_GENESIS', 'DISCONNECT with code WRONG_GENESIS')
    await raw.waitClosed()
    t.pass('then closed')
    t.equal(raw.received.filter((m) => m.type !== 'HELLO' && m.type !== 'DISCONNECT').length, 0, 'nothing else was sent')
    const info = await closeOf(source)
    t.equal(info.misbehaving, false, 'another network is no misbehaviour')
    await stillWelcome('(d)', source)
    await honestStillServed('(d)')
  })

  await t.test('(e) a second HELLO after a good one', async (t) => {
    const source = rawHost(5)
    const raw = await handshaken(tn, 0, source)
    t.ok(
      n0.connman!.ready().some((p) => p.address.host === source),
      'the first HELLO made it a READY peer',
    )
    raw.send(helloFor(tn.network))
    await raw.waitClosed()
    t.pass('closed')
    t.equal(raw.received.find((m) => m.type === 'DISCONNECT')?.code, 'PROTOCOL', 'told why: PROTOCOL')
    const info = await closeOf(source)
    t.equal(info.misbehaving, true, 'counted as misbehaviour')
    t.match(info.reason, /second HELLO/, 'reason names the second HELLO')
    await refusedAtOnce('(e)', source)
    await honestStillServed('(e)')
  })

  t.equal(n0.net!.stats.blocksReceived, 5, 'node 0 received exactly the five blocks node 1 relayed')
  t.equal(n0.net!.stats.blocksRepeatedByPeer, 0, 'none of them twice')
})

t.test('a node with maxPeers 3 refuses a 4th inbound with TOO_MANY_PEERS, and takes one again when a slot frees', async (t) => {
  const tn = await startNet(t, 1, { maxPeers: 3, maxOutbound: 0, timeouts: { helloMs: 3000, pingIntervalMs: 60_000, pongMs: 60_000 } })
  const node = tn.at(0).node
  const peers = [await handshaken(tn, 0, rawHost(11)), await handshaken(tn, 0, rawHost(12)), await handshaken(tn, 0, rawHost(13))]
  t.equal(node.connman!.ready().length, 3, 'three inbound peers are READY')

  const fourth = await connectTo(tn, 0, rawHost(14))
  const d = await fourth.next('DISCONNECT')
  t.equal(d.code, 'TOO_MANY_PEERS', 'the 4th is told TOO_MANY_PEERS')
  await fourth.waitClosed()
  t.notOk(
    fourth.received.some((m) => m.type === 'ADDR' || m.type === 'PING'),
    'and is never treated as a peer',
  )
  t.equal(node.connman!.ready().length, 3, 'the three stay')
  for (const p of peers) t.notOk(p.closed, 'an accepted peer is still connected')

  peers[0]!.destroy()
  await waitFor('the freed slot', () => node.connman!.all().length === 2)
  const again = await handshaken(tn, 0, rawHost(14))
  t.notOk(
    again.received.some((m) => m.type === 'DISCONNECT'),
    'the same source is accepted once a slot is free (refusal is no misbehaviour)',
  )
  t.equal(node.connman!.ready().length, 3, 'three READY again')
  for (const p of [...peers, again]) p.destroy()
})

t.test(
  'a peer that never answers PING is dropped after pongMs; one that answers stays; one that never says HELLO is dropped',
  async (t) => {
    const timeouts = { helloMs: 800, pingIntervalMs: 200, pongMs: 600 }
    const tn = await startNet(t, 1, { timeouts })
    const node = tn.at(0).node

    const live = await handshaken(tn, 0, rawHost(21))
    live.answerPings()
    const silent = await handshaken(tn, 0, rawHost(22))
    t.equal(node.connman!.ready().length, 2, 'both raw peers are READY')

    const ping = await silent.next('PING')
    t.ok(ping.nonce >= 0, 'the node PINGs the silent peer')
    await silent.waitClosed(10_000)
    t.pass('the silent peer was dropped')
    t.notOk(live.closed, 'the peer that answers PING is still connected')
    t.ok(live.received.filter((m) => m.type === 'PING').length >= 2, 'and has been pinged more than once')
    const livePeer = node.connman!.ready().find((p) => p.address.host === rawHost(21))
    t.ok(livePeer, 'still READY on the node')
    await waitFor('an RTT measurement', () => livePeer!.rttMs !== null)
    t.ok(livePeer!.rttMs! >= 0, 'getPeers has an RTT for it')

    const mute = await connectTo(tn, 0, rawHost(23))
    await mute.next('HELLO')
    await mute.waitClosed(10_000)
    t.pass('a connection that never sends HELLO is dropped')
    live.destroy()
  },
)
