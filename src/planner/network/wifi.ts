/**
 * Airtime on a shared Wi-Fi channel, from the DCF model (bianchi.ts). Pure.
 *
 * - A transfer alone on the air (a scheduled slot) runs at the sender's rate times the
 *   single-sender DCF efficiency, frames being A-MPDU aggregates.
 * - Transfers that overlap (uncoordinated sending) share the channel: DCF gives every
 *   contending station the same chance to send a frame, so in a round each sends one frame and
 *   all advance at the same frame rate, set by the sum of their frame times: a slow station
 *   drags the fast ones down (the performance anomaly, Heusse et al., INFOCOM 2003). Collisions
 *   among k contenders cost a further factor S(k) / S(1) of Bianchi's model.
 * - In infrastructure mode a device-to-device transfer crosses the air twice (sender to access
 *   point, access point to receiver); a wired endpoint has no air hop.
 */
import { dcfSaturation, type DcfParams } from './bianchi.js'

export interface WifiStandard {
  readonly name: string
  readonly slotUs: number
  readonly sifsUs: number
  readonly difsUs: number
  readonly cwMin: number
  readonly backoffStages: number
  /** PHY preamble and headers of one (aggregate) frame, microseconds. */
  readonly headerUs: number
  /** (Block) ACK with its preamble, microseconds. */
  readonly ackUs: number
  /** Payload bytes of one aggregate frame (A-MPDU) in bulk transfer. */
  readonly aggregateBytes: number
}

/** 802.11ac (Wi-Fi 5): OFDM timing (slot 9, SIFS 16, DIFS 34 us), CWmin 15, A-MPDU up to 64 KiB. */
export const WIFI5: WifiStandard = { name: 'wifi5', slotUs: 9, sifsUs: 16, difsUs: 34, cwMin: 16, backoffStages: 6, headerUs: 44, ackUs: 32, aggregateBytes: 65535 }
/** 802.11n (Wi-Fi 4), 2.4 GHz: same OFDM timing, smaller aggregates in practice. */
export const WIFI4: WifiStandard = { name: 'wifi4', slotUs: 9, sifsUs: 16, difsUs: 34, cwMin: 16, backoffStages: 6, headerUs: 40, ackUs: 32, aggregateBytes: 32768 }
/** 802.11ax (Wi-Fi 6): as Wi-Fi 5 with a longer preamble and larger aggregates. */
export const WIFI6: WifiStandard = { name: 'wifi6', slotUs: 9, sifsUs: 16, difsUs: 34, cwMin: 16, backoffStages: 6, headerUs: 64, ackUs: 32, aggregateBytes: 262144 }

export const WIFI_STANDARDS: Readonly<Record<string, WifiStandard>> = { wifi4: WIFI4, wifi5: WIFI5, wifi6: WIFI6 }

function params(std: WifiStandard, rateBps: number): DcfParams {
  return { rateBps, payloadBits: std.aggregateBytes * 8, headerUs: std.headerUs, ackUs: std.ackUs, slotUs: std.slotUs, sifsUs: std.sifsUs, difsUs: std.difsUs, delayUs: 1, cwMin: std.cwMin, backoffStages: std.backoffStages }
}

const efficiencyCache = new WeakMap<WifiStandard, Map<number, number>>()

/** Fraction of a lone sender's channel time that carries payload at `rateBps` (memoised). */
export function soloEfficiency(std: WifiStandard, rateBps: number): number {
  let byRate = efficiencyCache.get(std)
  if (!byRate) efficiencyCache.set(std, (byRate = new Map()))
  let e = byRate.get(rateBps)
  if (e === undefined) {
    e = dcfSaturation(1, params(std, rateBps)).efficiency
    byRate.set(rateBps, e)
  }
  return e
}

/** Seconds of air for `bytes` sent alone by a station of `rateBps` (one hop). */
export function soloAirtimeS(std: WifiStandard, bytes: number, rateBps: number): number {
  if (bytes <= 0) return 0
  return (bytes * 8) / (rateBps * soloEfficiency(std, rateBps))
}

/**
 * Payload throughput of each of k stations that send at once, bits per second: equal frame
 * rates (DCF fairness), times the collision loss of k contenders.
 */
export function contendedThroughputsBps(std: WifiStandard, ratesBps: readonly number[]): number[] {
  const k = ratesBps.length
  if (k === 0) return []
  const frameBits = std.aggregateBytes * 8
  const round = ratesBps.reduce((s, r) => s + frameBits / (r * soloEfficiency(std, r)), 0)
  const meanRate = k / ratesBps.reduce((s, r) => s + 1 / r, 0)
  const collisionLoss = dcfSaturation(k, params(std, meanRate)).efficiency / dcfSaturation(1, params(std, meanRate)).efficiency
  return ratesBps.map(() => (frameBits / round) * collisionLoss)
}

/**
 * Seconds of air one short frame takes when its station is alone on the air (an MQTT
 * acknowledgement, a heartbeat): the mean backoff before it, PHY and MAC headers, the payload at
 * `rateBps`, SIFS, the ACK and DIFS. No aggregation: short frames go one by one, and on a fast
 * link their overheads are most of their air time.
 */
export function shortFrameAirS(std: WifiStandard, bytes: number, rateBps: number): number {
  const backoffUs = ((std.cwMin - 1) / 2) * std.slotUs
  return (backoffUs + std.headerUs + (bytes * 8 * 1e6) / rateBps + std.sifsUs + std.ackUs + std.difsUs + 2) / 1e6
}
