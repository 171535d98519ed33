/**
 * Rules of the house that a reader relies on:
 *  - the project's Markdown names only files and folders that exist: every path-like word under
 *    src/, shaders/, scripts/, e2e/ (or a room-relative one such as `engine/decode.ts` in
 *    src/ARCHITECTURE.md) resolves against the repository root or the document's own folder;
 *    templates (`<name>`, `*`) and paths outside the project (`../shared/...`, URLs) are skipped;
 *  - code comments say what holds and why: none in src/ or shaders/ points at a session or an
 *    issue number (that history belongs in commit messages).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');

/** Every file of the project ending in one of `exts` (not node_modules, build output or caches). */
function projectFiles(exts: string[], dir = ROOT): string[] {
  const skip = new Set(['node_modules', '.git', '.cache', 'dist', 'test-results', 'playwright-report', 'dev-dist']);
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!skip.has(e.name) && !e.name.startsWith('dist-') && !e.name.startsWith('test-results-')) out.push(...projectFiles(exts, join(dir, e.name)));
    } else if (exts.some((x) => e.name.endsWith(x))) out.push(join(dir, e.name));
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

  for (const doc of projectFiles(['.md'])) {
    it(relative(ROOT, doc), () => {
      const text = readFileSync(doc, 'utf8');
      const missing = namedPaths(text).filter((p) => !existsSync(join(ROOT, p)) && !existsSync(join(dirname(doc), p)));
      expect(missing).toEqual([]);
    });
  }
});

/** Comment text of a TypeScript or WGSL file (line and block comments; good enough for prose checks). */
function comments(code: string): string[] {
  return [...code.matchAll(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g)].map((m) => m[0]);
}

/** "issue 8", "session 4", "issues #12": a pointer into the project's history. */
const HISTORY = /\b(issue|session)s?\s+#?\d+|\bissue's\b/i;

describe('comments say what holds, not who measured it', () => {
  it('finds a history pointer in a comment', () => {
    expect(comments('const a = 1; // measured in issue 8\n/* fine */').filter((c) => HISTORY.test(c))).toHaveLength(1);
  });

  it('no comment in src/ or shaders/ points at a session or an issue', () => {
    const files = [...projectFiles(['.ts', '.tsx', '.wgsl'], join(ROOT, 'src')), ...projectFiles(['.wgsl'], join(ROOT, 'shaders'))];
    expect(files.length).toBeGreaterThan(100);
    const hits = files.flatMap((f) => comments(readFileSync(f, 'utf8')).filter((c) => HISTORY.test(c)).map((c) => `${relative(ROOT, f)}: ${c.slice(0, 80)}`));
    expect(hits).toEqual([]);
  });
});
