import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { Acl } from '../../src/broker/acl.js'
import { filters, ha, topics } from '../../src/protocol/topics.js'

const jobs = new Map<string, string[]>([['cam-1', ['detector']]])
const acl = new Acl({
  hub: { username: 'dora-hub', password: 'hub-secret-123' },
  devices: [{ id: 'cam-1', password: 'cam-secret-1' }, { id: 'cam-2', passwordSha256: createHash('sha256').update('cam-secret-2').digest('hex') }],
  observers: [{ username: 'ha', password: 'ha-secret-1' }],
  operators: [{ username: 'ops', password: 'ops-secret-1' }],
  allowAnonymous: false,
  anonymousLoopbackOnly: true,
  jobsOf: (id) => jobs.get(id) ?? [],
})
const cam1 = { role: 'device', deviceId: 'cam-1' } as const

describe('ACL (topics.md § Who may publish and subscribe)', () => {
  it('authenticates by plain or SHA-256 password and refuses the rest', () => {
    expect(acl.authenticate('cam-1', Buffer.from('cam-secret-1'), '10.0.0.2')).toEqual(cam1)
    expect(acl.authenticate('cam-2', Buffer.from('cam-secret-2'), '10.0.0.3')).toEqual({ role: 'device', deviceId: 'cam-2' })
    expect(acl.authenticate('cam-2', Buffer.from('cam-secret-1'), '10.0.0.3')).toBeNull()
    expect(acl.authenticate(undefined, undefined, '127.0.0.1')).toBeNull()
    expect(acl.authenticate('ha', Buffer.from('ha-secret-1'), '10.0.0.9')).toEqual({ role: 'observer', username: 'ha' })
  })

  it('a device asks for the air on its own air topic, never on another device\'s, and never grants itself', () => {
    expect(acl.canPublish(cam1, topics.device('cam-1', 'air'))).toBe(true)
    expect(acl.canPublish(cam1, topics.device('cam-2', 'air'))).toBe(false)
    expect(acl.canPublish(cam1, topics.device('cam-1', 'grant'))).toBe(false)
    expect(acl.canSubscribe(cam1, topics.device('cam-1', 'grant'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.device('cam-2', 'grant'))).toBe(false)
  })

  it("a device publishes its jobs' data-plane topics, not another job's", () => {
    expect(acl.canPublish(cam1, topics.tensors('detector', 'cam-2'))).toBe(true)
    // results to the job's consumer (the hub, a device) and a receipt to a source
    expect(acl.canPublish(cam1, topics.results('detector', 'hub'))).toBe(true)
    expect(acl.canPublish(cam1, topics.results('detector', 'cam-2', 'receipts'))).toBe(true)
    expect(acl.canPublish(cam1, topics.results('other-job', 'hub'))).toBe(false)
    expect(acl.canPublish(cam1, topics.tensors('other-job', 'cam-2'))).toBe(false)
    expect(acl.canPublish(cam1, topics.job('detector', 'plan'))).toBe(false)
    expect(acl.canPublish({ role: 'device', deviceId: 'cam-2' }, topics.tensors('detector', 'cam-1'))).toBe(false)
    // its stages' state to the hub, of its own jobs; never as the hub, to a device
    expect(acl.canPublish(cam1, topics.trainingState('detector', 'checkpoint'))).toBe(true)
    expect(acl.canPublish(cam1, topics.trainingState('detector', 'restore'))).toBe(true)
    expect(acl.canPublish(cam1, topics.trainingState('other-job', 'checkpoint'))).toBe(false)
    expect(acl.canPublish(cam1, topics.trainingState('detector', 'checkpoint', 'cam-2'))).toBe(false)
    expect(acl.canPublish(cam1, topics.trainingState('detector', 'restore', 'cam-1'))).toBe(false)
  })

  it('training state is delivered to the hub and its addressee only, whatever was subscribed', () => {
    const to = topics.trainingState('detector', 'checkpoint', 'cam-1')
    expect(acl.canReceive({ role: 'hub' }, topics.trainingState('detector', 'checkpoint'))).toBe(true)
    expect(acl.canReceive(cam1, to)).toBe(true)
    expect(acl.canReceive({ role: 'device', deviceId: 'cam-2' }, to)).toBe(false)
    expect(acl.canReceive({ role: 'observer', username: 'ha' }, to)).toBe(false)
    expect(acl.canReceive({ role: 'operator', username: 'ops' }, topics.trainingState('detector', 'restore'))).toBe(false)
    expect(acl.canReceive({ role: 'observer', username: 'ha' }, topics.job('detector', 'steps'))).toBe(true)
  })

  it("a device reads the hub's training-state answers to itself only, and no device's checkpoints to the hub", () => {
    expect(acl.canSubscribe(cam1, filters.checkpointsToDevice('cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, filters.restoresToDevice('cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, filters.checkpointsToDevice('cam-2'))).toBe(false)
    expect(acl.canSubscribe(cam1, topics.trainingState('detector', 'checkpoint'))).toBe(false)
    expect(acl.canSubscribe(cam1, filters.allJobCheckpoints)).toBe(false)
    expect(acl.canSubscribe(cam1, 'dora/v1/jobs/detector/#')).toBe(false)
  })

  it("a device subscribes to every job's plan, but to the requests and its own inbound tensors of its jobs only", () => {
    expect(acl.canSubscribe(cam1, topics.job('detector', 'plan'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.tensors('detector', 'cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.tensors('detector', 'cam-2'))).toBe(false)
    expect(acl.canSubscribe(cam1, 'dora/v1/jobs/detector/tensors/+')).toBe(false)
    // what is addressed to it, of any job (subscribed from the start), but not another device's
    expect(acl.canSubscribe(cam1, filters.tensorsToDevice('cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, filters.tensorsToDevice('cam-2'))).toBe(false)
    expect(acl.canSubscribe(cam1, 'dora/v1/jobs/+/tensors/#')).toBe(false)
    // results and receipts addressed to it (as a consumer, or a source that asks), never another's
    expect(acl.canSubscribe(cam1, filters.resultsTo('cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, filters.resultsTo('cam-1', 'receipts'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.results('detector', 'cam-1'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.results('detector', 'hub'))).toBe(false)
    expect(acl.canSubscribe(cam1, topics.results('detector', 'cam-2'))).toBe(false)
    expect(acl.canSubscribe(cam1, filters.allJobResults)).toBe(false)
    // plan epochs are no secret: a device reads them before it is assigned (to learn it is)
    expect(acl.canSubscribe(cam1, topics.job('other-job', 'plan'))).toBe(true)
    expect(acl.canSubscribe(cam1, topics.job('other-job', 'requests'))).toBe(false)
    expect(acl.canSubscribe(cam1, topics.job('detector', 'requests'))).toBe(true)
  })

  it('operators submit and cancel job specs and read everything; devices and observers cannot submit', () => {
    const ops = acl.authenticate('ops', Buffer.from('ops-secret-1'), '10.0.0.9')
    expect(ops).toEqual({ role: 'operator', username: 'ops' })
    expect(acl.canPublish(ops!, topics.job('detector', 'spec'))).toBe(true)
    expect(acl.canPublish(ops!, topics.job('detector', 'plan'))).toBe(false)
    expect(acl.canSubscribe(ops!, 'dora/v1/#')).toBe(true)
    expect(acl.canPublish(cam1, topics.job('detector', 'spec'))).toBe(false)
    expect(acl.canPublish({ role: 'observer', username: 'ha' }, topics.job('detector', 'spec'))).toBe(false)
  })

  it("an observer publishes nothing but Home Assistant's birth message, and that only with discovery on", () => {
    const observer = { role: 'observer', username: 'ha' } as const
    expect(acl.canPublish(observer, ha.status('homeassistant'))).toBe(false)
    const withHa = new Acl({ hub: { username: 'dora-hub', password: 'hub-secret-123' }, devices: [], observers: [{ username: 'ha', password: 'ha-secret-1' }], allowAnonymous: false, anonymousLoopbackOnly: true, jobsOf: () => [], homeAssistantPrefix: 'homeassistant' })
    expect(withHa.canPublish(observer, ha.status('homeassistant'))).toBe(true)
    expect(withHa.canPublish(observer, 'homeassistant/sensor/x/y/config')).toBe(false)
    expect(withHa.canPublish(observer, ha.jobGoalSet('detector'))).toBe(false)
    expect(withHa.canPublish(observer, topics.device('ha', 'caps'))).toBe(false)
  })
})
