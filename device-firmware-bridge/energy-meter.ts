/**
 * A device's energy account from its power model (the profile's idle and active watts and its
 * radio's joules per byte): idle power all the time, the difference to active power while a stage
 * runs, and the radio per byte sent and received. For an emulated device this is the energy the
 * emulated hardware would use; for a real one it is an estimate from the power figures given,
 * not a measurement.
 */
import type { DeviceProfile } from '../src/shared/device-profile.js'

export class EnergyMeter {
  private busyMs = 0
  private txBytes = 0
  private rxBytes = 0

  /** `timeScale`: the emulation clock factor; idle time is counted in profile time (wall / K). */
  constructor(private readonly p: DeviceProfile, private readonly startMs: number, private readonly timeScale = 1) {}

  busy(ms: number): void {
    this.busyMs += ms
  }

  /** Profile milliseconds spent running stages since the device started. */
  get busyTotalMs(): number {
    return this.busyMs
  }

  sent(bytes: number): void {
    this.txBytes += bytes
  }

  received(bytes: number): void {
    this.rxBytes += bytes
  }

  /** Joules since the device started. */
  joules(nowMs: number): number {
    const idle = (this.p.idleW * Math.max(0, nowMs - this.startMs)) / 1000 / this.timeScale
    const active = ((this.p.activeW - this.p.idleW) * this.busyMs) / 1000
    return idle + active + this.txBytes * this.p.txJPerByte + this.rxBytes * this.p.rxJPerByte
  }

  /** Joules above idle (what the work itself cost). */
  workJoules(): number {
    return ((this.p.activeW - this.p.idleW) * this.busyMs) / 1000 + this.txBytes * this.p.txJPerByte + this.rxBytes * this.p.rxJPerByte
  }
}
