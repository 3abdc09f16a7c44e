/**
 * Loads the hub configuration: config/default.yaml, then the user's file, then flag overrides,
 * validated once and frozen. Errors name the file and every bad key.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { configSchema, type Config } from './schema.js'
import { formatIssues } from '../protocol/payloads.js'
import { DoraError, ErrorCodes } from '../errors.js'

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url))

type Tree = Record<string, unknown>

export async function readConfigFile(path: string): Promise<Tree> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new DoraError(ErrorCodes.CONFIG_UNREADABLE, `cannot read config file ${path}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new DoraError(ErrorCodes.CONFIG_INVALID, `config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new DoraError(ErrorCodes.CONFIG_INVALID, `config file ${path} must hold a mapping of keys, not ${Array.isArray(value) ? 'a list' : typeof value}`)
  }
  return value as Tree
}

/** Merges `over` into `base`: mappings merge key by key; anything else (lists too) replaces. */
export function mergeTrees(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue
    const b = out[k]
    out[k] = isTree(v) && isTree(b) ? mergeTrees(b, v) : v
  }
  return out
}

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v)

export function validateConfig(tree: Tree, source: string): Readonly<Config> {
  const parsed = configSchema.safeParse(tree)
  if (!parsed.success) {
    throw new DoraError(ErrorCodes.CONFIG_INVALID, `invalid configuration (${source}): ${formatIssues(parsed.error)}`)
  }
  return deepFreeze(parsed.data)
}

export async function loadConfig(userFile?: string, overrides: Tree = {}): Promise<Readonly<Config>> {
  let tree = await readConfigFile(DEFAULT_CONFIG_FILE)
  if (userFile) tree = mergeTrees(tree, await readConfigFile(userFile))
  tree = mergeTrees(tree, overrides)
  return validateConfig(tree, userFile ? `defaults + ${userFile} + flags` : 'defaults + flags')
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
