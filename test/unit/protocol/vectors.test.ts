// Checks every ```vector block in docs/PROTOCOL.md against the code.
// Each `kind` has a handler below; a vector of an unknown kind fails, so a new
// kind of vector in the doc needs a handler here (e.g. `tx`, `block`).

import t from 'tap'
import { readFileSync } from 'node:fs'
import { FrameDecoder } from '../../../protocol/wire/frame.js'
import { ProtocolError } from '../../../protocol/wire/errors.js'
import { encodeMessage, p2pCatalogue, tryDecodeMessage, MAX_P2P_PAYLOAD_BYTES, MESSAGE_TYPES } from '../../../protocol/chain/messages.js'
import { toHex, fromHex } from '../../../protocol/wire/bytes.js'
import { decodeTx, encodeTx, txId, txSigningMessage } from '../../../protocol/chain/tx-codec.js'
import { blockHash, decodeBlock, encodeBlock, encodeHeader, headerLength } from '../../../protocol/chain/block-codec.js'
import { merkleRoot } from '../../../protocol/chain/merkle.js'
import { sign, verify } from '../../../protocol/chain/keys.js'
import { loadNetworkFile, rulesDigest } from '../../../node/chain/params.js'
import {
  createTunnelFrameDecoder,
  decodeTunnelFrame,
  encodeTunnelFrame,
  tryDecodeTunnelFrame,
  TUNNEL_MESSAGE_TYPES,
} from '../../../protocol/tunnel/messages.js'
import { TunnelKeyPair } from '../../../protocol/tunnel/crypto.js'
import { ClientHandshake, ServerHandshake } from '../../../protocol/tunnel/handshake.js'
import type { Frame } from '../../../protocol/wire/frame.js'

const DOC_URL = new URL('../../../docs/PROTOCOL.md', import.meta.url)

interface Vector {
  kind: string
  /** 1-based line of the opening fence, for failure messages. */
  line: number
  fields: Map<string, string>
}

/** Fenced blocks with info string `vector`, honouring fence length so examples nested in longer fences are skipped. */
function extractVectors(markdown: string): Vector[] {
  const vectors: Vector[] = []
  const lines = markdown.split('\n')
  let fence: { marker: string; info: string; line: number; body: string[] } | null = null
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (fence === null) {
      const open = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/.exec(line)
      if (open) fence = { marker: open[1]!, info: open[2]!, line: i + 1, body: [] }
      return
    }
    const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line)
    if (close && close[1]![0] === fence.marker[0] && close[1]!.length >= fence.marker.length) {
      if (fence.info === 'vector') vectors.push(parseVector(fence.body, fence.line))
      fence = null
      return
    }
    fence.body.push(line)
  })
  return vectors
}

/** `key: value` lines; indented lines continue the previous value. */
function parseVector(body: string[], line: number): Vector {
  const fields = new Map<string, string>()
  let current: string | null = null
  for (const text of body) {
    const field = /^([a-z][a-z-]*):\s?(.*)$/.exec(text)
    if (field) {
      current = field[1]!
      if (fields.has(current)) throw new Error(`PROTOCOL.md:${line}: duplicate key ${current}`)
      fields.set(current, field[2]!)
    } else if (/^\s/.test(text) && current !== null) {
      fields.set(current, `${fields.get(current)!}\n${text.trim()}`)
    } else if (text.trim() !== '') {
      throw new Error(`PROTOCOL.md:${line}: cannot parse vector line ${JSON.stringify(text)}`)
    }
  }
  return { kind: fields.get('kind') ?? '(missing kind)', line, fields }
}

type Asserts = Pick<typeof t, 'ok' | 'notOk' | 'equal' | 'same' | 'strictSame' | 'fail' | 'throws' | 'doesNotThrow'>

/** Returns the named fields, failing the test when one is missing or an unexpected one is present. */
function take(t: Asserts, v: Vector, keys: readonly string[]): Record<string, string> | null {
  const allowed = new Set(['kind', 'name', ...keys])
  const unexpected = [...v.fields.keys()].filter((k) => !allowed.has(k))
  const missing = ['name', ...keys].filter((k) => !v.fields.has(k))
  if (unexpected.length > 0 || missing.length > 0) {
    t.fail(`vector at PROTOCOL.md:${v.line}: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`)
    return null
  }
  return Object.fromEntries(keys.map((k) => [k, v.fields.get(k)!]))
}

function parseMagic(t: Asserts, text: string): number | null {
  if (!/^0x[0-9a-f]{8}$/.test(text)) {
    t.fail(`magic must be 0x + 8 lower-case hex digits, got ${text}`)
    return null
  }
  return Number.parseInt(text.slice(2), 16)
}

function parseHex(t: Asserts, text: string): Buffer | null {
  const bytes = fromHex(text.replace(/\s+/g, ''))
  if (bytes === null) t.fail('hex is not hex of whole bytes')
  return bytes
}

