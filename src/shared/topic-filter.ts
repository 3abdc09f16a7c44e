/** MQTT topic filter matching, for the broker's ACLs and the client's dispatch. [MQTT-4.7] wildcards: `+` one level, `#` the rest. */

/** True when `topic` (no wildcards) matches `filter`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/**
 * True when every topic a subscriber's `filter` can match is also matched by `allowed`:
 * the subscription stays inside what the ACL permits.
 */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = filter.split('/')
  const a = allowed.split('/')
  for (let i = 0; i < f.length; i++) {
    if (a[i] === '#') return true
    if (i >= a.length) return false
    if (f[i] === '#') return false
    if (a[i] === '+') continue
    if (f[i] !== a[i]) return false
  }
  return f.length === a.length
}
