/**
 * mqtt.js 5 deep-copies every QoS 1/2 PUBLISH, payload included (rfdc, `_storeAndSend`), before
 * putting it in its outgoing store for re-sending, only so that it can strip an MQTT 5 topic alias
 * from the stored copy. For a 256 KiB tensor chunk that is a fresh allocation and a copy of every
 * byte sent, the largest single cost of the sending process (BENCHMARKS.md, issue 18 profile).
 * Dora never uses topic aliases and never changes a payload after publishing it, so the store can
 * hold the packet itself. Applied per client; clients with topic aliases keep the copy.
 */
import type { MqttClient } from 'mqtt'

interface StoreInternals {
  outgoingStore: { put(packet: unknown, cb: (err?: Error) => void): void }
  _writePacket(packet: unknown, cb?: (err?: Error) => void): void
  _storeAndSend(packet: unknown, cb: ((err?: Error) => void) | undefined, cbStorePut: () => void): void
}

export function storeWithoutCopy(client: MqttClient): void {
  const o = client.options as { autoUseTopicAlias?: boolean; autoAssignTopicAlias?: boolean }
  if (o.autoUseTopicAlias || o.autoAssignTopicAlias) return
  const c = client as unknown as StoreInternals
  if (typeof c._storeAndSend !== 'function' || typeof c._writePacket !== 'function') return // another mqtt.js: leave it be
  c._storeAndSend = function (packet, cb, cbStorePut) {
    this.outgoingStore.put(packet, (err) => {
      if (err) return cb?.(err)
      cbStorePut()
      this._writePacket(packet, cb)
    })
  }
}
