/**
 * Size limits of Dora's source (README § Architecture): a file of at most 400 lines, a function
 * (declaration, method, arrow or expression) of at most 80 lines, counted from its first line
 * to its last. Read with the TypeScript parser; no type checking, so it is fast.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

export const MAX_FILE_LINES = 400
export const MAX_FUNCTION_LINES = 80

export interface SizeViolation {
  readonly file: string
  readonly what: string
  readonly lines: number
  readonly limit: number
}

/** The .ts files under `dirs` (relative to `root`), sorted. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = []
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = join(rel, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
    }
  }
  for (const d of dirs) walk(d)
  return out.sort()
}

/** Every file and function of `file` over its limit. */
export function sizeViolations(file: string, text: string): SizeViolation[] {
  const out: SizeViolation[] = []
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true)
  const fileLines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
  if (fileLines > MAX_FILE_LINES) out.push({ file, what: 'file', lines: fileLines, limit: MAX_FILE_LINES })
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line
  const visit = (n: ts.Node) => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const lines = lineOf(n.getEnd()) - lineOf(n.getStart(sf)) + 1
      if (lines > MAX_FUNCTION_LINES) out.push({ file, what: `function ${nameOf(n)}`, lines, limit: MAX_FUNCTION_LINES })
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return out
}

function nameOf(n: ts.Node): string {
  const named = n as { name?: ts.Node }
  if (named.name && ts.isIdentifier(named.name)) return named.name.text
  if (ts.isConstructorDeclaration(n)) return 'constructor'
  const p = n.parent
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text
  if (p && ts.isPropertyDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text
  return '(anonymous)'
}

/** All violations under `dirs` of `root`. */
export function checkSizes(root: string, dirs: readonly string[]): SizeViolation[] {
  return sourceFiles(root, dirs).flatMap((f) => sizeViolations(f, readFileSync(join(root, f), 'utf8')))
}
