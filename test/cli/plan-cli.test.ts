/** `dora plan --scenario` as a user runs it, on the shipped scenarios (issue 4 § Command-line contract). */
import { describe, expect, it, vi } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// every test here starts one to three `dora` processes (each compiles the sources through tsx):
// 5-15 s each on a quiet 2-core machine, three times that under load; nothing here is a timing check
vi.setConfig({ testTimeout: 120_000 })

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const scenario = (name: string) => fileURLToPath(new URL(`../../config/scenarios/${name}.yaml`, import.meta.url))
const dora = (...args: string[]) =>
  run(process.execPath, [bin, ...args], { maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

/** A shipped scenario with one text replacement, written to a temporary file. */
function variant(name: string, from: string | RegExp, to: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dora-scenario-')), `${name}.yaml`)
  writeFileSync(file, readFileSync(scenario(name), 'utf8').replace(from, to))
  return file
}

describe('dora plan', () => {
  it.each(['smart-home', 'traffic', 'edge-cluster'])('plans the %s scenario: compliant plans in the documented JSON shape', async (name) => {
    const r = await dora('plan', '--scenario', scenario(name), '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.emulated).toBe(true)
    expect(out.plans.length).toBeGreaterThan(0)
    expect(out.plans.map((p: { id: string }) => p.id)).toContain(out.chosen)
    for (const p of out.plans) {
      expect(p).toMatchObject({ id: expect.any(String), compliant: true, predicted: { latencyMs: expect.any(Number), p95LatencyMs: expect.any(Number), throughputRps: expect.any(Number), energyJPerRequest: expect.any(Number) } })
      // stages tile the layers
      let next = 0
      for (const s of p.stages) {
        expect(s.layers[0]).toBe(next)
        expect(s.devices.length).toBeGreaterThan(0)
        next = s.layers[1]
      }
    }
  })

  it('the smart home plan never uses the phone below its battery cap, and the table shows the chosen plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-plan-'))
    const text = readFileSync(scenario('smart-home'), 'utf8').replace('levelPct: 60', 'levelPct: 12').replace('latencyMs: 400', 'latencyMs: 100000').replace('p95LatencyMs: 800', 'p95LatencyMs: 100000')
    const file = join(dir, 'low-battery.yaml')
    writeFileSync(file, text)
    const r = await dora('plan', '--scenario', file, '--json')
    const out = JSON.parse(r.stdout)
    for (const p of out.plans) for (const s of p.stages) expect(s.devices).not.toContain('phone')
    const table = await dora('plan', '--scenario', scenario('smart-home'))
    expect(table.stdout).toMatch(/scenario smart-home \(emulated devices\)/)
    expect(table.stdout).toMatch(/\* chosen for the latency goal/)
    // the table's figures are the at-once prediction, and it says so; each mode's prediction and the mode a run uses follow
    expect(table.stdout).toMatch(/predicted with transfers in turn on the air at no cost of coordination \(the at-once prediction\)/)
    const modes = table.stdout.match(/transfer modes of dora-\d+ \(mean \/ p95\): slots (?:[\d.]+ ms \/ [\d.]+ ms|none), hub grants ([\d.]+) ms \/ [\d.]+ ms \(dora simulate's default\), at once ([\d.]+) ms \/ [\d.]+ ms; a run uses (slots|grants|at once)/)
    expect(modes, table.stdout).not.toBeNull()
    // a grant's round trip is paid on the Wi-Fi hops: the grants prediction is the slower one here
    expect(Number(modes![1])).toBeGreaterThan(Number(modes![2]))
  })

  it('--json carries the note that an offline batch is a what-if the live runtime does not run', async () => {
    const busy = variant('traffic', /rateRps: 1\.5 \}/g, 'rateRps: 15 }')
    writeFileSync(busy, readFileSync(busy, 'utf8').replace(/rateRps: 1 \}/g, 'rateRps: 10 }').replace('throughputRps: 5', 'throughputRps: 20'))
    const out = JSON.parse((await dora('plan', '--scenario', busy, '--goal', 'throughput', '--json')).stdout)
    expect(out.plans.some((p: { microBatch: number }) => p.microBatch > 1)).toBe(true)
    expect(out.notes.join(' ')).toMatch(/batch \d+ is an offline what-if.*micro-batch 1/)
    const plain = JSON.parse((await dora('plan', '--scenario', scenario('smart-home'), '--json')).stdout)
    expect(plain.notes).toEqual([])
  })

  it('shows which cuts travel compressed (job compression): the codec on the arrow, inputCodec in --json', async () => {
    const file = variant('camera-wall', /^ {2}goal: latency$/m, '  goal: latency\n  compression: { maxOutputError: 0.01 }')
    const table = await dora('plan', '--scenario', file)
    expect(table.stdout).toMatch(/@\S+ -\((int8|fp16)\)-> \[\d+,/)
    const out = JSON.parse((await dora('plan', '--scenario', file, '--json')).stdout)
    const cuts = out.plans.flatMap((p: { stages: Array<{ inputCodec?: string }> }) => p.stages.slice(1).map((s) => s.inputCodec))
    expect(cuts.length).toBeGreaterThan(0)
    expect(cuts.every((c: string | undefined) => c === 'int8' || c === 'fp16')).toBe(true)
    // without the bound everything travels as float32, and says nothing
    const plain = JSON.parse((await dora('plan', '--scenario', scenario('camera-wall'), '--json')).stdout)
    expect(plain.plans.flatMap((p: { stages: Array<{ inputCodec?: string }> }) => p.stages.filter((s) => s.inputCodec))).toEqual([])
  })

  it('an impossible bound gives exit 3, reasons, and the closest plans', async () => {
    const file = variant('smart-home', 'latencyMs: 400', 'latencyMs: 5')
    const r = await dora('plan', '--scenario', file, '--json')
    expect(r.code).toBe(3)
    const out = JSON.parse(r.stdout)
    expect(out.chosen).toBeNull()
    expect(out.reasons.join(' ')).toMatch(/latencyMs: predicted .* bound 5/)
    expect(out.plans.every((p: { compliant: boolean }) => !p.compliant)).toBe(true)
  })

  it('a bad scenario names the bad field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-plan-'))
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'name: x\nnetwork: { standard: wifi9 }\ndevices: []\njob: { id: j, model: mlp, rateRps: -1, goal: fast }\n')
    const r = await dora('plan', '--scenario', file)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/invalid scenario .*network\.standard.*devices.*job\.rateRps.*job\.goal.*\[DORA_SCENARIO_INVALID\]/s)
  })
})

