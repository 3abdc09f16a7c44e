/**
 * Who may connect, publish and subscribe on the embedded broker (README § Security).
 * - the hub: everything under dora/v1;
 * - a device (username = device id): publishes only its own caps, heartbeat, availability and
 *   air asks (never its own grants),
 *   and the data-plane topics (tensors, results and receipts to any consumer, training steps, its stages'
 *   checkpoints and restore requests to the hub) of jobs it is
 *   assigned to (or a source of); subscribes to its own device topics, the hub topics, every plan, the tensors,
 *   results, receipts and the hub's checkpoint answers addressed to it (of any job), and its jobs' requests and steps;
 * - an observer (dashboard): subscribes under dora/v1, publishes nothing but Home Assistant's
 *   birth message (with discovery on: Home Assistant sends it on connecting);
 * - an operator: reads like an observer and publishes job specs (submit, cancel), the ONNX
 *   models it uploads with them, and job goals (the Home Assistant select);
 * - anonymous (only when config allows, by default only from loopback): like the hub, for demos.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { filters, ha, parseTopic, topics } from '../protocol/topics.js'
import { filterWithin, topicMatches } from '../shared/topic-filter.js'

export type Principal =
  | { role: 'hub' }
  | { role: 'device'; deviceId: string }
  | { role: 'observer'; username: string }
  | { role: 'operator'; username: string }
  | { role: 'anonymous' }

interface Credential {
  password?: string | undefined
  passwordSha256?: string | undefined
}

export interface AclOptions {
  hub: { username: string; password: string }
  devices: ReadonlyArray<Credential & { id: string }>
  observers: ReadonlyArray<Credential & { username: string }>
  /** Operators: read like observers, and submit or cancel jobs on dora/v1/jobs/{job}/spec. */
  operators?: ReadonlyArray<Credential & { username: string }>
  allowAnonymous: boolean
  anonymousLoopbackOnly: boolean
  /** The jobs a device is currently assigned to (its data-plane topics). */
  jobsOf: (deviceId: string) => Iterable<string>
  /**
   * Home Assistant's discovery prefix when discovery is on: the hub publishes and reads under it,
   * observers and operators read it, operators may send Home Assistant's birth message.
   */
  homeAssistantPrefix?: string | null
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest()

function passwordMatches(cred: Credential, given: Buffer): boolean {
  const want = cred.passwordSha256 ? Buffer.from(cred.passwordSha256, 'hex') : sha256(cred.password ?? '')
  return timingSafeEqual(want, sha256(given))
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

export class Acl {
  private readonly devices: Map<string, Credential>
  private readonly observers: Map<string, Credential>
  private readonly operators: Map<string, Credential>

  constructor(private readonly options: AclOptions) {
    this.devices = new Map(options.devices.map((d) => [d.id, d]))
    this.observers = new Map(options.observers.map((o) => [o.username, o]))
    this.operators = new Map((options.operators ?? []).map((o) => [o.username, o]))
  }

  /** Returns who the client is, or null to refuse the connection. */
  authenticate(username: string | undefined, password: Buffer | undefined, remoteAddress: string | undefined): Principal | null {
    if (username === undefined || username === '') {
      if (!this.options.allowAnonymous) return null
      if (this.options.anonymousLoopbackOnly && !isLoopback(remoteAddress)) return null
      return { role: 'anonymous' }
    }
    const pw = password ?? Buffer.alloc(0)
    if (username === this.options.hub.username) {
      return passwordMatches({ password: this.options.hub.password }, pw) ? { role: 'hub' } : null
    }
    const device = this.devices.get(username)
    if (device) return passwordMatches(device, pw) ? { role: 'device', deviceId: username } : null
    const observer = this.observers.get(username)
    if (observer) return passwordMatches(observer, pw) ? { role: 'observer', username } : null
    const operator = this.operators.get(username)
    if (operator) return passwordMatches(operator, pw) ? { role: 'operator', username } : null
    return null
  }

  private underHa(topic: string): boolean {
    const prefix = this.options.homeAssistantPrefix
    return !!prefix && topicMatches(`${prefix}/#`, topic)
  }

  canPublish(who: Principal, topic: string): boolean {
    switch (who.role) {
      case 'hub':
      case 'anonymous':
        return topicMatches(filters.everything, topic) || this.underHa(topic)
      case 'observer':
        // only Home Assistant's birth and will message, which it sends whenever it connects
        return !!this.options.homeAssistantPrefix && topic === ha.status(this.options.homeAssistantPrefix)
      case 'operator':
        return topicMatches(filters.allJobSpecs, topic) || topicMatches(filters.allUploads, topic) || topicMatches(ha.allJobGoalSets, topic)
          || (!!this.options.homeAssistantPrefix && topic === ha.status(this.options.homeAssistantPrefix))
      case 'device': {
        const id = who.deviceId
        if (topic === topics.device(id, 'caps') || topic === topics.device(id, 'heartbeat') || topic === topics.device(id, 'availability') || topic === topics.device(id, 'air')) return true
        for (const job of this.options.jobsOf(id)) {
          if (topicMatches(filters.jobTensorsAnyDevice(job), topic) || topicMatches(filters.jobResultsAny(job), topic) || topicMatches(filters.jobResultsAny(job, 'receipts'), topic) || topic === topics.job(job, 'steps')) return true
          // its stages' state to the hub (only the hub reads these)
          if (topic === topics.trainingState(job, 'checkpoint') || topic === topics.trainingState(job, 'restore')) return true
        }
        return false
      }
    }
  }

  /**
   * Whether a message on `topic` may be delivered to `who` (checked per message, so a broad
   * subscription such as an observer's `dora/v1/#` does not carry it): training state (a job's
   * parameters and optimizer state) goes only to the hub and to the device it is addressed to.
   */
  canReceive(who: Principal, topic: string): boolean {
    if (!topic.includes('/checkpoint') && !topic.includes('/restore')) return true
    const t = parseTopic(topic)
    if (t?.scope !== 'state') return true
    if (who.role === 'hub' || who.role === 'anonymous') return true
    return who.role === 'device' && t.toDeviceId === who.deviceId
  }

  canSubscribe(who: Principal, filter: string): boolean {
    switch (who.role) {
      case 'hub':
      case 'anonymous':
      case 'observer':
      case 'operator':
        return filterWithin(filter, filters.everything) || (!!this.options.homeAssistantPrefix && filterWithin(filter, `${this.options.homeAssistantPrefix}/#`))
      case 'device': {
        const id = who.deviceId
        // what is addressed to it, of any job: tensors, results or receipts (as a consumer or a source), the hub's checkpoint answers
        for (const own of [filters.deviceOwn(id), filters.hub, filters.allJobPlans, filters.allModels, filters.tensorsToDevice(id), filters.resultsTo(id), filters.resultsTo(id, 'receipts'), filters.checkpointsToDevice(id), filters.restoresToDevice(id)]) {
          if (filterWithin(filter, own)) return true
        }
        for (const job of this.options.jobsOf(id)) {
          for (const allowed of [topics.job(job, 'requests'), topics.tensors(job, id), topics.job(job, 'steps')]) {
            if (filterWithin(filter, allowed)) return true
          }
        }
        return false
      }
    }
  }
}
