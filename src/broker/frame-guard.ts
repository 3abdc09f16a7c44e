/**
 * A transport-level MQTT frame check placed in front of the embedded broker. Aedes 1.2 has no
 * packet size limit (it buffers a 128 MiB publish whole); this reads each packet's fixed header
 * as bytes stream past and closes the connection as soon as a packet announces more than the
 * limit, before its body is buffered. [MQTT-2.2.3] remaining length: 1-4 byte varint.
 * A packet begun and not finished within the partial-packet timeout closes the connection too
 * (a client that sends half a packet and stalls would otherwise hold its buffer for ever: Aedes
 * refreshes keepalive only on whole packets, and never with keepalive 0).
 */
import { Duplex } from 'node:stream'

/** Pure byte-level scanner of MQTT fixed headers. */
export class FrameScanner {
  private state: 'type' | 'length' | 'body' = 'type'
  private lengthValue = 0
  private lengthBytes = 0
  private bodyLeft = 0
  /** Packets begun so far (a packet begins with its first byte). */
  packetsBegun = 0

  constructor(private readonly maxPacketBytes: number) {}

  /** True while a packet has begun and is not complete. */
  get midPacket(): boolean {
    return this.state !== 'type'
  }

  /** Feeds the next bytes; returns a violation message, or null while all is well. */
  feed(buf: Uint8Array): string | null {
    let i = 0
    while (i < buf.length) {
      if (this.state === 'type') {
        i++
        this.packetsBegun++
        this.state = 'length'
        this.lengthValue = 0
        this.lengthBytes = 0
      } else if (this.state === 'length') {
        const byte = buf[i++]!
        this.lengthValue += (byte & 0x7f) * 128 ** this.lengthBytes
        this.lengthBytes++
        if (byte & 0x80) {
          if (this.lengthBytes === 4) return 'malformed remaining length (more than 4 bytes)'
          continue
        }
        const packetBytes = 1 + this.lengthBytes + this.lengthValue
        if (packetBytes > this.maxPacketBytes) {
          return `packet of ${packetBytes} bytes exceeds the limit of ${this.maxPacketBytes}`
        }
        this.bodyLeft = this.lengthValue
        this.state = this.bodyLeft > 0 ? 'body' : 'type'
      } else {
        const take = Math.min(this.bodyLeft, buf.length - i)
        i += take
        this.bodyLeft -= take
        if (this.bodyLeft === 0) this.state = 'type'
      }
    }
    return null
  }
}

/**
 * Wraps a connection so every byte read passes the scanner first. On a violation the
 * connection is destroyed and `onViolation` is told why; other clients are unaffected.
 */
export class GuardedConnection extends Duplex {
  readonly remoteAddress: string | undefined
  private partialTimer: NodeJS.Timeout | null = null
  private timedPacket = -1
  /** Reading is paused for back-pressure: an unfinished packet's clock stops (the client cannot send while we do not read). */
  private paused = false
  private readonly scanner: FrameScanner

  constructor(
    private readonly inner: Duplex,
    maxPacketBytes: number,
    onViolation: (reason: string) => void,
    remoteAddress?: string,
    partialPacketTimeoutMs = 30_000,
  ) {
    super({ allowHalfOpen: false })
    this.remoteAddress = remoteAddress
    const scanner = (this.scanner = new FrameScanner(maxPacketBytes))
    this.timeout = { ms: partialPacketTimeoutMs, onViolation }
    inner.on('data', (buf: Buffer) => {
      const violation = scanner.feed(buf)
      if (violation) {
        onViolation(violation)
        this.destroy()
        return
      }
      this.timePartial()
      if (!this.push(buf)) {
        inner.pause()
        // the broker is behind: a packet the client is in the middle of waits for us, not for it
        this.paused = true
        this.clearPartial()
      }
    })
    inner.on('end', () => this.push(null))
    inner.on('error', (err) => this.destroy(err))
    inner.on('close', () => this.destroy())
    inner.on('drain', () => this.emit('innerDrain'))
  }

  private readonly timeout: { readonly ms: number; readonly onViolation: (reason: string) => void }

  /**
   * Starts the clock on a packet begun and not finished; stops it once none is pending. While
   * reading is paused for back-pressure it does not run: on resuming, an unfinished packet gets
   * the whole timeout again (a client sending fast enough to fill our buffer is not stalling).
   */
  private timePartial(): void {
    const { scanner } = this
    const { ms: timeoutMs, onViolation } = this.timeout
    if (this.paused) return
    if (!scanner.midPacket) {
      this.clearPartial()
      return
    }
    if (this.timedPacket === scanner.packetsBegun) return
    this.clearPartial()
    this.timedPacket = scanner.packetsBegun
    this.partialTimer = setTimeout(() => {
      onViolation(`a packet begun ${timeoutMs} ms ago is still incomplete`)
      this.destroy()
    }, timeoutMs)
  }

  private clearPartial(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer)
    this.partialTimer = null
    this.timedPacket = -1
  }

  override _read(): void {
    this.inner.resume()
    if (this.paused) {
      this.paused = false
      this.timePartial()
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.inner.write(chunk)) cb()
    else this.inner.once('drain', () => cb())
  }

  /**
   * Aedes (mqtt-packet) writes a packet as up to six pieces (type, length, topic, id, payload)
   * into a corked stream; without this each piece became its own write to the socket, a system
   * call each. Corked here, they leave in one writev (BENCHMARKS.md, issue 18, third pass).
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const inner = this.inner
    inner.cork()
    let ok = true
    for (const { chunk } of chunks) ok = inner.write(chunk)
    inner.uncork()
    if (ok) cb()
    else inner.once('drain', () => cb())
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end(() => cb())
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearPartial()
    this.inner.destroy()
    cb(err)
  }
}
