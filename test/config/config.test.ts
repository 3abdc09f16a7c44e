import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'

const file = (name: string, text: string) => {
  const p = join(mkdtempSync(join(tmpdir(), 'dora-cfg-')), name)
  writeFileSync(p, text)
  return p
}

describe('configuration (config/default.yaml + file + flags)', () => {
  it('loads the defaults, frozen', async () => {
    const c = await loadConfig()
    expect(c.broker.embedded.port).toBe(1883)
    expect(c.broker.embedded.allowAnonymous).toBe(false)
    expect(Object.isFrozen(c.broker.embedded)).toBe(true)
  })

  it('merges a YAML file and flag overrides in that order', async () => {
    const p = file('hub.yaml', 'hub:\n  id: kitchen\nbroker:\n  embedded:\n    port: 2000\n')
    const c = await loadConfig(p, { broker: { embedded: { port: 3000 } } })
    expect(c.hub.id).toBe('kitchen')
    expect(c.broker.embedded.port).toBe(3000)
    expect(c.broker.embedded.wsPort).toBe(8080)
  })

  it('accepts JSON files', async () => {
    const c = await loadConfig(file('hub.json', JSON.stringify({ auth: { devices: [{ id: 'pi', password: 'long-enough' }] } })))
    expect(c.auth.devices[0]!.id).toBe('pi')
  })

  it('names every bad key', async () => {
    const p = file('bad.yaml', 'broker:\n  embedded:\n    port: 99999\nauth:\n  devices:\n    - { id: "a/b", password: short }\n')
    await expect(loadConfig(p)).rejects.toThrow(/broker\.embedded\.port.*auth\.devices\.0/s)
  })

  it('refuses a device without credentials and duplicate device ids', async () => {
    await expect(loadConfig(file('a.yaml', 'auth:\n  devices:\n    - { id: pi }\n'))).rejects.toThrow(/give password or passwordSha256/)
    await expect(loadConfig(file('b.yaml', 'auth:\n  devices:\n    - { id: pi, password: long-enough }\n    - { id: pi, password: long-enough }\n'))).rejects.toThrow(/duplicate device id pi/)
  })

  it('takes a training job with one source device, and names the source when it has none', async () => {
    const job = { id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', training: { microBatchesPerStep: 4, optimizerStateFactor: 2 }, qoe: {} }
    const c = await loadConfig(undefined, { jobs: [{ ...job, source: 'board-1' }] })
    expect(c.jobs[0]!.training?.microBatchesPerStep).toBe(4)
    await expect(loadConfig(undefined, { jobs: [job] })).rejects.toThrow(/jobs\.0\.source.*a training job needs one source device/s)
  })

  it('refuses chunks that would not fit the broker packet limit', async () => {
    await expect(loadConfig(undefined, { tensors: { chunkBytes: 1048576 } })).rejects.toThrow(/tensors\.chunkBytes/)
  })

  it('reports unreadable and unparsable files clearly', async () => {
    await expect(loadConfig('/nonexistent/dora.yaml')).rejects.toThrow(/cannot read config file \/nonexistent\/dora.yaml/)
    await expect(loadConfig(file('x.yaml', 'a: [1, 2\n'))).rejects.toThrow(/not valid YAML/)
    await expect(loadConfig(file('y.yaml', '- 1\n- 2\n'))).rejects.toThrow(/must hold a mapping/)
  })
})
