/**
 * The most bytes a device's control message may have (topics.md § Device registry, § Air grants),
 * checked before a byte of it is decoded: the hub decodes caps, heartbeats, availability and air
 * messages on its event loop, and a packet-sized payload of valid but tiny CBOR items (a million
 * empty maps in 1 MiB) costs it hundreds of milliseconds to decode before the schema refuses it.
 * Each bound sits above the largest message its schema accepts (test/protocol/device-message-limits.test.ts),
 * so no valid message is refused.
 */
export const DEVICE_MESSAGE_MAX_BYTES = {
  caps: 16 * 1024,
  heartbeat: 64 * 1024,
  availability: 64,
  air: 1024,
} as const

export type DeviceMessageKind = keyof typeof DEVICE_MESSAGE_MAX_BYTES

/** Why a device's `kind` message of `bytes` is refused unread, or null when its size is fine. */
export function deviceMessageTooLarge(kind: DeviceMessageKind, bytes: number): string | null {
  const max = DEVICE_MESSAGE_MAX_BYTES[kind]
  return bytes > max ? `${kind} message of ${bytes} bytes is over the ${max} bytes a ${kind} message may have (refused unread)` : null
}
