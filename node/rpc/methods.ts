// The node's JSON-RPC methods: the original report's names and positional
// params (so its curl bodies work unchanged), plus getStatus,
// getTransactionsByAccount and getAccount.
import { isValidAddress } from '../../protocol/chain/keys.js'
import { DEFAULT_P2P_PORT } from '../../protocol/chain/defaults.js'
import { BusyError } from '../../lib/semaphore.js'
import {
  AddrError,
  addrKey,
  KeystoreError,
  MinerClosedError,
  NotUnlockedError,
  parseHostPort,
  PoolError,
  type PeerAddress,
  type PoolErrorCode,
  type RpcContext,
} from './context.js'
import { APP, RpcError } from './errors.js'
import { defineMethod, hex, integerLike, optional, ParamError, required, string, type MethodTable, type Parser } from './params.js'
import { blockView, txView } from './views.js'
import { toHex } from '../../protocol/wire/bytes.js'
import { fingerprintToUuid } from '../validator/config.js'
import { targetToBigInt } from '../consensus/asert.js'

/**
 * How many times harder than the easiest possible target: the values that
 * may win out of all, inverted. Work wins with a hash <= target (target + 1
 * of 2^256 values); slots with a record distance < target (target of 2^192).
 */
function difficultyOf(target: Buffer, slots: boolean): number {
  const t = targetToBigInt(target)
  return slots ? Number((1n << 192n) / t) : Number((1n << 256n) / (t + 1n))
}

const name = string({ min: 1, max: 64 })
const password = string({ min: 1, max: 1024 })
const hash32 = hex({ bytes: 32 })
const hex33 = hex({ bytes: 33 })
const address: Parser<string> = (v) => {
  const a = hex33(v)
  if (!isValidAddress(Buffer.from(a, 'hex'))) throw new ParamError('is not an address (a compressed secp256k1 public key)')
  return a
}

const hostPort: Parser<PeerAddress> = (v) => {
  if (typeof v !== 'string' || v.length > 300) throw new ParamError('must be "host" or "host:port"')
  try {
    return parseHostPort(v, DEFAULT_P2P_PORT)
  } catch (err) {
    if (err instanceof AddrError) throw new ParamError(`must be "host" or "host:port": ${err.message}`)
    throw err
  }
}

const KEYSTORE_CODES: Record<string, number> = {
  ACCOUNT_EXISTS: APP.ACCOUNT_EXISTS,
  ACCOUNT_NOT_FOUND: APP.ACCOUNT_NOT_FOUND,
  WRONG_PASSWORD: APP.WRONG_PASSWORD,
}
const POOL_CODES: Record<PoolErrorCode, number> = {
  DUPLICATE_TX: APP.DUPLICATE_TX,
  POOL_FULL: APP.POOL_FULL,
  SENDER_LIMIT: APP.POOL_FULL,
  BAD_NONCE: APP.BAD_NONCE,
  INSUFFICIENT_BALANCE: APP.INSUFFICIENT_BALANCE,
  BAD_SIGNATURE: APP.BAD_SIGNATURE,
  INVALID_TX: APP.INVALID_TX,
}

/** Turns the node's typed errors into JSON-RPC errors with stable codes. */
async function rpc<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof KeystoreError) {
      // Bad names and passwords are bad params: the message says which rule.
      if (err.code === 'INVALID_NAME' || err.code === 'INVALID_PASSWORD') throw new RpcError(-32602, err.message)
      const code = KEYSTORE_CODES[err.code]
      // Anything else (a damaged file) is the node's problem: the details, file
      // path included, go to its log through the dispatcher's onError.
      if (code === undefined) throw err
      throw new RpcError(code, err.message)
    }
    if (err instanceof PoolError) throw new RpcError(POOL_CODES[err.code], err.message)
    if (err instanceof NotUnlockedError) throw new RpcError(APP.ACCOUNT_LOCKED, err.message)
    if (err instanceof BusyError) throw new RpcError(APP.BUSY, err.message)
    if (err instanceof MinerClosedError) throw new RpcError(APP.NOT_READY, err.message)
    throw err
  }
}

/** Once the node is stopping, every method answers NOT_READY instead of starting work. */
function refuseWhileStopping(ctx: RpcContext, table: MethodTable): MethodTable {
  // A definition may serve two names (loadAccount and unlock): wrap it once.
  for (const def of new Set(Object.values(table))) {
    const handler = def.handler
    def.handler = (...args: unknown[]) => {
      if (ctx.shuttingDown) throw new RpcError(APP.NOT_READY, 'the node is shutting down')
      return handler(...args)
    }
  }
  return table
}

