/** Who hands a training stage's state over at a new epoch, and its bytes (src/hub/handover.ts): one replica per stage. */
import { describe, expect, it } from 'vitest'
import { handoverBytes, handoverParams, HandoverTracker } from '../../src/hub/handover.js'

const before = [{ replicas: ['a', 'b'], params: ['w1', 'w2'] }, { replicas: ['c'], params: ['w3'] }]
const now = [{ replicas: ['a', 'b', 'd'], params: ['w1', 'w2'] }, { replicas: ['c'], params: ['w3'] }]
const state = (n: string) => ({ w1: 120, w2: 240, w3: 1200 })[n]!

describe('a training state handover', () => {
  it('comes from one replica of each stage: the first the new epoch does not name as departed', () => {
    expect(handoverParams(before, [])).toEqual(new Map([['a', new Set(['w1', 'w2'])], ['c', new Set(['w3'])]]))
    expect(handoverParams(before, ['a'])).toEqual(new Map([['b', new Set(['w1', 'w2'])], ['c', new Set(['w3'])]]))
    // a stage whose replicas all left hands nothing over (the hub's last periodic checkpoint is all there is)
    expect(handoverParams(before, ['c']).has('c')).toBe(false)
  })

  it('its bytes: each stage once to the hub (not once per replica), and what the new holders lack from it', () => {
    const h = handoverBytes(before, now, [], state)
    expect(h.senders).toEqual(['a', 'c'])
    expect(h.toHubBytes).toBe(120 + 240 + 1200)
    expect(h.allReplicasBytes).toBe(2 * (120 + 240) + 1200)
    // d is new to the first stage: it restores both parameters from the hub
    expect(h.fromHubBytes).toBe(120 + 240)
  })

  it('the tracker: unknown before a second epoch, then the senders and each device\'s share', () => {
    const t = new HandoverTracker()
    expect(t.advance(1, before, [], () => [10])).toBeNull()
    expect(t.senders()).toBeNull()
    const h = t.advance(2, now, ['a'], () => [10])!
    expect(t.senders()).toEqual(new Set(['b', 'c']))
    expect(t.params('a')).toEqual(new Set())
    expect(t.params('b')).toEqual(new Set(['w1', 'w2']))
    expect(h.toHubBytes).toBe(3 * 120)
    expect(t.last?.epoch).toBe(2)
    // an epoch another hub published: not known
    t.advance(3, null, [])
    t.advance(4, now, [])
    expect(t.params('a')).toBeUndefined()
  })
})
