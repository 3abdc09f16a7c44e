/**
 * Reading an ONNX file without trusting the path: opened non-blocking (a FIFO cannot hang the
 * process; with `noFollow`, a final symlink is refused), checked to be a regular file (not a FIFO, socket or
 * device such as /dev/zero) and within the size limit from its own descriptor before any byte is
 * read, and read up to that size only (a file growing meanwhile cannot grow the reader).
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

export class ModelFileError extends Error {
  constructor(message: string, readonly reason: 'missing' | 'not-regular' | 'too-large' | 'unreadable') {
    super(message)
    this.name = 'ModelFileError'
  }
}

export async function readModelFile(path: string, maxBytes: number, o: { noFollow?: boolean } = {}): Promise<Uint8Array> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (o.noFollow ? constants.O_NOFOLLOW : 0))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ModelFileError(`cannot read model ${path}: no such file (and not a zoo model name)`, 'missing')
    if (code === 'ELOOP') throw new ModelFileError(`cannot read model ${path}: a symbolic link`, 'not-regular')
    throw new ModelFileError(`cannot read model ${path}: ${(err as Error).message}`, 'unreadable')
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new ModelFileError(`cannot read model ${path}: not a regular file`, 'not-regular')
    if (st.size > maxBytes) throw new ModelFileError(`${path}: ${st.size} bytes is larger than the ${maxBytes}-byte limit`, 'too-large')
    const bytes = new Uint8Array(st.size)
    let at = 0
    while (at < bytes.length) {
      const { bytesRead } = await fh.read(bytes, at, bytes.length - at, at)
      if (bytesRead === 0) break
      at += bytesRead
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at)
  } finally {
    await fh.close()
  }
}
