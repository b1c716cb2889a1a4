#!/usr/bin/env node
// The dependency rules of the tree (docs/ARCHITECTURE.md), checked on every
// import of every TypeScript file, type-only and dynamic imports included:
//   protocol/  imports only protocol/, and no I/O (files, sockets, processes)
//   lib/       imports only lib/
//   node/, simulator/, vpn-client/  import protocol/, lib/ and themselves, never each other
//   cli/, bin/ compose the rest; bench/ may use all of it but test/
//   no import cycles between files
// Usage: node .ci/check-deps.mjs [ROOT]   (exit 0 clean, 1 violations, 2 usage)
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, posix, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

const PRODUCT = ['protocol', 'lib', 'node', 'simulator', 'vpn-client', 'cli', 'bin']
const FOLDERS = [...PRODUCT, 'bench', 'test']
/** Which of our folders each folder may import from (itself included). */
const MAY_IMPORT = {
  protocol: ['protocol'],
  lib: ['lib'],
  node: ['protocol', 'lib', 'node'],
  simulator: ['protocol', 'lib', 'simulator'],
  'vpn-client': ['protocol', 'lib', 'vpn-client'],
  cli: ['protocol', 'lib', 'node', 'simulator', 'vpn-client', 'cli'],
  bin: ['cli'],
  bench: PRODUCT.concat('bench'),
  test: FOLDERS,
}
/** Packages and built-ins that would give the pure codecs I/O. */
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|net|dgram|http|https|http2|tls|child_process|cluster|worker_threads|dns|readline)$|^(classic-level|winston)$/

function tsFiles(root, dir, out) {
  for (const name of readdirSync(join(root, dir))) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const rel = posix.join(dir, name)
    const st = statSync(join(root, rel))
    if (st.isDirectory()) tsFiles(root, rel, out)
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

/** The repo-relative .ts file an import names, or null for a package. */
function target(from, spec, files) {
  if (!spec.startsWith('.')) return null
  const joined = posix.normalize(posix.join(posix.dirname(from), spec))
  const candidates = [joined, joined.replace(/\.js$/, '.ts'), joined.replace(/\.mjs$/, '.mts'), joined + '.ts', joined + '/index.ts']
  return candidates.find((c) => files.has(c)) ?? joined
}

export function checkTree(root) {
  const files = new Set(
    FOLDERS.filter((f) => {
      try {
        return statSync(join(root, f)).isDirectory()
      } catch {
        return false
      }
    }).flatMap((f) => tsFiles(root, f, [])),
  )
  const violations = []
  const edges = new Map()
  let imports = 0
  for (const file of [...files].sort()) {
    const top = file.split('/')[0]
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true)
    const deps = []
    for (const { fileName: spec } of info.importedFiles) {
      imports++
      const to = target(file, spec, files)
      if (to === null) {
        if (top === 'protocol' && IO_MODULES.test(spec))
          violations.push(`${file}: imports ${spec} — protocol/ is pure (no files, sockets, processes or logs)`)
        continue
      }
      if (to.startsWith('..')) {
        violations.push(`${file}: imports ${spec}, outside the repository`)
        continue
      }
      const toTop = to.split('/')[0]
      const allowed = MAY_IMPORT[top] ?? []
      if (!allowed.includes(toTop))
        violations.push(`${file}: imports ${to} — ${top}/ may import only ${allowed.map((a) => a + '/').join(', ')}`)
      if (files.has(to)) deps.push(to)
    }
    edges.set(file, deps)
  }
  for (const cycle of findCycles(edges)) violations.push(`import cycle: ${cycle.join(' → ')}`)
  return { files: files.size, imports, violations }
}

/** One cycle per strongly connected component of more than one file (or a self-import), Tarjan's algorithm. */
function findCycles(edges) {
  let index = 0
  const idx = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const cycles = []
  const visit = (v) => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const comp = []
      let w
      do {
        w = stack.pop()
        onStack.delete(w)
        comp.push(w)
      } while (w !== v)
      if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(cyclePath(comp, edges))
    }
  }
  for (const v of edges.keys()) if (!idx.has(v)) visit(v)
  return cycles
}

/** A readable path a → b → … → a through one component. */
function cyclePath(comp, edges) {
  const inComp = new Set(comp)
  const start = [...comp].sort()[0]
  const prev = new Map([[start, null]])
  const queue = [start]
  while (queue.length) {
    const v = queue.shift()
    for (const w of edges.get(v) ?? []) {
      if (!inComp.has(w)) continue
      if (w === start) {
        const path = [start]
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u)
        return [...path, start]
      }
      if (!prev.has(w)) {
        prev.set(w, v)
        queue.push(w)
      }
    }
  }
  return comp
}

const invokedAs = process.argv[1] ? resolve(process.argv[1]) : ''
if (invokedAs === resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2)
  if (args.length > 1 || args[0]?.startsWith('-')) {
    console.error('usage: node .ci/check-deps.mjs [ROOT]')
    process.exit(2)
  }
  const root = resolve(args[0] ?? join(dirname(new URL(import.meta.url).pathname), '..'))
  const { files, imports, violations } = checkTree(root)
  for (const v of violations) console.error(v)
  const where = relative(process.cwd(), root).split(sep).join('/') || '.'
  console.log(
    `dependency rules (${where}): ${files} files, ${imports} imports, ${violations.length} violation${violations.length === 1 ? '' : 's'}`,
  )
  process.exit(violations.length ? 1 : 0)
}
