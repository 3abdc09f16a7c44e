/** The device-to-demo report channel (demo/device-report.ts): JSON lines both ends check. */
import { describe, expect, it } from 'vitest'
import { parseReportLine, reportLine } from '../../src/demo/device-report.js'

const step = { step: 3, epoch: 2, planId: 'p1', ok: true, ms: 812.5, samples: 8, loss: 1.25, replicasAgree: true, predictedMs: 790 }

describe('device reports', () => {
  it('round-trip each kind through one stdout line', () => {
    const trace = { jobId: 'j', req: 'cam.1.0', stage: 1, phase: 'ran' as const, atMs: 1000, t0: 900, lateMs: 2 }
    const stats = { sent: 10, skipped: 0, completed: 9, failed: 1, resent: 2, duplicates: 0, outstanding: 0, latenciesMs: [120, 130], failures: [{ id: 'cam.4', reason: 'timeout' }] }
    for (const [kind, data] of [['trace', trace], ['step', step], ['training-stats', [step, { ...step, step: 4 }]], ['source-stats', stats]] as const) {
      const line = reportLine(kind, data)
      expect(line.endsWith('\n')).toBe(true)
      expect(line.trimEnd()).not.toContain('\n')
      const r = parseReportLine(line.trimEnd())
      expect(r).toEqual({ ok: true, report: { dora: 'report', v: 1, kind, data } })
    }
  })

  it('leaves text for people alone and names what is wrong with a broken report', () => {
    expect(parseReportLine('device cam joined mqtt://127.0.0.1:1883 (EMULATED profile)')).toBeNull()
    expect(parseReportLine('{"other":1}')).toBeNull()
    const torn = reportLine('step', step).slice(0, 40)
    expect(parseReportLine(torn)).toMatchObject({ ok: false, error: expect.stringMatching(/not JSON/) })
    const wrong = parseReportLine(reportLine('step', { ...step, ok: 'yes' }).trimEnd())
    expect(wrong).toMatchObject({ ok: false, error: expect.stringMatching(/ok/) })
    expect(parseReportLine(JSON.stringify({ dora: 'report', v: 2, kind: 'step', data: step }))).toMatchObject({ ok: false })
  })
})
