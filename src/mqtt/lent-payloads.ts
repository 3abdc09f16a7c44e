/**
 * Received payloads copied into reused buffers instead of fresh ones. mqtt.js (mqtt-packet's
 * parser) copies every PUBLISH payload out of the socket's 64 KiB reads into a freshly allocated
 * buffer: for a 256 KiB tensor chunk that is page faults on first touch and garbage-collector
 * work per chunk, a third of a receiving device's CPU per MB (BENCHMARKS.md, issue 18). A tensor
 * chunk's bytes are copied again into their tensor at once (reassembly.ts), so the payload is
 * dead when its handlers return: the client lends it from a small pool and takes it back then.
 *
 * Only where the client says every handler of the topic lets go of the payload on return
 * (DoraClient `subscribe(..., { transient: true })`), only for payloads of at least
 * LEND_MIN_BYTES, and only for MQTT 3.1.1. Applied per client through its options: other
 * parsers of the process (the embedded broker's) are untouched. The bytes are the same; nothing
 * changes on the wire.
 */
import { createRequire } from 'node:module'

/** Smaller payloads fit one socket read: mqtt-packet hands them out as views, without a copy. */
export const LEND_MIN_BYTES = 64 * 1024
/** Free buffers kept per client. */
const POOL_SIZE = 8

/** Where a client's options carry its pool (mqtt.js hands its options to the parser). */
const LENDER = Symbol.for('dora.lentPayloads')

export interface Lender {
  /** Whether every handler of `topic` lets go of the payload when it returns. */
  wants(topic: string): boolean
  take(bytes: number): Buffer
}

/** Backing buffers lent and not yet returned, of every pool. */
const lent = new WeakSet<ArrayBufferLike>()

/** Whether `data` is (a view of) a lent payload: valid only until its handlers return. */
export function isLent(data: Uint8Array): boolean {
  return lent.has(data.buffer)
}

export class PayloadPool implements Lender {
  private readonly free: Buffer[] = []

  constructor(readonly wants: (topic: string) => boolean) {}

  take(bytes: number): Buffer {
    const i = this.free.findIndex((b) => b.byteLength >= bytes)
    const backing = i >= 0 ? this.free.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.ceil(bytes / LEND_MIN_BYTES) * LEND_MIN_BYTES)
    lent.add(backing.buffer)
    return backing.subarray(0, bytes)
  }

  /** Takes back a payload once its handlers have returned; a payload not lent by this pool is ignored. */
  giveBack(payload: Uint8Array): void {
    const ab = payload.buffer
    if (!lent.has(ab) || this.free.some((b) => b.buffer === ab)) return
    lent.delete(ab)
    if (this.free.length >= POOL_SIZE) this.free.shift()
    this.free.push(Buffer.from(ab, 0, ab.byteLength))
  }
}

interface ParserInternals {
  settings?: Record<PropertyKey, unknown> & { protocolVersion?: number }
  packet: { topic?: string | null; qos?: number; length: number; payload?: Buffer }
  _pos: number
  _list: { copy(dst: Buffer, dstStart: number, srcStart: number, srcEnd: number): Buffer; slice(start: number, end: number): Buffer; _bufs?: Buffer[] }
  _parseString(): string | null
  _parseMessageId(): number | undefined
  _emitError(err: Error): void
}

let installed = false

/**
 * The mqtt-packet versions whose PUBLISH parse lendingParse repeats (9.x: checked against 9.0.2).
 * Another version is left alone (its own parse runs, nothing is lent): the patch reads the
 * parser's private fields, which a new major may change.
 */
const FITTING_MQTT_PACKET = /^9\./

type ParserProto = ParserInternals & { _parsePublish(): void }

/**
 * Puts the lending parse of PUBLISH in `proto` (mqtt-packet's Parser.prototype) when `version`
 * and the prototype are the ones it was written against; returns whether it did.
 */
export function patchParser(proto: Partial<ParserProto> | undefined, version: string | undefined): boolean {
  const original = proto?._parsePublish
  if (!proto || typeof original !== 'function' || !FITTING_MQTT_PACKET.test(version ?? '')) return false
  if (typeof proto._parseString !== 'function' || typeof proto._parseMessageId !== 'function' || typeof proto._emitError !== 'function') return false
  proto._parsePublish = function (this: ParserInternals) {
    const lender = this.settings?.[LENDER] as Lender | undefined
    if (!lender || this.settings?.protocolVersion === 5 || typeof this._pos !== 'number' || typeof this._list?.copy !== 'function' || typeof this._list.slice !== 'function') return original.call(this)
    // as mqtt-packet's own, for MQTT 3.1.1 ([MQTT-3.3.2]): topic, packet id when QoS > 0, payload
    const packet = this.packet
    packet.topic = this._parseString()
    if (packet.topic === null) return this._emitError(new Error('Cannot parse topic'))
    if ((packet.qos ?? 0) > 0 && !this._parseMessageId()) return
    const bytes = packet.length - this._pos
    // a packet the framer (pooled-reads.ts) put whole in a lent buffer
    const bufs = this._list._bufs
    const inLent = bufs?.length === 1 && lent.has(bufs[0]!.buffer)
    // a QoS 2 message is kept (mqtt.js's incoming store) until its PUBREL: never lent
    if (bytes < LEND_MIN_BYTES || (packet.qos ?? 0) > 1 || !lender.wants(packet.topic)) {
      // (a lent buffer goes back to the pool after the handlers: a payload kept must be a copy)
      packet.payload = inLent ? Buffer.from(bufs[0]!.subarray(this._pos, packet.length)) : this._list.slice(this._pos, packet.length)
      return
    }
    if (inLent) {
      packet.payload = bufs[0]!.subarray(this._pos, packet.length)
      return
    }
    const payload = lender.take(bytes)
    this._list.copy(payload, 0, this._pos, packet.length)
    packet.payload = payload
  }
  return true
}

/** Puts the lending parse of PUBLISH in mqtt-packet's parser (once per process; inert for parsers without a pool). */
function install(): void {
  if (installed) return
  installed = true
  // the parser mqtt.js itself loads (resolved from mqtt's own directory)
  const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'))
  const proto = (fromMqtt('mqtt-packet/parser') as { prototype?: ParserProto }).prototype
  const version = (fromMqtt('mqtt-packet/package.json') as { version?: string }).version
  patchParser(proto, version) // another mqtt-packet: left be, nothing is lent
}

/** mqtt.js options with a pool for the client about to be made from them. */
export function lendingOptions<T extends object>(options: T, pool: Lender): T {
  install()
  return Object.assign(options, { [LENDER]: pool })
}
