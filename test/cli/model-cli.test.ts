/** The model commands as a user runs them: `dora zoo`, `dora profile`, `dora split` (issue 3 § Command-line contract). */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { randomInputs } from '../../src/model/inputs.js'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const dora = (...args: string[]) => run(process.execPath, [bin, ...args], { maxBuffer: 64 * 1024 * 1024 })
const fail = (...args: string[]) => dora(...args).then(() => { throw new Error('expected a non-zero exit') }, (e: { code: number; stderr: string }) => e)
const dir = mkdtempSync(join(tmpdir(), 'dora-cli-'))

describe('dora zoo / profile / split', () => {
  it('zoo --out writes every zoo model as a loadable ONNX file', async () => {
    await dora('zoo', '--out', join(dir, 'zoo'))
    const files = readdirSync(join(dir, 'zoo')).sort()
    expect(files).toEqual(['bert-small.onnx', 'bert-tiny.onnx', 'mlp.onnx', 'mobilenetv2.onnx', 'resnet18.onnx', 'yolo-style.onnx'])
    const s = await ort.InferenceSession.create(join(dir, 'zoo', 'mobilenetv2.onnx'))
    expect(s.inputNames).toEqual(['input'])
    await s.release()
  })

  it('profile --json prints the documented object', async () => {
    await dora('zoo', '--out', join(dir, 'z2'), '--only', 'resnet18')
    const { stdout } = await dora('profile', join(dir, 'z2', 'resnet18.onnx'), '--json')
    const p = JSON.parse(stdout)
    expect(Object.keys(p)).toEqual(['model', 'nodes', 'cutPoints'])
    expect(p.model).toMatchObject({ name: 'resnet18', nodes: 49 })
    expect(p.model.flops / 2 / 1e9).toBeCloseTo(1.8, 1)
    expect(p.model.paramBytes).toBeGreaterThan(46e6)
    expect(p.nodes[0]).toEqual({ name: expect.any(String), opType: 'Conv', opClass: 'conv', flops: expect.any(Number), paramBytes: expect.any(Number), outputBytes: 64 * 112 * 112 * 4 })
    expect(p.cutPoints).toHaveLength(48)
    expect(p.cutPoints[0]).toEqual({ index: 1, crossingBytes: 64 * 112 * 112 * 4 })
  })

  it('profile --measure adds each node\'s measured time from onnxruntime\'s profiler', async () => {
    const { stdout } = await dora('profile', 'mobilenetv2', '--measure', '3', '--json')
    const p = JSON.parse(stdout)
    const times = p.nodes.map((n: { measuredUs: number | null }) => n.measuredUs)
    expect(times.every((t: number | null) => typeof t === 'number' && t >= 0)).toBe(true)
    // convolutions dominate: together they take far more than their share of the nodes (one node's rank is noise
    // on a busy machine; the total is not)
    const total = (ops: Array<{ opType: string; measuredUs: number }>) => ops.reduce((a, n) => a + n.measuredUs, 0)
    const conv = total(p.nodes.filter((n: { opType: string }) => n.opType === 'Conv'))
    expect(conv).toBeGreaterThan(0.7 * total(p.nodes)) // 52 of its 100 nodes are Conv; they take ~85% of the time
  })

  it('profile prints a readable table by default', async () => {
    const { stdout } = await dora('profile', 'mlp')
    expect(stdout).toMatch(/model mlp: 5 nodes/)
    expect(stdout).toMatch(/#\s+node\s+op\s+class\s+FLOPs\s+params\s+output/)
    expect(stdout).toMatch(/4 cut points/)
  })

  it('split --stages writes stage models and a manifest whose chain equals the whole model', async () => {
    const out = join(dir, 'split-yolo')
    await dora('split', 'yolo-style', '--stages', '3', '--out', out)
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'))
    expect(manifest.inputs).toEqual(['images'])
    expect(manifest.stages).toHaveLength(3)
    // the detector decodes its boxes in the graph: one output, [1, 100, 6]
    expect(manifest.outputs).toEqual(['detections'])
    const produced = new Set<string>(manifest.inputs)
    for (const s of manifest.stages) {
      for (const i of s.inputs) expect(produced.has(i)).toBe(true)
      for (const o of s.outputs) produced.add(o)
    }
    for (const o of manifest.outputs) expect(produced.has(o)).toBe(true)

    await dora('zoo', '--out', join(dir, 'z3'), '--only', 'yolo-style')
    const opts = { graphOptimizationLevel: 'disabled' } as const
    const whole = await ort.InferenceSession.create(join(dir, 'z3', 'yolo-style.onnx'), opts)
    // uint8 pixels, height x width x RGB, as a camera produces them
    const feeds = { images: randomInputs([{ name: 'images', type: { tensorType: { elemType: 2, shape: { dim: [{ dimValue: 1 }, { dimValue: 640 }, { dimValue: 640 }, { dimValue: 3 }] } } } }], { batch: 1 }, 9).feeds.images! }
    const expected = await whole.run(feeds)
    const values: Record<string, ort.Tensor> = { ...feeds }
    for (const s of manifest.stages) {
      const session = await ort.InferenceSession.create(join(out, s.file), opts)
      Object.assign(values, await session.run(Object.fromEntries(s.inputs.map((n: string) => [n, values[n]!]))))
      await session.release()
    }
    for (const name of manifest.outputs) expect(Array.from(values[name]!.data as Float32Array)).toEqual(Array.from(expected[name]!.data as Float32Array))
    expect(values.detections!.dims).toEqual([1, 100, 6])
    await whole.release()
  })

  it('split --cuts uses the given cut points', async () => {
    const out = join(dir, 'split-mlp')
    await dora('split', 'mlp', '--cuts', '2,4', '--out', out)
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'))
    expect(manifest.stages.map((s: { nodes: number[] }) => s.nodes)).toEqual([[0, 2], [2, 4], [4, 5]])
  })

  it('split says so when fewer cuts exist than stages asked for', async () => {
    const { stderr } = await dora('split', 'mlp', '--stages', '8', '--out', join(dir, 'split-many'))
    expect(stderr).toMatch(/asked for 8 stages.*made 5/)
    expect(readdirSync(join(dir, 'split-many')).filter((f) => f.endsWith('.onnx'))).toHaveLength(5)
  })

  it('bad input gets a clear error and a non-zero exit', async () => {
    const notOnnx = join(dir, 'bad.onnx')
    writeFileSync(notOnnx, 'definitely not a protobuf \u0000\u0001')
    const e1 = await fail('profile', notOnnx)
    expect(e1.code).toBe(1)
    expect(e1.stderr).toMatch(/bad\.onnx: not an ONNX model/)
    const e2 = await fail('split', 'mlp', '--cuts', '3,1', '--out', join(dir, 'x'))
    expect(e2.stderr).toMatch(/--cuts must be increasing node indices from 1 to 4/)
    const e3 = await fail('profile', 'no-such-model')
    expect(e3.stderr).toMatch(/no such file \(and not a zoo model name\)/)
    const e4 = await fail('split', 'mlp', '--out', join(dir, 'y'))
    expect(e4.stderr).toMatch(/exactly one of --stages K or --cuts/)
    const e5 = await fail('zoo', '--out', join(dir, 'z'), '--only', 'gpt5')
    expect(e5.stderr).toMatch(/unknown zoo model gpt5/)
  })
})
