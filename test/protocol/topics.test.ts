import { describe, expect, it } from 'vitest'
import { parseTopic, topics, isValidId } from '../../src/protocol/index.js'

describe('topics (topics.md § Topic tree)', () => {
  it('builds and parses every device topic', () => {
    for (const kind of ['caps', 'heartbeat', 'availability', 'assignment', 'error'] as const) {
      const t = topics.device('cam-1', kind)
      expect(t).toBe(`dora/v1/devices/cam-1/${kind}`)
      expect(parseTopic(t)).toEqual({ scope: 'device', deviceId: 'cam-1', kind })
    }
  })

  it('builds and parses job and hub topics', () => {
    expect(parseTopic(topics.job('j1', 'plan'))).toEqual({ scope: 'job', jobId: 'j1', kind: 'plan' })
    expect(parseTopic(topics.tensors('j1', 'pi5'))).toEqual({ scope: 'tensors', jobId: 'j1', toDeviceId: 'pi5' })
    expect(parseTopic(topics.hubState)).toEqual({ scope: 'hub', kind: 'state' })
  })

  it('refuses ids that would break the topic tree', () => {
    for (const bad of ['', 'a/b', '+', '#', 'a+b', '.hidden', 'x'.repeat(65), 'sp ace', 'nul\u0000']) {
      expect(isValidId(bad)).toBe(false)
      expect(() => topics.device(bad, 'caps')).toThrow(/invalid device id/)
    }
  })

  it('returns null for topics outside the tree', () => {
    for (const t of ['dora/v2/devices/a/caps', 'dora/v1/devices/a/unknown', 'dora/v1/devices/a/caps/x', 'other', 'dora/v1/jobs/j/tensors', 'dora/v1/devices/a+/caps']) {
      expect(parseTopic(t)).toBeNull()
    }
  })
})
