/**
 * A device's profile: what both the planner (to cost plans) and an emulated device (to dilate its
 * compute to the profile's speed) read, plus the defaults for what caps do not carry. Plain data.
 * Units are in the names: Ms, Bytes, Bps (bits per second), W, J.
 */

/** Effective FLOP/s (or FLOPs) per op class. */
export type OpClassFlops = Readonly<{ conv: number; matmul: number; elementwise: number }>

/** A device as the planner sees it: a snapshot built from its caps and measurements. */
export interface DeviceProfile {
  readonly id: string
  readonly kind: string
  /** True for emulated devices; reports label them. */
  readonly emulated: boolean
  /** Effective FLOP/s per op class (measured by the device). */
  readonly flopsPerSec: OpClassFlops
  /** Fixed cost of running one stage once (session call, copies), ms. */
  readonly stageOverheadMs: number
  readonly memoryBytes: number
  readonly idleW: number
  readonly activeW: number
  /** Radio energy per byte sent and received, joules. */
  readonly txJPerByte: number
  readonly rxJPerByte: number
  /** Effective PHY rate to the access point, bits/s; null for a wired device. */
  readonly linkRateBps: number | null
  readonly battery: Readonly<{ capacityWh: number; levelPct: number; minPct: number }> | null
}

/**
 * What caps do not carry: a fixed per-stage overhead of 1 ms and the per-packet Wi-Fi energy
 * model's radio energy per byte (as in scenario files).
 */
export const DEFAULT_STAGE_OVERHEAD_MS = 1
export const DEFAULT_TX_J_PER_BYTE = 1.9e-6
export const DEFAULT_RX_J_PER_BYTE = 0.42e-6