export function buildMethods(ctx: RpcContext): MethodTable {
  return refuseWhileStopping(ctx, buildTable(ctx))
}

function buildTable(ctx: RpcContext): MethodTable {
  const unlock = defineMethod({
    params: [required('name', name), required('password', password)],
    handler: (n, p) => rpc(async () => (await ctx.unlock(n, p)).address),
    description: 'Unlocks an account for sendTransaction; returns its address.',
  })

  /** Who won the last `blocks` blocks of the best chain, newest first, and this node's validator. */
  async function validators(blocks: number): Promise<unknown> {
    const { tip, engine } = ctx.chain
    const seen = new Map<string, { key: string; fingerprint: string | null; proofType: string; blocksWon: number; lastBlock: number }>()
    let empty = 0
    const from = Math.max(1, tip.height - blocks + 1)
    for (let h = tip.height; h >= from; h--) {
      const found = await ctx.chain.getBlockByHeight(h)
      if (!found) break
      const header = found.block.header
      if (header.proofType === 'empty') {
        empty++
        continue
      }
      const proof = engine.describeProof(header)
      // The UUID form DSC prints ("Fingerprint: …").
      const fingerprint = typeof proof.fingerprint === 'string' ? fingerprintToUuid(Buffer.from(proof.fingerprint, 'hex')) : null
      const key = toHex(header.miner)
      const id = `${key}/${fingerprint ?? ''}`
      const v = seen.get(id)
      if (v) v.blocksWon++
      else seen.set(id, { key, fingerprint, proofType: header.proofType, blocksWon: 1, lastBlock: h })
    }
    const prover = ctx.miner.prover
    return {
      blocks: tip.height - from + 1,
      emptyBlocks: empty,
      validators: [...seen.values()],
      local: {
        mining: ctx.miner.mining,
        key: ctx.miner.minerAddress,
        proofType: prover?.kind ?? null,
        hashRate: Math.round(prover?.hashRate ?? ctx.miner.hashRate),
        storedRecords: prover?.storedRecords ?? 0,
      },
    }
  }

  async function getTransaction(id: string): Promise<unknown> {
    const pending = ctx.pool.get(id)
    if (pending) return { ...txView(pending.tx, id), status: 'pending' }
    const loc = await ctx.chain.getTxLocation(id)
    if (!loc) return null
    const found = await ctx.chain.getBlockByHash(loc.blockHash)
    const tx = found?.block.txs[loc.index]
    if (!tx) return null
    return {
      ...txView(tx, id),
      status: 'confirmed',
      blockHeight: loc.height,
      blockHash: loc.blockHash,
      confirmations: ctx.chain.tip.height - loc.height + 1,
    }
  }

  return {
    createAccount: defineMethod({
      params: [required('name', name), required('password', password)],
      handler: (n, p) => rpc(async () => (await ctx.createAccount(n, p)).address),
      description: "Creates an account in this node's keystore; returns its address (public key).",
    }),
    loadAccount: unlock,
    unlock,
    mining: defineMethod({
      params: [required('name', name), required('password', password)],
      handler: (n, p) =>
        rpc(async () => {
          const acct = await ctx.unlock(n, p)
          ctx.miner.start(Buffer.from(acct.address, 'hex'))
          return true
        }),
      description: 'Unlocks the account and mines with its address as the reward receiver.',
    }),
    stopMining: defineMethod({
      params: [],
      handler: async () => {
        await ctx.miner.stop()
        return true
      },
    }),
    sendTransaction: defineMethod({
      params: [required('to', address), required('amount', integerLike({ min: 1 }))],
      handler: (to, amount) => rpc(async () => (await ctx.sendFromUnlocked(Buffer.from(to, 'hex'), amount)).id),
      description: 'Sends coins from the unlocked account; returns the transaction hash.',
    }),
    getBalance: defineMethod({
      params: [required('address', hex33)],
      handler: async (a) => (await ctx.chain.getAccount(a)).balance,
    }),
    getAccount: defineMethod({
      params: [required('address', hex33)],
      handler: async (a) => {
        const acct = await ctx.chain.getAccount(a)
        const pending = ctx.pool.fromSender(a)
        return { address: a, balance: acct.balance, nonce: acct.nonce, pending: pending.length, height: ctx.chain.tip.height }
      },
    }),
    getTransaction: defineMethod({ params: [required('hash', hash32)], handler: getTransaction }),
    getBlock: defineMethod({
      params: [required('height', integerLike({ min: 0, max: 0xffffffff }))],
      handler: async (h) => {
        const found = await ctx.chain.getBlockByHeight(h)
        return found ? blockView(found.block, ctx.chain.engine, found.hash) : null
      },
    }),
    getBlockByHash: defineMethod({
      params: [required('hash', hash32)],
      handler: async (h) => {
        const found = await ctx.chain.getBlockByHash(h)
        const entry = ctx.chain.entry(h)
        if (!found || !entry || entry.status === 'invalid') return null
        return { ...blockView(found.block, ctx.chain.engine, h), onBestChain: ctx.chain.isOnBestChain(entry) }
      },
    }),
    getStatus: defineMethod({
      params: [],
      handler: () => {
        const { tip, engine } = ctx.chain
        const clock = engine.clock
        return {
          network: ctx.networkId,
          height: tip.height,
          hash: tip.hash,
          peers: ctx.peers.readyCount(),
          mining: ctx.miner.mining,
          miner: ctx.miner.minerAddress,
          hashRate: Math.round(ctx.miner.hashRate),
          pending: ctx.pool.size,
          unlocked: ctx.unlockedAddress,
          engine: engine.name,
          proofType: clock ? (ctx.miner.prover?.kind ?? null) : 'pow',
          target: toHex(ctx.chain.nextTarget()),
          difficulty: difficultyOf(ctx.chain.nextTarget(), clock !== undefined),
          ...(clock && { slot: clock.slotOf(Date.now()), slotMs: clock.slotMs, tipSlot: clock.slotOf(tip.timestamp) }),
        }
      },
      description: 'The node at a glance: chain tip, peers, mining, pool, and the consensus engine with its next target (and slot).',
    }),
    getValidators: defineMethod({
      params: [optional('blocks', integerLike({ min: 1, max: 1000 }), 100)],
      handler: (blocks) => rpc(() => validators(blocks)),
      description:
        "Validators that won the last N blocks (default 100): key, fingerprint, proof type, blocks won, last block; and this node's.",
    }),
    addPeer: defineMethod({
      params: [required('address', hostPort)],
      handler: (a) => {
        ctx.peers.add(a)
        return true
      },
      description: `Remembers a peer ("host:port", port ${DEFAULT_P2P_PORT} by default) and dials it now.`,
    }),
    removePeer: defineMethod({
      params: [required('address', hostPort)],
      handler: (a) => ctx.peers.remove(a),
      description: 'Forgets a peer and drops any connection to it; false when it was unknown.',
    }),
    getPeers: defineMethod({
      params: [],
      handler: () =>
        ctx.peers.all().map((p) => ({
          id: p.id,
          address: addrKey(p.address),
          listen: p.hello ? addrKey({ host: p.hello.listenHost, port: p.hello.listenPort }) : null,
          direction: p.direction,
          state: p.state,
          height: p.bestHeight,
          rttMs: p.rttMs,
          bytesIn: p.bytesIn,
          bytesOut: p.bytesOut,
          messagesIn: p.messagesIn,
          messagesOut: p.messagesOut,
          connectedSince: p.connectedAt,
          agent: p.hello?.agent ?? null,
        })),
    }),
    getNetStats: defineMethod({
      params: [],
      handler: () => ({ ...ctx.peers.stats(), peers: ctx.peers.readyCount(), knownAddresses: ctx.peers.knownAddresses() }),
      description: 'P2P counters: blocks and transactions received, duplicates, relayed, downloaded.',
    }),
    getTransactionsByAccount: defineMethod({
      params: [required('address', hex33), optional('limit', integerLike({ min: 1, max: 1000 }), 100)],
      handler: async (a, limit) => {
        const pending = ctx.pool
          .involving(a)
          .slice(0, limit)
          .map((e) => ({ ...txView(e.tx, e.id), status: 'pending' }))
        const confirmedIds = await ctx.chain.accountTxIds(a, limit - pending.length)
        const confirmed = []
        for (const id of confirmedIds) {
          const tx = await getTransaction(id)
          if (tx) confirmed.push(tx)
        }
        return [...pending, ...confirmed]
      },
      description: 'Pending then confirmed transactions sent or received by an address, newest first.',
    }),
  }
}
