/**
 * When a device may send in its slots: the work-conserving slot gate (shared/slot-gate.ts, pure),
 * here where the runtime's senders (device-firmware-bridge/transfer-gate.ts) take it from.
 */
export { SlotGate, type Slot } from '../shared/slot-gate.js'