describe('dora simulate', () => {
  it('runs Dora\'s chosen plan on a scenario and labels the figures as emulation', async () => {
    const r = await dora('simulate', '--scenario', scenario('smart-home'), '--duration', '60', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ emulated: true, scenario: 'smart-home', planner: 'dora', coordination: 'granted', qoeMet: true })
    expect(out.completed).toBe(out.requests)
    expect(out.throughputRps).toBeGreaterThan(1.5)
    const text = await dora('simulate', '--scenario', scenario('smart-home'), '--duration', '30')
    expect(text.stdout).toMatch(/EMULATION/)
  })

  it('accepts a plan file (also the whole output of dora plan --json) and refuses a bad one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-sim-'))
    const planOut = await dora('plan', '--scenario', scenario('edge-cluster'), '--json')
    const file = join(dir, 'plan.json')
    writeFileSync(file, planOut.stdout)
    const r = await dora('simulate', '--scenario', scenario('edge-cluster'), '--plan', file, '--duration', '20', '--json')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).plan.id).toBe(JSON.parse(planOut.stdout).chosen)
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ stages: [{ layers: [0, 3], devices: ['orin-1'] }, { layers: [3, 9], devices: ['ghost'] }] }))
    const e = await dora('simulate', '--scenario', scenario('edge-cluster'), '--plan', bad)
    expect(e.code).toBe(1)
    expect(e.stderr).toMatch(/no device ghost in this scenario/)
  })
})

describe('transfer slots', () => {
  it('dora plan shows the chosen plan\'s slots and a Gantt chart; --json carries slots per plan; simulate --slots follows them', async () => {
    const text = await dora('plan', '--scenario', scenario('smart-home'))
    expect(text.stdout).toMatch(/transfer slots of dora-\d+: a micro-batch every [\d.]+ ms/)
    expect(text.stdout).toMatch(/\nair +\|[0.]+\|/)
    const out = JSON.parse((await dora('plan', '--scenario', scenario('smart-home'), '--json')).stdout)
    const slots = out.plans[0].slots
    expect(slots.periodMs).toBeGreaterThan(0)
    for (const list of Object.values(slots.byDevice) as Array<Array<{ to: string; tensor: string; offsetMs: number; durationMs: number; bytes: number }>>) {
      for (const x of list) expect(x).toMatchObject({ to: expect.any(String), tensor: expect.any(String), offsetMs: expect.any(Number), durationMs: expect.any(Number), bytes: expect.any(Number) })
    }
    const r = JSON.parse((await dora('simulate', '--scenario', scenario('smart-home'), '--slots', '--duration', '60', '--json')).stdout)
    expect(r).toMatchObject({ emulated: true, coordination: 'slots' })
    expect(r.completed).toBe(r.requests)
    const bad = await dora('simulate', '--scenario', scenario('smart-home'), '--slots', '--uncoordinated')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/--slots and --uncoordinated exclude each other/)
  })
})

