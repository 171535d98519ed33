/**
 * The project's Markdown names only files and folders that exist: every path-like word under
 * src/, shaders/, scripts/, e2e/ (or a room-relative one such as `engine/decode.ts` in
 * src/ARCHITECTURE.md) must resolve against the repository root or the document's own folder.
 * Templates (`<name>`, `*`) and paths outside the project (`../shared/...`, URLs) are skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');

/** Every Markdown file of the project (not node_modules, build output or caches). */
function markdownFiles(dir = ROOT): string[] {
  const skip = new Set(['node_modules', '.git', '.cache', 'dist', 'test-results', 'playwright-report', 'dev-dist']);
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!skip.has(e.name) && !e.name.startsWith('dist-') && !e.name.startsWith('test-results-')) out.push(...markdownFiles(join(dir, e.name)));
    } else if (e.name.endsWith('.md')) out.push(join(dir, e.name));
  }
  return out;
}

/** Path-like words: a folder path ending in `/`, or a file path with an extension we keep in the tree. */
const PATH = /(?<![\w./-])(?:\.\/)?(?:[A-Za-z0-9_.-]+\/)+(?:[A-Za-z0-9_.-]+\.(?:ts|tsx|wgsl|mjs|js|md|json|sh|html)\b)?/g;

export function namedPaths(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(PATH)) {
    const p = m[0];
    const word = /^[^\s`'"()[\],;|]+/.exec(text.slice(m.index))?.[0] ?? p;
    if (/[<*{]/.test(word)) continue; // a template: shaders/weights_<type>.wgsl, src/kernels/*.ts
    if (/^(https?:|\.\.\/|\/)/.test(p) || text.slice(Math.max(0, m.index - 3), m.index).endsWith('://')) continue;
    if (!/\.(ts|tsx|wgsl|mjs|js|md|json|sh|html)$/.test(p) && !/^(\.\/)?(src|shaders|scripts|e2e|public|\.ci)\//.test(p)) continue;
    found.add(p);
  }
  return [...found];
}

describe('paths named in the Markdown exist', () => {
  it('finds the paths in a sentence, and skips templates and outside paths', () => {
    expect(namedPaths('see `src/engine/decode.ts`, engine/state.ts and shaders/weights_<type>.wgsl, ../shared/DESIGN.md, https://x.org/a/b.md')).toEqual([
      'src/engine/decode.ts',
      'engine/state.ts',
    ]);
  });

  for (const doc of markdownFiles()) {
    it(relative(ROOT, doc), () => {
      const text = readFileSync(doc, 'utf8');
      const missing = namedPaths(text).filter((p) => !existsSync(join(ROOT, p)) && !existsSync(join(dirname(doc), p)));
      expect(missing).toEqual([]);
    });
  }
});
