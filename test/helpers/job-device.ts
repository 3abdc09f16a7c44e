/** A device as a real mqtt.js client that publishes its caps and records a job's plan epochs, its assignments and its error replies. */
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { topics } from '../../src/protocol/topics.js'
import { deviceClientId } from '../../src/broker/connection-policy.js'
import { assignmentSchema, planEpochSchema, type AssignmentPayload, type Caps, type PlanEpochPayload } from '../../src/protocol/payloads.js'
import { DEVICE_PASSWORD, caps, cbor, collect, connect, deviceUrl } from './hub.js'

export interface JobDevice {
  client: MqttClient
  epochs: PlanEpochPayload[]
  assignments: AssignmentPayload[]
  errors: Array<{ payload: Buffer }>
}

export async function jobDevice(hub: Hub, id: string, jobId: string, patch: Partial<Caps> = {}): Promise<JobDevice> {
  const client = await connect(deviceUrl(hub), { username: id, password: DEVICE_PASSWORD, clientId: deviceClientId(id), will: { topic: topics.device(id, 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true } })
  const epochs: PlanEpochPayload[] = []
  const assignments: AssignmentPayload[] = []
  client.on('message', (topic, payload) => {
    const plan = topic === topics.job(jobId, 'plan')
    const d = decodeCbor(payload, plan ? CBOR_BUDGETS.plan : CBOR_BUDGETS.assignment)
    if (!d.ok) return
    if (plan) epochs.push(planEpochSchema.parse(d.value))
    if (topic === topics.device(id, 'assignment')) assignments.push(assignmentSchema.parse(d.value))
  })
  const errors = await collect(client, topics.device(id, 'error'))
  await client.subscribeAsync([topics.job(jobId, 'plan'), topics.device(id, 'assignment')], { qos: 1 })
  await client.publishAsync(topics.device(id, 'caps'), cbor(caps(id, patch)), { qos: 1, retain: true })
  return { client, epochs, assignments, errors }
}
