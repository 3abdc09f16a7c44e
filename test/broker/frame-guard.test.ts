/**
 * The frame guard on a stream of its own (no socket, fake clocks): the partial-packet timeout
 * counts from the unfinished packet's own first byte, however many packets came before it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Duplex } from 'node:stream'
import { GuardedConnection } from '../../src/broker/frame-guard.js'
import { packet } from '../helpers/mqtt-packets.js'

/** A guard over an in-memory connection: `feed` is what the client sends. */
function guarded(maxPacketBytes: number, timeoutMs: number) {
  const inner = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
  const reasons: string[] = []
  const guard = new GuardedConnection(inner, maxPacketBytes, (r) => reasons.push(r), undefined, timeoutMs)
  const out: Buffer[] = []
  guard.on('data', (b: Buffer) => out.push(b))
  return { guard, reasons, out, feed: (b: Buffer) => void inner.push(b) }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('GuardedConnection: partial-packet timeout', () => {
  it('closes when a packet stays unfinished for the timeout, counted from that packet, not from an earlier one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
    const g = guarded(1e6, 200)
    const p = packet(1000)
    g.feed(p.subarray(0, 500)) // packet A begins at t = 0
    await vi.advanceTimersByTimeAsync(100)
    g.feed(Buffer.concat([p.subarray(500), p.subarray(0, 10)])) // A ends, B begins at t = 100
    await vi.advanceTimersByTimeAsync(150) // t = 250: past A's deadline, not B's
    expect(g.reasons).toEqual([])
    expect(g.guard.destroyed).toBe(false)
    await vi.advanceTimersByTimeAsync(100) // t = 350: past B's (300)
    expect(g.reasons).toEqual([expect.stringMatching(/begun 200 ms ago is still incomplete/)])
    expect(g.guard.destroyed).toBe(true)
  })

  it('does not close a client whose packets all finish, however long it stays connected', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
    const g = guarded(1e6, 200)
    const p = packet(1000)
    for (let t = 0; t < 10; t++) {
      g.feed(p.subarray(0, 300))
      await vi.advanceTimersByTimeAsync(150)
      g.feed(p.subarray(300))
      await vi.advanceTimersByTimeAsync(150)
    }
    expect(g.reasons).toEqual([])
    expect(g.guard.destroyed).toBe(false)
    expect(Buffer.concat(g.out).length).toBe(10 * p.length)
  })

  it('stops the clock while the broker is behind (reading paused for back-pressure), and starts it again when reading resumes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
    const inner = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
    const reasons: string[] = []
    // nobody reads the guard yet: what it passes on fills its buffer (16 KiB) and it pauses the socket
    const guard = new GuardedConnection(inner, 1e6, (r) => reasons.push(r), undefined, 200)
    const p = packet(100_000)
    inner.push(p.subarray(0, 50_000))
    await vi.advanceTimersByTimeAsync(1000) // five timeouts while the broker does not read
    expect(reasons).toEqual([])
    expect(guard.destroyed).toBe(false)
    let read = 0
    guard.on('data', (b: Buffer) => (read += b.length)) // the broker catches up
    await vi.advanceTimersByTimeAsync(150)
    expect(read).toBe(50_000)
    expect(reasons).toEqual([])
    await vi.advanceTimersByTimeAsync(100) // 250 ms of reading and the packet is still half sent
    expect(reasons).toEqual([expect.stringMatching(/begun 200 ms ago is still incomplete/)])
    expect(guard.destroyed).toBe(true)
  })
})
