/**
 * The device runtime both executors run on (inference: executor.ts, training: training.ts): this
 * device's id and profile, its clock, the chunk size of what it sends, its publish (every byte
 * counted in its energy account), its stage timings, and time dilation: an emulated device waits
 * after a real onnxruntime run until the time its profile takes for that run (the shared
 * compute-time model, src/shared/compute-time.ts, which the planner predicts with), stretched by
 * the emulation clock's `timeScale`.
 */
import type { Tensor } from '../src/protocol/reassembly.js'
import type { ActivationCodec } from '../src/protocol/activation-codec.js'
import type { Hop } from '../src/protocol/chunks.js'
import type { DeviceProfile } from '../src/shared/device-profile.js'
import { flopsTimeMs, type Flops } from '../src/shared/compute-time.js'
import { sendTensor, type WireTensor, type Payload } from '../src/runtime/send-tensor.js'
import { EnergyMeter } from './energy-meter.js'
import { StageTimings } from './stage-timings.js'
import type { TensorIntake } from './intake.js'

export interface RuntimeOptions {
  readonly id: string
  readonly profile: DeviceProfile
  /** Wait after each run until the profile's time (emulated devices). */
  readonly dilate: boolean
  /** Emulation clock: profile times are stretched by this factor (1: real time). */
  readonly timeScale?: number
  /** Largest chunk of a tensor this device sends, bytes. */
  readonly chunkBytes: number
  /** Sends one message (the agent: through its chunk batcher on its MQTT client). */
  readonly send: (topic: string, payload: Payload) => Promise<void>
  /** Milliseconds since the Unix epoch (default: the high-resolution clock). */
  readonly clock?: () => number
  readonly onError: (message: string) => void
}

/** Where whole tensors of one executor go, and its refusals. */
export interface TensorSink {
  accept(jobId: string, t: Tensor): void
  reject(jobId: string, why: string): void
}

/** A dilated run: its time in profile ms (what the device reports), and how much the real run overran the profile's time (host ms). */
export interface Dilated {
  readonly tookMs: number
  readonly lateMs: number
  readonly slower: boolean
}

export const hostClock = (): number => performance.timeOrigin + performance.now()

export class DeviceRuntime {
  readonly id: string
  readonly profile: DeviceProfile
  readonly dilate: boolean
  readonly timeScale: number
  readonly chunkBytes: number
  readonly clock: () => number
  readonly onError: (message: string) => void
  readonly energy: EnergyMeter
  /** Stage times since the last heartbeat (of both executors). */
  readonly timings = new StageTimings()

  constructor(private readonly o: RuntimeOptions) {
    this.id = o.id
    this.profile = o.profile
    this.dilate = o.dilate
    this.timeScale = o.timeScale ?? 1
    this.chunkBytes = o.chunkBytes
    this.clock = o.clock ?? hostClock
    this.onError = o.onError
    this.energy = new EnergyMeter(o.profile, this.clock(), this.timeScale)
  }

  /** Sends one message, its bytes counted as sent by this device's radio. */
  readonly publish = async (topic: string, payload: Payload): Promise<void> => {
    this.energy.sent(payload.byteLength)
    await this.o.send(topic, payload)
  }

  /** Sends a tensor in chunks of chunkBytes (compressed with `codec` when given). */
  sendTensor(topic: string, t: WireTensor, meta: { req: string; epoch: number | null; hop?: Hop | undefined }, codec?: ActivationCodec): Promise<void> {
    return sendTensor(this.publish, topic, t, meta, this.chunkBytes, codec)
  }

  /** One chunk message from a job's tensors topic: counted as received, reassembled; whole tensors go to the sink. */
  receive(intake: TensorIntake, jobId: string, payload: Uint8Array, sink: TensorSink): void {
    this.energy.received(payload.byteLength)
    for (const r of intake.add(jobId, payload, this.clock())) {
      if (r.status === 'rejected') sink.reject(jobId, r.error)
      else if (r.status === 'complete') sink.accept(jobId, r.tensor)
    }
  }

  /**
   * How long a run takes on this device's profile, host ms (profile ms x timeScale): the stage
   * overhead plus `passes` x `samples` x the work of `flops` (per sample). Null: FLOPs unknown.
   */
  profileRunMs(flops: Flops | null | undefined, samples = 1, passes = 1): number | null {
    return flops ? flopsTimeMs(this.profile, flops, samples, passes) * this.timeScale : null
  }

  /**
   * After a real run that began at `startMs`: waits until `targetMs` (profileRunMs) have passed
   * when dilating (a run already slower than that is counted `slower`, never shortened); counts
   * the run's busy time in the energy account. A null target (FLOPs unknown) waits for nothing.
   */
  async dilateRun(startMs: number, targetMs: number | null): Promise<Dilated> {
    const realMs = this.clock() - startMs
    const target = targetMs ?? realMs
    const slower = this.dilate && realMs > target
    const lateMs = this.dilate ? Math.max(0, realMs - target) : 0
    if (this.dilate && !slower) await new Promise((r) => setTimeout(r, target - realMs))
    const tookMs = (this.clock() - startMs) / this.timeScale
    this.energy.busy(tookMs)
    return { tookMs, lateMs, slower }
  }
}
