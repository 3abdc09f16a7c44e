/**
 * Generated request inputs (emulated sources: a camera's frame stands in as seeded noise).
 * Deterministic in the request number, so a test can run the whole model on the same inputs.
 */
import { seededRandom } from '../shared/random.js'
import { randomValues } from '../model/inputs.js'
import { bytesOf, elementCount } from '../protocol/dtypes.js'
import type { TensorSpec } from '../protocol/payloads.js'
import type { WireTensor } from './send-tensor.js'

/** Distinct generated inputs a source cycles through (generating a 4.9 MB frame costs tens of ms). */
export const DISTINCT_INPUTS = 8
const cache = new Map<string, WireTensor[]>()

/** The inputs of request n: one of DISTINCT_INPUTS seeded sets (n mod DISTINCT_INPUTS), built once. */
export function randomWireInputs(specs: readonly TensorSpec[], n: number): WireTensor[] {
  const key = `${JSON.stringify(specs)}#${n % DISTINCT_INPUTS}`
  let got = cache.get(key)
  if (!got) {
    if (cache.size >= 4 * DISTINCT_INPUTS) cache.clear()
    cache.set(key, (got = generate(specs, n % DISTINCT_INPUTS)))
  }
  return got
}

function generate(specs: readonly TensorSpec[], n: number): WireTensor[] {
  const rand = seededRandom(1000 + n)
  return specs.map((s) => {
    const count = elementCount(s.shape)
    const data = randomValues(s.dtype, count, rand)
    if (!data) throw new TypeError(`input ${s.name}: cannot generate ${s.dtype} values`)
    return { name: s.name, dtype: s.dtype, shape: [...s.shape], data: bytesOf(data) }
  })
}
