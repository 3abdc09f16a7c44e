/**
 * Which models a submitted job spec may name (README § Security): a zoo model, an upload
 * (`upload:{sha256}`, fetched elsewhere), or a regular file under the hub's models folder
 * (`hub.modelsDir`). A path is resolved against the folder, its real path (symlinks followed)
 * must lie inside the folder's real path, and it must be a regular file: no FIFOs, sockets or
 * devices. "Not found" and "not allowed" get one message, so a spec cannot probe which files
 * exist on the hub.
 */
import { realpath, stat } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { zooModel } from '../model/zoo/index.js'
import { UPLOAD_PREFIX } from './uploads.js'

export class ModelRefused extends Error {
  constructor(ref: string, modelsDir: string) {
    super(`model ${JSON.stringify(ref.slice(0, 256))}: not a zoo model, an upload, or a model file under the hub's models folder (${modelsDir})`)
    this.name = 'ModelRefused'
  }
}

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
}

/**
 * The model a submitted spec may load: the zoo name or upload reference as given, or the real
 * path of a regular file inside `modelsDir`. Throws ModelRefused for anything else.
 */
export async function submittedModel(ref: string, modelsDir: string): Promise<string> {
  if (zooModel(ref) || ref.startsWith(UPLOAD_PREFIX)) return ref
  const refused = new ModelRefused(ref, modelsDir)
  if (ref.includes('\0') || ref.length > 4096) throw refused
  const dir = resolve(modelsDir)
  const candidate = resolve(dir, ref)
  // decided on the path as written first: nothing outside the folder is even looked at
  if (!inside(dir, candidate)) throw refused
  try {
    const realDir = await realpath(dir)
    const real = await realpath(candidate)
    if (!inside(realDir, real) || !(await stat(real)).isFile()) throw refused
    return real
  } catch {
    throw refused
  }
}
