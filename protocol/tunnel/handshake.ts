// The tunnel handshake as two small state machines (client and server) over
// the key schedule and AEAD of crypto.ts: hellos out, AUTH sealed or
// opened, a session with its frame cipher in.
import type { DecodeResult } from '../wire/catalogue.js'
import {
  checkSecretProof,
  createPacketCipher,
  deriveKeys,
  openAuth,
  sealAuth,
  secretProof,
  TunnelKeyPair,
  type AuthMessage,
  type ClientHello,
  type PacketCipher,
  type ServerHello,
  type SessionKeys,
  type TunnelRole,
} from './crypto.js'
import { TunnelError, TUNNEL_VERSION, type AuthBody } from './messages.js'

// ---- handshake state -------------------------------------------------------------

export interface TunnelSession {
  readonly role: TunnelRole
  /** Both hellos said `encrypt`: every frame after AUTH is sealed with `cipher`. */
  readonly encrypted: boolean
  /** The peer's static public key (on the server: the client's identity, what leases bind). */
  readonly peerKey: Buffer
  readonly keys: SessionKeys
  /** This side's link cipher when encrypted, else null. Use it only once AUTH is sent (client) or opened (server). */
  readonly cipher: PacketCipher | null
}

export interface ClientHandshakeOptions {
  staticKey: TunnelKeyPair
  /** Ask for sealed frames (default true); the link is encrypted only if the server agrees. */
  encrypt?: boolean
  /** Refuse a server that turns encryption off (ENCRYPTION_REQUIRED). Default false. */
  requireEncryption?: boolean
  /** Pin the server's static key; any other is refused (SERVER_KEY_MISMATCH). Without it, any server is accepted. */
  serverKey?: Uint8Array
  /** Tests and vectors only: a fixed ephemeral key instead of a fresh one. */
  ephemeralKey?: TunnelKeyPair
}

export interface AuthRequest {
  /** The private IP the client claims, e.g. `192.168.53.5`. */
  ip: string
  mtu: number
  /** The network secret, when the simulator requires one. */
  secret?: string | Uint8Array
  /** This client accepts GSO_PACKET frames (it writes them to a TUN opened with IFF_VNET_HDR). */
  gso?: boolean
}

/** The client's side: `hello` to send first, then `finish(SERVER_HELLO, …)` gives the AUTH to send and the session. */
export class ClientHandshake {
  readonly hello: ClientHello
  private readonly opts: ClientHandshakeOptions
  private readonly ephemeralKey: TunnelKeyPair
  private finished = false

  constructor(opts: ClientHandshakeOptions) {
    this.opts = opts
    this.ephemeralKey = opts.ephemeralKey ?? TunnelKeyPair.generate()
    this.hello = {
      type: 'CLIENT_HELLO',
      version: TUNNEL_VERSION,
      clientKey: opts.staticKey.publicKey,
      ephemeral: this.ephemeralKey.publicKey,
      encrypt: opts.encrypt ?? true,
    }
  }

  /**
   * Checks the server's hello, derives the keys and seals AUTH. Throws
   * TunnelError (BAD_VERSION, SERVER_KEY_MISMATCH, ENCRYPTION_REQUIRED,
   * BAD_KEY) or MessageError('INVALID') for a bad `auth`. Call it once: AUTH's
   * key is single-use.
   */
  finish(serverHello: ServerHello, auth: AuthRequest): TunnelSession & { auth: AuthMessage } {
    if (this.finished) throw new Error('ClientHandshake.finish called twice')
    this.finished = true
    if (serverHello.version !== TUNNEL_VERSION) {
      throw new TunnelError('BAD_VERSION', `server speaks tunnel version ${serverHello.version}, we speak ${TUNNEL_VERSION}`)
    }
    const pinned = this.opts.serverKey
    if (pinned !== undefined && !Buffer.from(pinned).equals(serverHello.serverKey)) {
      throw new TunnelError(
        'SERVER_KEY_MISMATCH',
        `server key ${serverHello.serverKey.toString('hex')} is not the pinned ${Buffer.from(pinned).toString('hex')}`,
      )
    }
    const encrypted = this.hello.encrypt && serverHello.encrypt
    if (!encrypted && this.opts.requireEncryption === true) {
      throw new TunnelError('ENCRYPTION_REQUIRED', 'the server turned encryption off and this client requires it')
    }
    const keys = deriveKeys('client', { staticKey: this.opts.staticKey, ephemeralKey: this.ephemeralKey }, this.hello, serverHello)
    const proof = auth.secret === undefined ? Buffer.alloc(0) : secretProof(auth.secret, keys.transcript)
    return {
      role: 'client',
      encrypted,
      peerKey: serverHello.serverKey,
      keys,
      cipher: encrypted ? createPacketCipher('client', keys) : null,
      auth: {
        type: 'AUTH',
        sealed: sealAuth(keys, { ip: auth.ip, mtu: auth.mtu, secretProof: proof, ...(auth.gso === true ? { gso: true } : {}) }),
      },
    }
  }
}

export interface ServerHandshakeOptions {
  staticKey: TunnelKeyPair
  /** Agree to sealed frames (default true); false is the simulator's --no-encrypt. */
  encrypt?: boolean
  /** Tests and vectors only: a fixed ephemeral key instead of a fresh one. */
  ephemeralKey?: TunnelKeyPair
}

/** The server's side, made from the client's hello: `hello` to send, then `openAuth(AUTH)`. */
export class ServerHandshake {
  readonly hello: ServerHello
  readonly session: TunnelSession

  /** Throws TunnelError (BAD_VERSION, BAD_KEY); answer with a plain ERROR of that code. */
  constructor(clientHello: ClientHello, opts: ServerHandshakeOptions) {
    if (clientHello.version !== TUNNEL_VERSION) {
      throw new TunnelError('BAD_VERSION', `client speaks tunnel version ${clientHello.version}, we speak ${TUNNEL_VERSION}`)
    }
    const ephemeralKey = opts.ephemeralKey ?? TunnelKeyPair.generate()
    this.hello = {
      type: 'SERVER_HELLO',
      version: TUNNEL_VERSION,
      serverKey: opts.staticKey.publicKey,
      ephemeral: ephemeralKey.publicKey,
      encrypt: opts.encrypt ?? true,
    }
    const keys = deriveKeys('server', { staticKey: opts.staticKey, ephemeralKey }, clientHello, this.hello)
    const encrypted = clientHello.encrypt && this.hello.encrypt
    this.session = {
      role: 'server',
      encrypted,
      peerKey: clientHello.clientKey,
      keys,
      cipher: encrypted ? createPacketCipher('server', keys) : null,
    }
  }

  /** Never throws: the client's claim, or BAD_AUTH (answer with a plain ERROR) / MessageError. */
  openAuth(msg: AuthMessage): DecodeResult<AuthBody> {
    return openAuth(this.session.keys, msg.sealed)
  }

  /** True when AUTH's proof matches the network secret (constant time); refuse with BAD_SECRET otherwise. */
  checkSecret(secret: string | Uint8Array, proof: Uint8Array): boolean {
    return checkSecretProof(secret, this.session.keys.transcript, proof)
  }
}
