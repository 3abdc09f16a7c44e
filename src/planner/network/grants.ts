/**
 * What a hub grant costs (topics.md § Air grants). Pure. Before each air hop a device sends with
 * grants, it asks the hub and waits for the grant: the ask goes up the device's link as one short
 * frame, the broker relays it to the hub (beside the broker), the hub answers, the broker relays
 * the grant, and it comes down the device's link as one short frame. Meanwhile the air is held
 * for the device (the hub grants no one else; when the air passes from one holder to the next
 * the same round trip runs from the holder's `done` to the next grant). The access point's own
 * forwarding asks for nothing. Message sizes are CBOR bodies with the MQTT header, the topic and
 * TCP/IP headers (our count); the hub's handling time is our estimate. When the devices have
 * measured the round trip (`network.grantRoundTripMs`, the hub's plausible fleet-wide figure),
 * that figure is the cost instead of the model's.
 */
import { DEFAULT_TRANSPORT } from './transport.js'
import { shortFrameAirS } from './wifi.js'
import type { Network } from '../types.js'

/** An ask or a grant on the link: ~40 B of CBOR, ~45 B of MQTT header and topic, 40 B of TCP/IP. */
export const GRANT_MESSAGE_BYTES = 125
/** The hub's handling of an ask, ms (its queue and a CBOR encode). */
export const HUB_GRANT_MS = 0.2

/** Seconds from a device's ask to its grant with nothing queued (the air held meanwhile): measured when known, else modelled. */
export function grantRoundTripS(rateBps: number, network: Network): number {
  if (!Number.isFinite(rateBps)) return 0
  if (network.grantRoundTripMs !== undefined) return network.grantRoundTripMs / 1000
  return modelledGrantRoundTripS(rateBps, network)
}

/** The model's round trip of a grant on a link of `rateBps`, seconds (never the measured figure). */
export function modelledGrantRoundTripS(rateBps: number, network: Network): number {
  if (!Number.isFinite(rateBps)) return 0
  const t = network.transport ?? DEFAULT_TRANSPORT
  const frame = shortFrameAirS(network.standard, GRANT_MESSAGE_BYTES, rateBps) / network.availableAirtime
  return 2 * frame + (2 * t.brokerRelayMs + HUB_GRANT_MS) / 1000
}

/** The grant a hop pays before it takes the air: with grants, a device's air hop; else none. */
export function grantHoldS(hop: { rateBps: number; txDevice: string | null }, network: Network): number {
  return network.grants && network.coordination === 'scheduled' && hop.txDevice !== null ? grantRoundTripS(hop.rateBps, network) : 0
}