describe('dora simulate --dynamics', () => {
  it('plays the smart home\'s scripted dynamics: the adapter loses nothing where re-planning loses nothing and never keeps a departed device, the static plan loses requests', async () => {
    const r = await dora('simulate', '--scenario', scenario('smart-home'), '--dynamics', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.emulated).toBe(true)
    expect(out.rows.length).toBeGreaterThan(4)
    // where re-planning from scratch loses nothing, the adapter loses nothing; while no plan meets
    // the bounds (the laptop gone) it runs the closest plan on the devices that are online
    expect(out.totals.replan.lost).toBe(0)
    expect(out.totals.adapter.lost).toBe(0)
    expect(out.totals.adapter.violationS).toBeLessThanOrEqual(out.totals.replan.violationS)
    for (const row of out.rows) expect(row.policies.adapter.plans).not.toMatch(row.event === 'laptop leaves' ? /laptop/ : /^$/)
    expect(out.totals.static.lost).toBeGreaterThan(0)
    expect(out.totals.adapter.replans).toBeLessThan(out.totals.replan.replans)
    const text = await dora('simulate', '--scenario', scenario('smart-home'), '--dynamics')
    expect(text.stdout).toMatch(/EMULATION/)
    expect(text.stdout).toMatch(/laptop leaves/)
    const none = await dora('simulate', '--scenario', scenario('edge-cluster'), '--dynamics')
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/has no dynamics section/)
    const file = variant('smart-home', 'kind: leave, device: laptop', 'kind: leave, device: toaster')
    const bad = await dora('simulate', '--scenario', file, '--dynamics')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/dynamics\.events\.0\.device.*no device toaster/)
  })
})

describe('training jobs', () => {
  it('the edge cluster fine-tunes DistilBERT: the simulator confirms the planned step time and throughput', async () => {
    const planOut = JSON.parse((await dora('plan', '--scenario', scenario('edge-cluster'), '--json')).stdout)
    const chosen = planOut.plans.find((p: { id: string }) => p.id === planOut.chosen)
    const r = await dora('simulate', '--scenario', scenario('edge-cluster'), '--duration', '60', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ emulated: true, job: 'training', qoeMet: true })
    expect(out.latencyMs / chosen.predicted.latencyMs).toBeGreaterThan(0.85)
    expect(out.latencyMs / chosen.predicted.latencyMs).toBeLessThan(1.15)
    const text = await dora('plan', '--scenario', scenario('edge-cluster'))
    expect(text.stdout).toMatch(/training: 1F1B, 16 micro-batches per step; latency = one optimizer step, capacity and J per sample/)
  })
})

describe('dora simulate --compare', () => {
  it('runs Dora and every baseline on the same requests, in the documented JSON shape', async () => {
    const r = await dora('simulate', '--scenario', scenario('smart-home'), '--compare', '--duration', '40', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.emulated).toBe(true)
    expect(out.rows.map((x: { planner: string }) => x.planner)).toEqual(['dora', 'pipeedge', 'hybrid-dp', 'edgeshard', 'coedge', 'petals', 'single-device', 'equal-split', 'data-parallel', 'exo', 'exo-fewest'])
    for (const row of out.rows) expect(Object.keys(row)).toEqual(['planner', 'latencyMs', 'p95LatencyMs', 'throughputRps', 'energyJPerRequest', 'qoeMet'])
    const doraRow = out.rows[0]
    expect(doraRow.qoeMet).toBe(true)
    // on this latency-goal scenario Dora's plan is the fastest of all
    for (const row of out.rows.slice(1)) if (row.latencyMs !== null) expect(doraRow.latencyMs).toBeLessThanOrEqual(row.latencyMs)
  })
})
