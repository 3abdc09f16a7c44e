/**
 * Schemas for the long arrays of texts a device may send (a training step's routes: up to 4096 x
 * 64 device ids; a restore request's parameter names: up to 100,000), checked in one loop that
 * stops at the first bad element and reports one issue. zod checks an array element by element
 * and reports every bad one: a hostile step of 262,144 numbers, within its decoding budget, costs
 * zod 0.4-1.4 s of issues (and a valid one 130 ms); this loop, a millisecond.
 */
import { z } from 'zod'

interface TextListBounds {
  /** Elements (inclusive). */
  readonly min: number
  readonly max: number
  /** Characters of each text (UTF-16 code units, as zod's string length), at least 1. */
  readonly maxChars: number
}

function isTextList(x: unknown, b: TextListBounds): boolean {
  if (!Array.isArray(x) || x.length < b.min || x.length > b.max) return false
  for (const s of x) if (typeof s !== 'string' || s.length < 1 || s.length > b.maxChars) return false
  return true
}

/** An array of `min`-`max` texts of 1-`maxChars` characters. */
export function textList(b: TextListBounds): z.ZodType<string[]> {
  return z.custom<string[]>((x) => isTextList(x, b), { message: `must be ${b.min}-${b.max} texts of 1-${b.maxChars} characters` })
}

/** An array of `min`-`max` text lists, each as `inner` bounds it (one issue for the whole). */
export function textLists(outer: Omit<TextListBounds, 'maxChars'>, inner: TextListBounds): z.ZodType<string[][]> {
  return z.custom<string[][]>((x) => Array.isArray(x) && x.length >= outer.min && x.length <= outer.max && x.every((l) => isTextList(l, inner)), {
    message: `must be ${outer.min}-${outer.max} lists of ${inner.min}-${inner.max} texts of 1-${inner.maxChars} characters`,
  })
}
