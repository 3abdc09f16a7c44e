/**
 * The demo waits for its fleet (EMULATION): every device joined, the plan made after that is open
 * on its devices (stage models travel over the emulated Wi-Fi, as slow as its clock), and it stays
 * so for a second.
 */
import { setTimeout as pause } from 'node:timers/promises'
import { DoraError, ErrorCodes } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { JobService } from '../hub/job-service.js'

export interface ReadyOptions {
  readonly devices: number
  readonly timeoutS: number
  readonly progress: (line: string) => void
  /** The devices' latest messages, for the error when the fleet is not ready in time. */
  readonly lines: readonly string[]
  readonly signal?: AbortSignal | undefined
}

export async function waitReady(hub: Hub, service: JobService, o: ReadyOptions): Promise<void> {
  const readyBy = Date.now() + o.timeoutS * 1000
  let lastNote = ''
  let stable = null as { epoch: number; sinceMs: number } | null
  for (;;) {
    const e = service.epoch
    const online = hub.registry.snapshot().filter((d) => d.status === 'online')
    const devices = e ? Object.keys(e.assignments) : []
    const opened = (id: string) => (online.find((d) => d.id === id)?.lastHeartbeat?.epoch ?? 0) >= e!.epoch
    const ready = e !== null && online.length === o.devices && devices.every(opened)
    if (ready && stable?.epoch === e.epoch && Date.now() - stable.sinceMs >= 1000) return
    if (ready && stable?.epoch !== e.epoch) stable = { epoch: e.epoch, sinceMs: Date.now() }
    if (!ready) stable = null
    const notReady = e ? devices.filter((id) => !opened(id)) : []
    const note = !e ? `${online.length}/${o.devices} devices online; planning`
      : notReady.length ? `epoch ${e.epoch}: waiting for ${notReady.join(', ')} to open their stage models`
      : online.length < o.devices ? `epoch ${e.epoch} ready; waiting for ${o.devices - online.length} more device(s) to join`
      : `epoch ${e.epoch} ready on every device; checking that it stays`
    if (note !== lastNote) o.progress(note)
    lastNote = note
    if (Date.now() > readyBy) throw new DoraError(ErrorCodes.DEMO_NOT_READY, `the fleet was not ready after ${o.timeoutS} s (${note}); device messages: ${o.lines.slice(-5).join(' | ') || 'none'}`)
    await demoSleep(200, o.signal)
  }
}

/** Waits `ms`; rejects with DEMO_STOPPED at once when the demo is aborted. */
export const demoSleep = (ms: number, signal?: AbortSignal) =>
  pause(ms, undefined, signal ? { signal } : {}).catch((err: Error) => {
    throw signal?.aborted ? new DoraError(ErrorCodes.DEMO_STOPPED, `the demo was stopped (${String(signal.reason)})`) : err
  })
