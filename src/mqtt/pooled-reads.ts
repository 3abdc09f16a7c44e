/**
 * A client's TCP socket read into one reused buffer, each MQTT packet copied out of it once,
 * whole, into its own buffer. Node otherwise allocates a fresh 64 KiB buffer for every socket
 * read, which mqtt-packet's parser keeps until the packet it belongs to is whole: for a device
 * receiving 256 KiB tensor chunks that is four allocations per chunk, their garbage collection,
 * a read system call per 64 KiB, and then one more copy of the payload out of those pieces
 * (lent-payloads.ts). Read into one buffer (`net.Socket`'s `onread`), a process's CPU per MB of
 * plain TCP reads went from 0.56-0.59 to 0.14-0.28 ms on this machine, and a Dora receiver's of
 * 1-16 MiB tensors from 2.4-2.9 to 1.9-2.2 ms (BENCHMARKS.md, issue 18, fourth pass).
 *
 * Framing only: the fixed header's remaining length ([MQTT-2.2.3]) says where each packet ends.
 * A large PUBLISH whose topic the client lends (lent-payloads.ts: every handler lets go of the
 * payload on return; MQTT 3.1.1, QoS 0 or 1) is copied into a lent buffer, from which the
 * parser then takes its payload as a view: one copy from the socket's bytes to the payload, none
 * after. Other packets go into fresh buffers (consecutive small ones share one). mqtt.js's
 * parser still parses and checks every packet as before. A packet longer than
 * MAX_FRAMED_BYTES, or a malformed length, is handed on as copies of each read, as Node would,
 * so the parser meets it as before (and refuses what it refuses) without a large allocation.
 * Nothing changes on the wire.
 */
import net from 'node:net'
import type { MqttClient } from 'mqtt'
import { LEND_MIN_BYTES, type Lender } from './lent-payloads.js'

/** Bytes a socket reads at once (one buffer per connection). */
export const READ_BYTES = 256 * 1024
/** Largest packet framed whole (allocated at its full length once its header is in); longer ones pass through. */
export const MAX_FRAMED_BYTES = 16 * 1024 * 1024

export interface FramerOptions {
  /** Lends buffers for large PUBLISH packets of topics it wants (null: never). */
  lender: Lender | null
  /** Whether PUBLISH packets are MQTT 3.1.1 (lending needs it: MQTT 5 puts properties before the payload). */
  v311: boolean
}

/**
 * Splits a byte stream into whole MQTT packets, each delivered (`emit`) in a buffer of its own
 * (or several consecutive small ones in one): buffers the caller may keep, never views of the
 * read buffer passed to `push`, which may be reused as soon as `push` returns.
 */
export class PacketFramer {
  /** The packet being filled: its buffer and how much of it has arrived. */
  private packet: Buffer | null = null
  private filled = 0
  /** Bytes of a packet's start while its length (and, for a large PUBLISH, its topic) is not yet known. */
  private head = Buffer.alloc(0)
  /** Bytes of a pass-through packet still to come (-1: the rest of the stream). */
  private passing = 0

  constructor(private readonly o: FramerOptions, private readonly emit: (packet: Buffer) => void) {}

  push(read: Buffer): void {
    let at = 0
    while (at < read.length) {
      if (this.passing !== 0) at = this.pass(read, at)
      else if (this.packet) at = this.fill(read, at)
      else at = this.start(read, at)
    }
  }

  private pass(read: Buffer, at: number): number {
    const n = this.passing < 0 ? read.length - at : Math.min(this.passing, read.length - at)
    this.emit(Buffer.from(read.subarray(at, at + n)))
    if (this.passing > 0) this.passing -= n
    return at + n
  }

  private fill(read: Buffer, at: number): number {
    const packet = this.packet!
    const n = Math.min(packet.length - this.filled, read.length - at)
    read.copy(packet, this.filled, at, at + n)
    this.filled += n
    if (this.filled === packet.length) {
      this.packet = null
      this.emit(packet)
    }
    return at + n
  }

  /** At a packet boundary: frames the packet starting at `at` (with any start kept in `head`). */
  private start(read: Buffer, at: number): number {
    if (this.head.length === 0) {
      // the common case: whole small packets in this read, handed on together in one copy
      const end = this.wholeSmallPackets(read, at)
      if (end > at) {
        this.emit(Buffer.from(read.subarray(at, end)))
        return end
      }
    }
    const want = Math.min(read.length - at, 5 + 2 + 0xffff)
    const held = this.head
    const bytes = held.length ? Buffer.concat([held, read.subarray(at, at + want)]) : read.subarray(at, at + want)
    const h = fixedHeader(bytes, 0)
    if (h === 'malformed') {
      // handed on as it is: the parser refuses it and mqtt.js closes the connection
      this.passing = -1
      return this.release(at)
    }
    if (h === null) return this.keep(read, at, want)
    const total = h.headerBytes + h.remaining
    if (total > MAX_FRAMED_BYTES) {
      // handed on piecewise, as Node would: what is held first, then the rest as it comes
      this.passing = total - held.length
      return this.release(at)
    }
    if (total <= held.length) {
      // whole in what is held (after a read that ended in its header): handed on; the rest is the next packet's
      this.emit(Buffer.from(held.subarray(0, total)))
      this.head = held.subarray(total)
      return at
    }
    const lend = this.lendable(bytes, h, total)
    if (lend === null) return this.keep(read, at, want)
    const packet = lend ? this.o.lender!.take(total) : Buffer.allocUnsafe(total)
    held.copy(packet, 0)
    this.head = Buffer.alloc(0)
    this.packet = packet
    this.filled = held.length
    return this.fill(read, at)
  }

