/** The file store of persistent-session owners (src/broker/session-owners.ts): kept across opens, damaged files set aside, bounded. */
import { describe, expect, it } from 'vitest'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FileSessionOwners } from '../../src/broker/session-owners.js'
import { tempStateDir } from '../helpers/hub.js'

describe('persistent-session owners in a file', () => {
  it('are read back by the next open; a delete removes one', async () => {
    const file = join(tempStateDir(), 'session-owners.json')
    const a = await FileSessionOwners.open(file)
    await a.set('panel', 'observer:dash')
    await a.set('tool', 'operator:ops')
    await a.delete('tool')
    const b = await FileSessionOwners.open(file)
    expect(await b.get('panel')).toBe('observer:dash')
    expect(await b.get('tool')).toBeNull()
  })

  it('a damaged file is set aside and the store starts empty; entries over 256 characters are not kept', async () => {
    const file = join(tempStateDir(), 'session-owners.json')
    writeFileSync(file, '{"v":1,"owners":')
    const s = await FileSessionOwners.open(file)
    expect(await s.get('panel')).toBeNull()
    expect(existsSync(`${file}.damaged`)).toBe(true)
    await s.set('x'.repeat(300), 'observer:dash')
    await s.set('panel', 'observer:dash')
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).owners)).toEqual(['panel'])
  })
})