/** The JSON form used in the doc: byte strings as "0x…" hex. */
function toVectorJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return `0x${toHex(value)}`
  if (Array.isArray(value)) return value.map(toVectorJson)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toVectorJson(v)]))
  }
  return value
}

/** Like take(), with some fields allowed to be absent. */
function takeWithOptional(
  t: Asserts,
  v: Vector,
  keys: readonly string[],
  optional: readonly string[],
): Record<string, string | undefined> | null {
  const present = optional.filter((k) => v.fields.has(k))
  const f = take(t, v, [...keys, ...present])
  return f === null ? null : { ...f }
}

const handlers: Record<string, (t: Asserts, v: Vector) => void> = {
  tx(t, v) {
    const f = take(t, v, ['network', 'private-key', 'hex', 'signing-message', 'id', 'value'])
    if (f === null) return
    const bytes = parseHex(t, f.hex!)
    const message = parseHex(t, f['signing-message']!)
    const key = parseHex(t, f['private-key']!)
    if (bytes === null || message === null || key === null) return
    const tx = decodeTx(bytes)
    t.same(toVectorJson(tx), JSON.parse(f.value!), 'decodes to value')
    t.equal(toHex(encodeTx(tx)), toHex(bytes), 're-encodes byte for byte')
    t.equal(toHex(txId(tx)), f.id, 'id = sha256 of the canonical bytes')
    t.equal(toHex(txSigningMessage(f.network!, tx)), toHex(message), 'signing message')
    t.ok(verify(tx.from, message, tx.signature), 'the signature verifies')
    t.equal(toHex(sign(key, message)), toHex(tx.signature), 'RFC 6979 signing reproduces the signature')
    t.notOk(verify(tx.from, txSigningMessage(`${f.network!}-other`, tx), tx.signature), 'not valid on another network')
  },

  block(t, v) {
    const f = takeWithOptional(t, v, ['hex', 'hash', 'header', 'txs'], ['network-file'])
    if (f === null) return
    const bytes = parseHex(t, f.hex!)
    if (bytes === null) return
    const block = decodeBlock(bytes)
    // Strict: every field, with its JSON type; the proof as "0x…" hex of its bytes.
    t.strictSame(toVectorJson(block.header), JSON.parse(f.header!), 'header decodes to value')
    t.equal(headerLength(bytes), encodeHeader(block.header).length, 'the proof length gives the header length')
    t.equal(block.txs.length, Number(f.txs), 'transaction count')
    t.equal(toHex(encodeBlock(block)), toHex(bytes), 're-encodes byte for byte')
    t.equal(toHex(blockHash(block.header)), f.hash, 'hash = sha256 of the header')
    t.equal(toHex(merkleRoot(block.txs.map(txId))), toHex(block.header.txRoot), 'txRoot matches the transactions')
    if (f['network-file'] !== undefined) {
      const net = loadNetworkFile(new URL(`../../../${f['network-file']}`, import.meta.url).pathname)
      t.equal(toHex(net.genesisHash), f.hash, `${f['network-file']} builds this genesis`)
      t.equal(toHex(encodeBlock(net.genesis)), toHex(bytes), 'byte for byte')
      t.equal(toHex(block.header.prevHash), toHex(rulesDigest(net.networkId, net.consensus)), 'the genesis prevHash commits to the rules')
    }
  },

  'slot-block'(t, v) {
    const f = take(t, v, ['hex', 'hash', 'network-file', 'record', 'distance'])
    if (f === null) return
    const bytes = parseHex(t, f.hex!)
    if (bytes === null) return
    const net = loadNetworkFile(new URL(`../../../${f['network-file']}`, import.meta.url).pathname)
    const block = decodeBlock(bytes)
    t.equal(toHex(encodeBlock(block)), toHex(bytes), 're-encodes byte for byte')
    t.equal(toHex(net.engine.checkProof(block.header)), f.hash, 'the proof and signature check, and give the hash')
    const genesis = net.genesis.header
    const parent = {
      hash: toHex(net.genesisHash),
      height: 0,
      timestamp: genesis.timestamp,
      target: genesis.target,
      proofType: genesis.proofType,
      seed: net.engine.seed(genesis),
    }
    t.doesNotThrow(() => net.engine.checkContext(block.header, parent, null), "the challenge is slot 1's on this genesis")
    t.same(toHex(block.header.target), toHex(net.engine.nextTarget(parent)), "the target is block 1's")
    const proof = net.engine.describeProof(block.header)
    t.equal(proof.record, f.record, 'record')
    t.equal(proof.distance, f.distance, 'distance')
    for (let i = 0; i < block.header.proof.length; i += 7) {
      const bad = Buffer.from(block.header.proof)
      bad[i]! ^= 1
      t.throws(() => net.engine.checkProof({ ...block.header, proof: bad }), `a flipped proof byte ${i} is refused`)
    }
  },

  frame(t, v) {
    const f = take(t, v, ['magic', 'hex', 'value'])
    if (f === null) return
    const magic = parseMagic(t, f.magic!)
    const bytes = parseHex(t, f.hex!)
    if (magic === null || bytes === null) return
    const decoder = new FrameDecoder({ magic, maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES })
    const frames = decoder.push(bytes)
    t.equal(frames.length, 1, 'exactly one frame')
    t.equal(decoder.bufferedBytes, 0, 'no bytes left over')
    const message = p2pCatalogue.decode(frames[0]!)
    t.same(toVectorJson(message), JSON.parse(f.value!), 'decodes to value')
    t.equal(message.type, v.fields.get('name'), 'name is the message type')
    t.equal(toHex(encodeMessage(magic, message)), toHex(bytes), 're-encodes byte for byte')
  },

  'frame-error'(t, v) {
    const f = take(t, v, ['magic', 'hex', 'error'])
    if (f === null) return
    const magic = parseMagic(t, f.magic!)
    const bytes = parseHex(t, f.hex!)
    if (magic === null || bytes === null) return
    let failure: ProtocolError | null = null
    try {
      const frames = new FrameDecoder({ magic, maxPayloadBytes: MAX_P2P_PAYLOAD_BYTES }).push(bytes)
      t.equal(frames.length, 1, 'the frame layer passes exactly one frame to the message layer')
      const result = frames.length === 1 ? tryDecodeMessage(frames[0]!) : null
      if (result && !result.ok) failure = result.error
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
      failure = error
    }
    t.equal(failure?.code, f.error, failure ? failure.message : 'expected an error')
  },

  'tunnel-frame'(t, v) {
    const f = take(t, v, ['hex', 'value'])
    if (f === null) return
    const bytes = parseHex(t, f.hex!)
    if (bytes === null) return
    const decoder = createTunnelFrameDecoder()
    const frames = decoder.push(bytes)
    t.equal(frames.length, 1, 'exactly one frame')
    t.equal(decoder.bufferedBytes, 0, 'no bytes left over')
    const message = decodeTunnelFrame(frames[0]!)
    t.same(toVectorJson(message), JSON.parse(f.value!), 'decodes to value')
    t.equal(message.type, v.fields.get('name'), 'name is the message type')
    t.equal(toHex(encodeTunnelFrame(message)), toHex(bytes), 're-encodes byte for byte')
  },

  'tunnel-frame-error'(t, v) {
    const f = take(t, v, ['hex', 'error'])
    if (f === null) return
    const bytes = parseHex(t, f.hex!)
    if (bytes === null) return
    let failure: ProtocolError | null = null
    try {
      const frames = createTunnelFrameDecoder().push(bytes)
      t.equal(frames.length, 1, 'the frame layer passes exactly one frame to the message layer')
      const result = frames.length === 1 ? tryDecodeTunnelFrame(frames[0]!) : null
      if (result && !result.ok) failure = result.error
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
      failure = error
    }
    t.equal(failure?.code, f.error, failure ? failure.message : 'expected an error')
  },

  'tunnel-handshake'(t, v) {
    const f = take(t, v, [
      'client-static',
      'client-ephemeral',
      'server-static',
      'server-ephemeral',
      'auth',
      'client-hello',
      'server-hello',
      'transcript',
      'auth-key',
      'client-to-server',
      'server-to-client',
      'secret-proof',
      'auth-frame',
      'welcome',
      'welcome-frame',
      'packet',
      'packet-frame',
      'keepalive-frame',
    ])
    if (f === null) return
    const key = (name: string): TunnelKeyPair => TunnelKeyPair.fromPrivateKey(parseHex(t, f[name]!) ?? Buffer.alloc(32))
    const frameOf = (name: string): Frame => {
      const frames = createTunnelFrameDecoder().push(parseHex(t, f[name]!) ?? Buffer.alloc(0))
      t.equal(frames.length, 1, `${name} is one frame`)
      return frames[0]!
    }
    const auth = JSON.parse(f.auth!) as { ip: string; mtu: number; secret?: string }

    const client = new ClientHandshake({ staticKey: key('client-static'), ephemeralKey: key('client-ephemeral') })
    t.equal(toHex(encodeTunnelFrame(client.hello)), toHex(parseHex(t, f['client-hello']!)!), 'client builds CLIENT_HELLO')
    const clientHello = decodeTunnelFrame(frameOf('client-hello'))
    if (clientHello.type !== 'CLIENT_HELLO') return void t.fail('client-hello is not a CLIENT_HELLO')
    const server = new ServerHandshake(clientHello, { staticKey: key('server-static'), ephemeralKey: key('server-ephemeral') })
    t.equal(toHex(encodeTunnelFrame(server.hello)), toHex(parseHex(t, f['server-hello']!)!), 'server builds SERVER_HELLO')
    const serverHello = decodeTunnelFrame(frameOf('server-hello'))
    if (serverHello.type !== 'SERVER_HELLO') return void t.fail('server-hello is not a SERVER_HELLO')

    const session = client.finish(serverHello, auth)
    for (const keys of [session.keys, server.session.keys]) {
      t.equal(toHex(keys.transcript), f.transcript, 'transcript hash')
      t.equal(toHex(keys.authKey), f['auth-key'], 'authKey')
      t.equal(toHex(keys.clientToServer), f['client-to-server'], 'clientToServer')
      t.equal(toHex(keys.serverToClient), f['server-to-client'], 'serverToClient')
    }
    t.equal(toHex(encodeTunnelFrame(session.auth)), toHex(parseHex(t, f['auth-frame']!)!), 'client builds AUTH')
    const authMessage = decodeTunnelFrame(frameOf('auth-frame'))
    if (authMessage.type !== 'AUTH') return void t.fail('auth-frame is not an AUTH')
    const opened = server.openAuth(authMessage)
    if (!opened.ok) return void t.fail(`AUTH does not open: ${opened.error.message}`)
    t.equal(opened.message.ip, auth.ip, 'AUTH body ip')
    t.equal(opened.message.mtu, auth.mtu, 'AUTH body mtu')
    t.equal(toHex(opened.message.secretProof), auth.secret === undefined ? '' : f['secret-proof'], 'secret proof')
    if (auth.secret !== undefined) t.ok(server.checkSecret(auth.secret, opened.message.secretProof), 'the proof checks')

    const clientCipher = session.cipher
    const serverCipher = server.session.cipher
    if (clientCipher === null || serverCipher === null) return void t.fail('expected an encrypted link')
    const welcome = JSON.parse(f.welcome!) as { type: 'WELCOME'; ip: string; leaseSeconds: number }
    t.equal(toHex(encodeTunnelFrame(welcome, serverCipher)), toHex(parseHex(t, f['welcome-frame']!)!), 'server seals WELCOME')
    t.same(decodeTunnelFrame(frameOf('welcome-frame'), clientCipher), welcome, 'client opens WELCOME')
    const packet = parseHex(t, f.packet!) ?? Buffer.alloc(0)
    t.equal(
      toHex(encodeTunnelFrame({ type: 'PACKET', data: packet }, clientCipher)),
      toHex(parseHex(t, f['packet-frame']!)!),
      'client seals PACKET',
    )
    t.equal(
      toHex(encodeTunnelFrame({ type: 'KEEPALIVE' }, clientCipher)),
      toHex(parseHex(t, f['keepalive-frame']!)!),
      'client seals KEEPALIVE',
    )
    t.same(decodeTunnelFrame(frameOf('packet-frame'), serverCipher), { type: 'PACKET', data: packet }, 'server opens PACKET')
    t.same(decodeTunnelFrame(frameOf('keepalive-frame'), serverCipher), { type: 'KEEPALIVE' }, 'server opens KEEPALIVE')
  },
}

