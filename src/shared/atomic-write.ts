/**
 * Writes a file so that a crash leaves the old or the new file, never half of one: a temporary
 * file beside it (named after this process) renamed over it. `private`: the folder 0700 and the
 * file 0600 (state that only the hub may read).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[], opts: { private?: boolean } = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true, ...(opts.private ? { mode: 0o700 } : {}) })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, data as Parameters<typeof writeFile>[1], opts.private ? { mode: 0o600 } : {})
  await rename(tmp, file)
}
