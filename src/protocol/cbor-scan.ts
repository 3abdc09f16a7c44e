/**
 * Counts the items of one CBOR message without building them (RFC 8949 § 3: the head of every
 * item gives its major type and argument; strings are skipped by their length), so a receiver can
 * refuse a message whose shape no sender of ours produces before a decoder allocates an object per
 * item: a packet-sized message of tiny items (a million empty maps in 1 MB) costs a JavaScript
 * decoder a second, where a tensor chunk of the same size (one byte string) costs microseconds.
 * The scan allocates nothing per item (a few nanoseconds each), and stops at the budget.
 */

/** Why `bytes` is not one CBOR item of at most `maxItems` items nested at most `maxDepth` deep (null: it is). */
export function cborShapeProblem(bytes: Uint8Array, maxItems: number, maxDepth: number): string | null {
  const end = bytes.byteLength
  // left[d]: items still to read at depth d (the message itself is one item at depth 0)
  const left = new Float64Array(maxDepth + 1)
  left[0] = 1
  let depth = 0
  let at = 0
  let items = 0
  for (;;) {
    while (left[depth] === 0) {
      if (depth === 0) return at === end ? null : 'bytes after the CBOR item'
      depth--
    }
    left[depth]!--
    if (++items > maxItems) return `more than ${maxItems} CBOR items`
    if (at >= end) return 'the message ends inside an item'
    const first = bytes[at++]!
    const major = first >> 5
    const ai = first & 0x1f
    let arg = ai
    if (ai >= 24) {
      if (ai > 27) return ai === 31 ? 'indefinite-length items are not used by Dora' : 'a reserved CBOR head'
      const size = 1 << (ai - 24)
      if (at + size > end) return 'the message ends inside an item'
      arg = 0
      for (let i = 0; i < size; i++) arg = arg * 256 + bytes[at + i]!
      at += size
    }
    // major types 0, 1 and 7 (integers, simple values, floats) have no content to skip or count
    if (major === 2 || major === 3) {
      if (arg > end - at) return 'a string runs past the end of the message'
      at += arg
    } else if (major >= 4 && major <= 6) {
      const children = major === 4 ? arg : major === 5 ? 2 * arg : 1
      if (children > end - at) return 'an array or map claims more items than the message has bytes'
      if (children > 0) {
        if (depth >= maxDepth) return `nested more than ${maxDepth} deep`
        left[++depth] = children
      }
    }
  }
}
