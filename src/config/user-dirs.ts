/**
 * Where the hub keeps its files when the config names no folder: the XDG base directories
 * ($XDG_STATE_HOME, $XDG_DATA_HOME, $XDG_CACHE_HOME, each an absolute path), falling back to
 * ~/.local/state, ~/.local/share and ~/.cache as the XDG Base Directory specification says.
 */
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'

const XDG = {
  state: { env: 'XDG_STATE_HOME', fallback: ['.local', 'state'] },
  data: { env: 'XDG_DATA_HOME', fallback: ['.local', 'share'] },
  cache: { env: 'XDG_CACHE_HOME', fallback: ['.cache'] },
} as const

/** `<base>/dora/...parts` for one kind of XDG base directory (a relative variable is ignored, as the spec says). */
export function userDir(kind: keyof typeof XDG, ...parts: string[]): string {
  const x = XDG[kind]
  const set = process.env[x.env]
  const base = set && isAbsolute(set) ? set : join(homedir(), ...x.fallback)
  return join(base, 'dora', ...parts)
}