  /** Hands on what is held (when it passes through); returns `at`. */
  private release(at: number): number {
    if (this.head.length) this.emit(Buffer.from(this.head))
    this.head = Buffer.alloc(0)
    return at
  }

  /** Keeps the start of a packet whose header is not all in yet; consumes the read's bytes up to `want`. */
  private keep(read: Buffer, at: number, want: number): number {
    this.head = Buffer.concat([this.head, read.subarray(at, at + want)])
    return at + want
  }

  /**
   * Whether the packet goes into a lent buffer (a large PUBLISH of a topic the lender wants, QoS
   * 0 or 1, MQTT 3.1.1), a fresh one (false), or null while its topic has not all arrived.
   */
  private lendable(bytes: Buffer, h: FixedHeader, total: number): boolean | null {
    const type = bytes[0]! >> 4
    const qos = (bytes[0]! >> 1) & 3
    if (!this.o.lender || !this.o.v311 || type !== 3 || qos > 1 || total < LEND_MIN_BYTES) return false
    const t = h.headerBytes
    if (bytes.length < t + 2) return null
    const topicLength = bytes.readUInt16BE(t)
    if (bytes.length < t + 2 + topicLength) return null
    return this.o.lender.wants(bytes.toString('utf8', t + 2, t + 2 + topicLength))
  }

  /** End of the run of whole packets below LEND_MIN_BYTES that starts at `at` (`at` when none). */
  private wholeSmallPackets(read: Buffer, at: number): number {
    let end = at
    for (;;) {
      const h = fixedHeader(read, end)
      if (h === null || h === 'malformed') return end
      const total = h.headerBytes + h.remaining
      if (total >= LEND_MIN_BYTES || end + total > read.length) return end
      end += total
    }
  }
}

interface FixedHeader {
  /** Bytes of the fixed header: the type byte and the remaining length's 1-4 bytes. */
  headerBytes: number
  remaining: number
}

/** The fixed header at `at`; null when it has not all arrived; 'malformed' past four length bytes. */
function fixedHeader(b: Uint8Array, at: number): FixedHeader | null | 'malformed' {
  let remaining = 0
  let mul = 1
  for (let i = 1; i <= 4; i++) {
    if (at + i >= b.length) return null
    const byte = b[at + i]!
    remaining += (byte & 0x7f) * mul
    if ((byte & 0x80) === 0) return { headerBytes: 1 + i, remaining }
    mul *= 128
  }
  return 'malformed'
}

/**
 * A TCP connection whose reads go through a PacketFramer; each framed packet is emitted as a
 * 'data' event, which is how mqtt.js reads its stream (`stream.pipe`). Pausing (the parser's
 * back-pressure) stops reading as usual.
 */
export function framedConnection(host: string, port: number, o: FramerOptions): net.Socket {
  let socket: net.Socket | null = null
  // (a handler may close the connection midway through a read: the rest of the read is dropped, as Node would)
  const framer = new PacketFramer(o, (packet) => void (socket!.destroyed || socket!.emit('data', packet)))
  const buffer = Buffer.allocUnsafeSlow(READ_BYTES)
  const callback = (n: number): boolean => {
    framer.push(buffer.subarray(0, n))
    return true
  }
  socket = net.createConnection({ host, port, onread: { buffer, callback } })
  return socket
}

/**
 * Makes `client` (made with `manualConnect`, not yet connected) read through framedConnection
 * on every connection it opens, when `url` is plain TCP (mqtt:// or tcp://) and no SOCKS proxy
 * is in use; TLS and WebSocket connections keep mqtt.js's own streams.
 */
export function framedReads(client: MqttClient, url: string, o: FramerOptions): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return
  }
  if ((u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') || process.env['MQTTJS_SOCKS_PROXY']) return
  const c = client as unknown as { streamBuilder?: unknown }
  if (typeof c.streamBuilder !== 'function') return // another mqtt.js: left be
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost'
  const port = u.port ? Number(u.port) : 1883
  c.streamBuilder = () => framedConnection(host, port, o)
}
