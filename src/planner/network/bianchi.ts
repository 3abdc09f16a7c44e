/**
 * Saturation throughput of the 802.11 DCF (Bianchi, "Performance Analysis of the IEEE 802.11
 * Distributed Coordination Function", IEEE JSAC 18(3), 2000). Pure.
 *
 * n stations always have a frame to send. With W = CWmin + 1 and m backoff stages, the
 * probability tau that a station transmits in a slot and the probability p that its frame
 * collides solve (Bianchi eq. 7 and 9):
 *   tau = 2 (1 - 2p) / ((1 - 2p)(W + 1) + p W (1 - (2p)^m)),   p = 1 - (1 - tau)^(n - 1),
 * found here by bisection on p (the right-hand side is monotone). Then (eq. 13)
 *   S = Ps Ptr E[P] / ((1 - Ptr) slot + Ptr Ps Ts + Ptr (1 - Ps) Tc)
 * with Ptr = 1 - (1 - tau)^n, Ps = n tau (1 - tau)^(n-1) / Ptr.
 * Basic access (eq. 14): Ts = H + E[P] + SIFS + delta + ACK + DIFS + delta,
 *                        Tc = H + E[P*] + DIFS + delta, where E[P*] = E[P] (equal frames).
 * Collision time counts the longest colliding frame plus DIFS, as Bianchi's basic-access Tc;
 * it does not add an ACK timeout (implementations that do come out lower at large n).
 */

export interface DcfParams {
  /** Channel bit rate for payload, bits per second. */
  rateBps: number
  /** Payload bits per frame (per aggregate, with A-MPDU). */
  payloadBits: number
  /** Time of the PHY preamble + header plus MAC header, microseconds. */
  headerUs: number
  /** Time of the ACK (or block ACK), PHY header included, microseconds. */
  ackUs: number
  slotUs: number
  sifsUs: number
  difsUs: number
  /** Propagation delay, microseconds. */
  delayUs: number
  /** W = CWmin + 1. */
  cwMin: number
  /** Backoff stages: CWmax + 1 = 2^m W. */
  backoffStages: number
}

export interface DcfResult {
  /** Transmission probability per slot. */
  tau: number
  /** Conditional collision probability. */
  p: number
  /** Normalised saturation throughput: fraction of channel time carrying payload bits. */
  efficiency: number
  /** Aggregate payload throughput of all stations, bits per second. */
  throughputBps: number
}

/** Bianchi's FHSS parameters (Table II of the paper): for checking the implementation. */
export const BIANCHI_FHSS: DcfParams = {
  rateBps: 1e6,
  payloadBits: 8184,
  headerUs: 400, // 272-bit MAC header + 128-bit PHY header at 1 Mbit/s
  ackUs: 240, // 112-bit ACK + 128-bit PHY header
  slotUs: 50,
  sifsUs: 28,
  difsUs: 128,
  delayUs: 1,
  cwMin: 32,
  backoffStages: 5,
}

function tauOf(p: number, w: number, m: number): number {
  if (Math.abs(1 - 2 * p) < 1e-12) p += 1e-9 // removable singularity at p = 1/2
  return (2 * (1 - 2 * p)) / ((1 - 2 * p) * (w + 1) + p * w * (1 - (2 * p) ** m))
}

export function dcfSaturation(n: number, params: DcfParams): DcfResult {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`stations must be a positive integer, got ${n}`)
  const { cwMin: w, backoffStages: m } = params
  let p = 0
  if (n > 1) {
    // f(p) = 1 - (1 - tau(p))^(n-1) - p is decreasing in p; bisect on [0, 1).
    let lo = 0
    let hi = 1 - 1e-12
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2
      const f = 1 - (1 - tauOf(mid, w, m)) ** (n - 1) - mid
      if (f > 0) lo = mid
      else hi = mid
    }
    p = (lo + hi) / 2
  }
  const tau = tauOf(p, w, m)
  const ptr = 1 - (1 - tau) ** n
  const ps = (n * tau * (1 - tau) ** (n - 1)) / ptr
  const payloadUs = (params.payloadBits / params.rateBps) * 1e6
  const ts = params.headerUs + payloadUs + params.sifsUs + params.delayUs + params.ackUs + params.difsUs + params.delayUs
  const tc = params.headerUs + payloadUs + params.difsUs + params.delayUs
  const efficiency = (ps * ptr * payloadUs) / ((1 - ptr) * params.slotUs + ptr * ps * ts + ptr * (1 - ps) * tc)
  return { tau, p, efficiency, throughputBps: efficiency * params.rateBps }
}
