// A counting semaphore with a bounded queue: at most `slots` holders at once,
// at most `queue` waiting; past that, acquire fails at once so the caller can
// answer "busy" instead of piling work up.
export class BusyError extends Error {
  override name = 'BusyError'
}

export class Semaphore {
  private held = 0
  private readonly waiting: Array<() => void> = []

  constructor(
    private readonly slots: number,
    private readonly queue: number,
    private readonly what: string,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held >= this.slots) {
      if (this.waiting.length >= this.queue) throw new BusyError(`too many ${this.what} in progress; retry shortly`)
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.held++
    }
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      // The slot passes straight to the next waiter, so `held` stays put.
      if (next) next()
      else this.held--
    }
  }
}
