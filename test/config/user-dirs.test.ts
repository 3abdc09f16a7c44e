/** The hub's default folders follow the XDG base directories (src/config/user-dirs.ts). */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { userDir } from '../../src/config/user-dirs.js'

const saved = process.env.XDG_STATE_HOME
afterEach(() => {
  if (saved === undefined) delete process.env.XDG_STATE_HOME
  else process.env.XDG_STATE_HOME = saved
})

describe('user folders', () => {
  it('puts state under $XDG_STATE_HOME/dora when it is an absolute path', () => {
    process.env.XDG_STATE_HOME = '/srv/x'
    expect(userDir('state', 'hub-a')).toBe('/srv/x/dora/hub-a')
  })

  it('falls back to ~/.local/state when the variable is unset or relative', () => {
    delete process.env.XDG_STATE_HOME
    expect(userDir('state', 'hub-a')).toBe(join(homedir(), '.local', 'state', 'dora', 'hub-a'))
    process.env.XDG_STATE_HOME = 'rel/dir'
    expect(userDir('state', 'hub-a')).toBe(join(homedir(), '.local', 'state', 'dora', 'hub-a'))
  })

  it('runs the tests with the state, data and cache folders outside the home folder', () => {
    for (const k of ['state', 'data', 'cache'] as const) expect(userDir(k).startsWith(homedir() + '/')).toBe(false)
  })
})
