/**
 * The embedded broker's event loop while a 48-device job re-plans (issue 18: the hub's own work
 * sharing the broker's event loop). The hub's process runs the embedded broker (Aedes, as the hub
 * starts it) and the adapter's search for a device joining a running 48-device fleet
 * (bench/fleet48.ts, 12-layer encoder: a full re-plan), either in its own thread (decide(), as
 * the hub did before) or in the adapter's worker thread (AdaptWorker, as the hub does now).
 * Measured in that process: the longest gap of a 1 ms timer (monitorEventLoopDelay does not show
 * one long block: its samples come from the same loop); from a device in another process (a real mqtt.js client pinging
 * itself through the broker every 5 ms): the round trips. The two modes alternate, same run, with
 * a reference of the same probes over a quiet 1.5 s (the machine's own noise).
 * EMULATION: synthetic device profiles; the pinger is one emulated device.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { EmbeddedBroker } from '../src/broker/embedded.js'
import { Acl } from '../src/broker/acl.js'
import { silentLogger } from '../src/log.js'
import { AdaptWorker } from '../src/hub/adapt-worker.js'
import { decide, type AdaptRequest } from '../src/planner/adapt/decide.js'
import { INITIAL_STATE } from '../src/planner/adapt/adapter.js'
import { jitteredFleet48, job48, network48 } from './fleet48.js'

export type StallMode = 'no search (reference)' | 'hub thread (before)' | 'worker thread (after)'

export interface StallRun {
  readonly mode: StallMode
  readonly action: string
  readonly searchMs: number
  /** Longest gap between two runs of a 1 ms timer during the search, ms. */
  readonly timerGapMs: number
  /** Round trips of the pings sent from the search's start to its end, ms, sorted. */
  readonly pingMs: readonly number[]
  readonly unanswered: number
}

/** A device joins (a twin of one the running plans use): the adapter re-plans the whole fleet. */
function joinRequest(): AdaptRequest {
  const fleet = jitteredFleet48(11)
  const start: AdaptRequest = { planner: 'dora', state: INITIAL_STATE, job: job48(), fleet, network: network48, nowMs: 1000, why: 'start', microBatches: [1] }
  const first = decide(start)
  const used = first.epoch!.parts[0]!.plan.stages[0]!.devices[0]!
  const joiner = { ...fleet.devices.get(used)!, id: 'joiner' }
  return { ...start, state: first.state, fleet: { devices: new Map([...fleet.devices, ['joiner', joiner]]) }, nowMs: 60_000, why: 'joiner joined' }
}

async function startBroker(): Promise<{ url: string; stop: () => Promise<void> }> {
  const broker = new EmbeddedBroker({
    host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 1024 * 1024, drainTimeoutMs: 5000, log: silentLogger,
    acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
  })
  const { port } = await broker.start()
  return { url: `mqtt://127.0.0.1:${port}`, stop: () => broker.stop() }
}

const ask = <T>(child: ChildProcess, m: string): Promise<T> => new Promise((resolve) => {
  child.once('message', (r) => resolve(r as T))
  child.send(m)
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One search with the probes running around it. */
async function measured(mode: StallMode, search: () => Promise<string>, pinger: ChildProcess): Promise<StallRun> {
  let last = performance.now()
  let gap = 0
  let probing = false
  const tick = setInterval(() => {
    const now = performance.now()
    if (probing) gap = Math.max(gap, now - last)
    last = now
  }, 1)
  await sleep(300)
  pinger.send('start')
  await sleep(20)
  probing = true
  last = performance.now()
  const t0 = performance.now()
  const action = await search()
  const searchMs = performance.now() - t0
  pinger.send('end')
  // the timers' first runs after a blocking search show its gap
  await sleep(20)
  probing = false
  // pings sent during the search get their answers
  await sleep(500)
  const { rtts, lost } = await ask<{ rtts: number[]; lost: number }>(pinger, 'stop')
  clearInterval(tick)
  return {
    mode, action, searchMs, timerGapMs: gap,
    pingMs: [...rtts].sort((a, b) => a - b), unanswered: lost,
  }
}

export async function loopStallBench(rounds: number, log: (s: string) => void): Promise<StallRun[]> {
  const request = joinRequest()
  const broker = await startBroker()
  const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
  const pinger = fork(runTs, [fileURLToPath(new URL('./loop-stall-pinger.ts', import.meta.url)), broker.url])
  await new Promise((r) => pinger.once('message', r))
  const worker = new AdaptWorker({ budgetMs: 600_000, log: silentLogger })
  const runs: StallRun[] = []
  try {
    // the hub starts its worker with its jobs: loaded (and its code warm) before any re-plan
    await worker.run(request)
    decide(request)
    for (let k = 0; k < rounds; k++) {
      for (const mode of ['no search (reference)', 'hub thread (before)', 'worker thread (after)'] as const) {
        const run = await measured(mode, async () => {
          if (mode === 'no search (reference)') return sleep(1500).then(() => '-')
          if (mode === 'hub thread (before)') return decide(request).action
          const o = await worker.run(request)
          if (o.kind !== 'decided') throw new Error(`the worker's search ended ${o.kind}`)
          return o.decision.action
        }, pinger)
        runs.push(run)
        log(`  loop stall, ${mode}: ${run.action} in ${run.searchMs.toFixed(0)} ms; timer gap ${run.timerGapMs.toFixed(0)} ms; ping max ${(run.pingMs.at(-1) ?? NaN).toFixed(0)} ms`)
      }
    }
  } finally {
    await worker.stop()
    pinger.send('exit')
    await new Promise((r) => pinger.once('exit', r))
    await broker.stop()
  }
  return runs
}

/** Rows per mode: medians over the rounds of each run's figures, and the pooled round trips. */
export function loopStallTable(runs: readonly StallRun[]): string[][] {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  const q = (xs: readonly number[], p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : NaN)
  const modes = [...new Set(runs.map((r) => r.mode))]
  return modes.map((mode) => {
    const rs = runs.filter((r) => r.mode === mode)
    const pings = rs.flatMap((r) => r.pingMs).sort((a, b) => a - b)
    return [mode, rs[0]!.action, String(rs.length), med(rs.map((r) => r.searchMs)).toFixed(0), med(rs.map((r) => r.timerGapMs)).toFixed(1),
      Math.max(...rs.map((r) => r.timerGapMs)).toFixed(1), String(pings.length),
      q(pings, 0.5).toFixed(1), q(pings, 0.99).toFixed(1), (pings.at(-1) ?? NaN).toFixed(0), String(rs.reduce((a, r) => a + r.unanswered, 0))]
  })
}
