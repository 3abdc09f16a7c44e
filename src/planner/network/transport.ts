/**
 * What a tensor costs on its way besides the air: MQTT and chunk framing, the wired links, and
 * the broker's relay. Pure; shared by the cost model and the simulator so both see one system.
 *
 * - Framing: a tensor goes as chunks of at most `chunkBytes` of data, each one MQTT PUBLISH with
 *   a CBOR chunk header and the topic (`messageOverheadBytes` per chunk), carried by TCP/IP in
 *   segments of 1,460 bytes with 40 bytes of headers. The air and the wires carry the framed bytes,
 *   and on every air hop each chunk message's PUBACK (QoS 1) comes back over the same station's
 *   link as one short frame (cost.ts hopAirBits).
 * - A wired device (linkRateBps null) reaches the hub's broker over its own switched link at
 *   `wiredRateBps` after `wiredLatencyMs` per message; its link is not shared with the air.
 * - Every transfer between two endpoints passes the hub's broker once: `brokerRelayMs` per
 *   message plus the framed bytes at `brokerBps` (Aedes relays 170-440 MB/s on loopback, design
 *   brief; 300 MB/s assumed).
 * Defaults: gigabit Ethernet, 0.2 ms per wired message, 0.5 ms per relay (our estimates).
 */

export interface Transport {
  /** Tensor data bytes per chunk message (the hub's tensors.chunkBytes). */
  readonly chunkBytes: number
  /** CBOR chunk header + MQTT fixed header + topic, bytes per chunk message. */
  readonly messageOverheadBytes: number
  readonly wiredRateBps: number
  readonly wiredLatencyMs: number
  readonly brokerRelayMs: number
  readonly brokerBps: number
}

export const DEFAULT_TRANSPORT: Transport = {
  chunkBytes: 256 * 1024,
  messageOverheadBytes: 420,
  wiredRateBps: 1e9,
  wiredLatencyMs: 0.2,
  brokerRelayMs: 0.5,
  brokerBps: 2.4e9,
}

/** The transport of a system whose tensors go in chunks of `chunkBytes` (the hub's `tensors.chunkBytes`, a scenario's `network.chunkBytes`), the rest as DEFAULT_TRANSPORT. */
export function transportWithChunks(chunkBytes: number | undefined): Transport {
  return chunkBytes === undefined ? DEFAULT_TRANSPORT : { ...DEFAULT_TRANSPORT, chunkBytes }
}

const TCP_SEGMENT_BYTES = 1460
const TCP_IP_HEADER_BYTES = 40

/** A QoS 1 chunk message's PUBACK on the link: 4 bytes of MQTT and 40 of TCP/IP. */
export const PUBACK_WIRE_BYTES = 44

/** Chunk messages `bytes` of tensor data go as (each one PUBLISH, and one PUBACK back). */
export function chunkMessages(bytes: number, t: Transport = DEFAULT_TRANSPORT): number {
  return bytes <= 0 ? 0 : Math.max(1, Math.ceil(bytes / t.chunkBytes))
}

/** Bytes on the link for `bytes` of tensor data: chunk messages and TCP/IP segments. */
export function framedBytes(bytes: number, t: Transport = DEFAULT_TRANSPORT): number {
  if (bytes <= 0) return 0
  const messages = chunkMessages(bytes, t)
  const mqtt = bytes + messages * t.messageOverheadBytes
  return mqtt + Math.ceil(mqtt / TCP_SEGMENT_BYTES) * TCP_IP_HEADER_BYTES
}

/** Seconds a wired hop takes for `bytes` of tensor data (latency per chunk message plus the bits). */
export function wiredHopS(bytes: number, t: Transport = DEFAULT_TRANSPORT): number {
  if (bytes <= 0) return 0
  return (chunkMessages(bytes, t) * t.wiredLatencyMs) / 1000 + (framedBytes(bytes, t) * 8) / t.wiredRateBps
}

/** Seconds the broker takes to relay `bytes` of tensor data (one transfer, all its chunks). */
export function relayS(bytes: number, t: Transport = DEFAULT_TRANSPORT): number {
  if (bytes <= 0) return 0
  return t.brokerRelayMs / 1000 + (framedBytes(bytes, t) * 8) / t.brokerBps
}
