/**
 * Counts the items of one CBOR message without building them (RFC 8949 § 3: the head of every
 * item gives its major type and argument; strings are skipped by their length), so a receiver can
 * refuse a message whose shape no sender of ours produces before a decoder allocates an object per
 * item: a packet-sized message of tiny items (a million empty maps in 1 MB) costs a JavaScript
 * decoder a second, where a tensor chunk of the same size (one byte string) costs microseconds.
 */

/** Why `bytes` is not one CBOR item of at most `maxItems` items nested at most `maxDepth` deep (null: it is). */
export function cborShapeProblem(bytes: Uint8Array, maxItems: number, maxDepth: number): string | null {
  // remaining[d]: items still to read at depth d (the message itself is one item at depth 0)
  const remaining: number[] = [1]
  let at = 0
  let items = 0
  while (remaining.length) {
    if (remaining[remaining.length - 1] === 0) {
      remaining.pop()
      continue
    }
    remaining[remaining.length - 1]!--
    if (++items > maxItems) return `more than ${maxItems} CBOR items`
    const head = readHead(bytes, at)
    if (typeof head === 'string') return head
    at = head.next
    const { major, arg } = head
    if (major === 2 || major === 3) {
      if (arg > bytes.byteLength - at) return 'a string runs past the end of the message'
      at += arg
    } else if (major === 4 || major === 5 || major === 6) {
      const children = major === 4 ? arg : major === 5 ? 2 * arg : 1
      if (children > bytes.byteLength - at) return 'an array or map claims more items than the message has bytes'
      if (children > 0) {
        if (remaining.length > maxDepth) return `nested more than ${maxDepth} deep`
        remaining.push(children)
      }
    }
  }
  return at === bytes.byteLength ? null : 'bytes after the CBOR item'
}

/** The head of the item at `at`: major type, argument (a length, a count, a value) and where its content begins. */
function readHead(bytes: Uint8Array, at: number): { major: number; arg: number; next: number } | string {
  if (at >= bytes.byteLength) return 'the message ends inside an item'
  const first = bytes[at]!
  const major = first >> 5
  const ai = first & 0x1f
  if (ai < 24) return { major, arg: ai, next: at + 1 }
  if (ai > 27) return ai === 31 ? 'indefinite-length items are not used by Dora' : 'a reserved CBOR head'
  const size = 1 << (ai - 24)
  if (at + 1 + size > bytes.byteLength) return 'the message ends inside an item'
  let arg = 0
  for (let i = 1; i <= size; i++) arg = arg * 256 + bytes[at + i]!
  // major type 7 with a 2-8 byte argument is a float: its value is not a length
  return { major, arg: major === 7 ? 0 : arg, next: at + 1 + size }
}
