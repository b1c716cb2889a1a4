// Raised when canonical transaction or block bytes do not decode. Kept apart
// from the frame/message errors so a bad block inside a well-formed BLOCK
// message is reported as what it is.
export class CodecError extends Error {
  override name = 'CodecError'
  constructor(
    public readonly code: 'BAD_LENGTH' | 'BAD_VERSION' | 'BAD_INTEGER' | 'BAD_FIELD',
    message: string,
  ) {
    super(message)
  }
}
