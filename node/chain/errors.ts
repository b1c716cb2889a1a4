// Why a block or transaction was refused. `permanent: false` marks reasons
// that may stop applying later (a timestamp too far in the future) or that
// may not be the fault of the block its hash names (a body that does not
// match the header's root), so such blocks are not remembered as invalid.
export type RejectCode =
  | 'BAD_VERSION'
  | 'TOO_LARGE'
  | 'NO_REWARD'
  | 'BAD_REWARD'
  | 'EXTRA_REWARD'
  | 'BAD_TX_ROOT'
  | 'BAD_POW'
  | 'BAD_TARGET'
  | 'BAD_PROOF_TYPE'
  | 'BAD_PROOF'
  | 'BAD_CHALLENGE'
  | 'BAD_BLOCK_SIGNATURE'
  | 'BAD_EMPTY_BLOCK'
  | 'BAD_SLOT'
  | 'TOO_EARLY'
  | 'TOO_LATE'
  | 'STALE'
  | 'BAD_HEIGHT'
  | 'TIME_TOO_OLD'
  | 'TIME_TOO_NEW'
  | 'BAD_SIGNATURE'
  | 'BAD_AMOUNT'
  | 'BAD_ADDRESS'
  | 'BAD_NONCE'
  | 'INSUFFICIENT_BALANCE'
  | 'DUPLICATE_TX'
  | 'BAD_MINER'
  | 'OVERFLOW'
  | 'INVALID_PARENT'

export class ValidationError extends Error {
  override name = 'ValidationError'
  constructor(
    public readonly code: RejectCode,
    message: string,
    public readonly permanent = true,
  ) {
    super(message)
  }
}
