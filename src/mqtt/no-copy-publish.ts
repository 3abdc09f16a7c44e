/**
 * mqtt.js 5 deep-copies every QoS 1/2 PUBLISH, payload included (rfdc, `_storeAndSend`), before
 * putting it in its outgoing store for re-sending, only so that it can strip an MQTT 5 topic alias
 * from the stored copy. For a 256 KiB tensor chunk that is a fresh allocation and a copy of every
 * byte sent, the largest single cost of the sending process (BENCHMARKS.md, issue 18 profile).
 * Dora never uses topic aliases and never changes a payload after publishing it, so the store can
 * hold the packet itself. Applied per client; clients with topic aliases keep the copy.
 *
 * The same clients also write a SplitPayload (a tensor chunk's CBOR header, then a view of the
 * tensor's bytes) as one PUBLISH without joining its parts: the fixed header, topic, packet id
 * and the payload's head in one small buffer, then the body, corked into one write. A packet
 * stored while offline is kept joined (mqtt.js deep-copies those). `canSendSplit` tells whether
 * a client takes SplitPayloads; others get them joined (`payloadFor`).
 */
import type { MqttClient } from 'mqtt'
import { SplitPayload, joined } from '../shared/split-payload.js'

interface Packet {
  cmd: string
  topic?: string
  payload?: unknown
  qos?: number
  dup?: boolean
  retain?: boolean
  messageId?: number
}

interface StoreInternals {
  outgoingStore: { put(packet: unknown, cb: (err?: Error) => void): void }
  stream: { cork(): void; uncork(): void; write(b: Uint8Array): boolean; once(e: 'drain', cb: () => void): void }
  noop: unknown
  emit(event: 'packetsend', packet: unknown): boolean
  _writePacket(packet: Packet, cb?: (err?: Error) => void): void
  _storePacket(packet: Packet, cb?: (err?: Error) => void, cbStorePut?: () => void): void
  _storeAndSend(packet: Packet, cb: ((err?: Error) => void) | undefined, cbStorePut: () => void): void
}

const patched = new WeakSet<MqttClient>()

export function storeWithoutCopy(client: MqttClient): void {
  const o = client.options as { autoUseTopicAlias?: boolean; autoAssignTopicAlias?: boolean; protocolVersion?: number }
  if (o.autoUseTopicAlias || o.autoAssignTopicAlias) return
  const c = client as unknown as StoreInternals
  // another mqtt.js: leave it be
  if (typeof c._storeAndSend !== 'function' || typeof c._writePacket !== 'function' || typeof c._storePacket !== 'function') return
  c._storeAndSend = function (packet, cb, cbStorePut) {
    this.outgoingStore.put(packet, (err) => {
      if (err) return cb?.(err)
      cbStorePut()
      this._writePacket(packet, cb)
    })
  }
  if (o.protocolVersion === 5) return // MQTT 5 PUBLISH carries properties: SplitPayloads go joined
  const storePacket = c._storePacket
  c._storePacket = function (packet, cb, cbStorePut) {
    if (packet.payload instanceof SplitPayload) packet.payload = packet.payload.join()
    storePacket.call(this, packet, cb, cbStorePut)
  }
  const writePacket = c._writePacket
  c._writePacket = function (packet, cb) {
    if (packet.cmd !== 'publish' || !(packet.payload instanceof SplitPayload)) return writePacket.call(this, packet, cb)
    this.emit('packetsend', packet)
    const { head, body } = packet.payload
    const stream = this.stream
    stream.cork()
    stream.write(publishPrefix(packet, head))
    const ok = stream.write(body)
    process.nextTick(() => stream.uncork())
    if (!ok && cb && cb !== this.noop) stream.once('drain', cb)
    else cb?.()
  }
  patched.add(client)
}

/** Whether `client` writes SplitPayloads as they are. */
export function canSendSplit(client: MqttClient): boolean {
  return patched.has(client)
}

/** The payload to hand `client`: a SplitPayload as it is where the client takes it, else joined. */
export function payloadFor(client: MqttClient, payload: string | Buffer | SplitPayload): string | Buffer {
  if (!(payload instanceof SplitPayload)) return payload
  // mqtt.js hands the payload, untouched, to the patched _writePacket
  return canSendSplit(client) ? (payload as unknown as Buffer) : joined(payload)
}

/** [MQTT-2.2.3] the remaining-length varint of a packet body of `bodyLength` bytes. */
export function remainingLength(bodyLength: number): Buffer {
  const varint: number[] = []
  let n = bodyLength
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    varint.push(byte)
  } while (n > 0)
  return Buffer.from(varint)
}

/** An MQTT 3.1.1 PUBLISH up to its payload, followed by the payload's head ([MQTT-3.3.1]). */
function publishPrefix(packet: Packet, head: Buffer): Buffer {
  const payload = packet.payload as SplitPayload
  const qos = packet.qos ?? 0
  const topic = Buffer.from(packet.topic ?? '', 'utf8')
  const remaining = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.byteLength
  const varint = remainingLength(remaining)
  const out = Buffer.allocUnsafe(1 + varint.length + 2 + topic.length + (qos > 0 ? 2 : 0) + head.length)
  let at = out.writeUInt8(0x30 | (packet.dup ? 0x08 : 0) | (qos << 1) | (packet.retain ? 0x01 : 0), 0)
  for (const b of varint) at = out.writeUInt8(b, at)
  at = out.writeUInt16BE(topic.length, at)
  at += topic.copy(out, at)
  if (qos > 0) at = out.writeUInt16BE(packet.messageId ?? 0, at)
  head.copy(out, at)
  return out
}