const vectors = extractVectors(readFileSync(DOC_URL, 'utf8'))

t.test('PROTOCOL.md has vectors, one frame vector per P2P message type', async (t) => {
  t.ok(vectors.length > 0)
  const framed = vectors.filter((v) => v.kind === 'frame').map((v) => v.fields.get('name'))
  t.same([...framed].sort(), Object.keys(MESSAGE_TYPES).sort())
})

t.test('PROTOCOL.md has one tunnel-frame vector per tunnel message type, and a handshake', async (t) => {
  const framed = vectors.filter((v) => v.kind === 'tunnel-frame').map((v) => v.fields.get('name'))
  t.same([...framed].sort(), Object.keys(TUNNEL_MESSAGE_TYPES).sort())
  t.ok(vectors.some((v) => v.kind === 'tunnel-handshake'))
})

t.test('the fence parser skips vector examples nested in longer fences', async (t) => {
  const md = ['````', '```vector', 'kind: nope', '```', '````', '```vector', 'kind: frame', 'hex: 00', '  11', '```'].join('\n')
  const found = extractVectors(md)
  t.equal(found.length, 1)
  t.equal(found[0]!.fields.get('hex'), '00\n11')
})

for (const v of vectors) {
  t.test(`${v.kind}: ${v.fields.get('name') ?? '(unnamed)'} (PROTOCOL.md:${v.line})`, async (t) => {
    const handler = Object.hasOwn(handlers, v.kind) ? handlers[v.kind] : undefined
    if (handler === undefined) {
      t.fail(`no handler for vector kind "${v.kind}"; add one to test/unit/protocol-vectors.test.ts`)
      return
    }
    handler(t, v)
  })
}
