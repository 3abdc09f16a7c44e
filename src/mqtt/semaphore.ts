/** A counting semaphore: bounds work in flight (publishes awaiting acknowledgement). */
export class Semaphore {
  private waiters: Array<() => void> = []
  private inUse = 0

  constructor(private readonly limit: number) {}

  get active(): number {
    return this.inUse
  }

  get waiting(): number {
    return this.waiters.length
  }

  async acquire(): Promise<() => void> {
    if (this.inUse < this.limit) {
      this.inUse++
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiters.shift()
      if (next) next()
      else this.inUse--
    }
  }
}
