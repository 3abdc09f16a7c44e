/**
 * How a transfer's chunks move through its stages (pure): cut-through at chunk granularity, as
 * the runtime sends. A device publishes a tensor's chunks (at most `chunkBytes` of data each) one
 * after another without waiting for acknowledgements (runtime/send-tensor.ts); its link carries
 * them back to back (the emulated Wi-Fi paces the station's byte stream: emulation/wifi-proxy.ts);
 * the broker relays each chunk message as soon as it has it whole; and the receiver's link carries
 * the relayed chunks on. So chunk c is on the receiver's link while chunk c + 1 is still on the
 * sender's: a transfer ends one chunk's time of the later stages after its slowest stage is done,
 * not after each stage has carried the whole tensor in turn (store and forward).
 *
 * Stages, in order: the sender's hop (air or its wired link; none from the hub), the broker's
 * relay, the receiver's hop (none to the hub). Each stage carries one chunk at a time, in order:
 * chunk c ends on stage k at
 *   C[c][k] = max(C[c][k - 1], C[c - 1][k]) + s_k(chunk c)
 * (the flow-shop recurrence; for N equal chunks it is the sum over stages of one chunk's time
 * plus (N - 1) x the slowest stage's). The two air hops of one transfer (a Wi-Fi sender and a
 * Wi-Fi receiver) share the one channel: their air time adds. The air serves them in stage order
 * (the sender's chunks first, the access point's forwarding after): the receiver's hop starts
 * when the sender's is done, or when its first chunk is relayed if that is later. The air
 * overlaps the wired hops and the relay. A caller that books the air itself (the network
 * scheduler's slots) places each air stage's chunks as one block with `placeAir`.
 *
 * Only latency comes from here: a hop's air occupancy (utilisation, queueing) is its whole
 * tensor's air time, as before.
 */

export interface PipeStage {
  /** On the shared air: its chunks never overlap another air stage's. */
  readonly air: boolean
  /** Index of the hop it carries (cost.ts hopsBetween order), or -1 for the broker's relay. */
  readonly hop: number
  /** Seconds one chunk of `bytes` of tensor data takes on this stage. */
  readonly chunkS: (bytes: number) => number
}

/** Sizes of a tensor's chunks, bytes of data: all `chunkBytes` but the last. */
export function chunkSizes(bytes: number, chunkBytes: number): number[] {
  if (bytes <= 0) return []
  const n = Math.max(1, Math.ceil(bytes / chunkBytes))
  return Array.from({ length: n }, (_, c) => Math.min(chunkBytes, bytes - c * chunkBytes))
}

/**
 * Books an air stage's chunks as one block, back to back (a sender publishes a tensor's chunks
 * without pausing between them: runtime/send-tensor.ts): `chunkS[c]` seconds each, the block
 * starting no earlier than `readyS` (the earliest start at which every chunk is ready when its
 * turn in the block comes). Returns the block's start and when the next stage may take its last
 * chunk (the block's end, or later: a guard), or null: no room.
 */
export type PlaceAir = (stage: number, readyS: number, chunkS: readonly number[]) => { startS: number; endS: number } | null

export interface PipeRun {
  /** When the last chunk leaves the last stage, s (from the transfer's start at 0, or `startS`). */
  readonly endS: number
  /** Per stage: when its first chunk starts and its last chunk ends, s. */
  readonly firstStartS: readonly number[]
  readonly lastEndS: readonly number[]
}

/**
 * Runs the chunks through the stages, stage by stage (so the air serves the sender's hop before
 * the receiver's). Without `placeAir` the air is free from `startS` and shared by the air stages
 * in that order.
 */
export function runPipeline(stages: readonly PipeStage[], chunks: readonly number[], startS = 0, placeAir?: PlaceAir): PipeRun | null {
  let prev: number[] = chunks.map(() => startS)
  let airFree = startS
  const firstStartS: number[] = []
  const lastEndS: number[] = []
  for (let k = 0; k < stages.length; k++) {
    const st = stages[k]!
    const done: number[] = []
    let free = startS
    if (st.air && placeAir && chunks.length) {
      // one block: chunk c starts at the block's start plus the chunks before it, so the block
      // may start once every chunk is ready by then
      const s = chunks.map((x) => st.chunkS(x))
      let before = 0
      let ready = startS
      for (let c = 0; c < chunks.length; c++) {
        ready = Math.max(ready, prev[c]! - before)
        before += s[c]!
      }
      const at = placeAir(k, ready, s)
      if (at === null) return null
      let end = at.startS
      for (const x of s) done.push((end += x))
      done[done.length - 1] = Math.max(end, at.endS)
      firstStartS.push(at.startS)
      lastEndS.push(done[done.length - 1]!)
      prev = done
      continue
    }
    for (let c = 0; c < chunks.length; c++) {
      const ready = Math.max(prev[c]!, free)
      const s = st.chunkS(chunks[c]!)
      let end: number
      if (!st.air) end = ready + s
      else {
        end = Math.max(ready, airFree) + s
        airFree = end
      }
      if (c === 0) firstStartS.push(end - s)
      done.push(end)
      free = end
    }
    lastEndS.push(free)
    prev = done
  }
  return { endS: chunks.length ? Math.max(startS, ...prev) : startS, firstStartS, lastEndS }
}

/**
 * A transfer's latency split around its air hops, for a medium that sends each air hop whole:
 * wait gapsS[0], the first air hop, gapsS[1], the second (if any), then tailS. Uncontended, the
 * pieces add up to the pipelined latency exactly; a hop's queueing or contention adds to it.
 */
export interface AirSplit {
  readonly totalS: number
  /** Indices (hop order) of the air hops. */
  readonly airHops: readonly number[]
  /** Time off the air before each air hop. */
  readonly gapsS: readonly number[]
  readonly tailS: number
}

/** The split of a pipelined run whose air stages take `airS[j]` seconds in all (see AirSplit). */
export function splitAroundAir(stages: readonly PipeStage[], run: PipeRun, airS: readonly number[]): AirSplit {
  const airHops: number[] = []
  const gapsS: number[] = []
  let at = 0
  let j = 0
  stages.forEach((st, k) => {
    if (!st.air) return
    airHops.push(st.hop)
    const gap = Math.max(0, run.firstStartS[k]! - at)
    gapsS.push(gap)
    at += gap + airS[j++]!
  })
  return { totalS: run.endS, airHops, gapsS, tailS: Math.max(0, run.endS - at) }
}
