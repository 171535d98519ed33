/**
 * Cost of re-rendering a streaming reply: markdownToHtml on the whole text, as <Markdown> does at
 * most once per animation frame. Prints ms per render for replies of growing size (Node, one core).
 * Run: npx tsx scripts/bench-markdown.ts
 */
import { markdownToHtml } from '../src/ui/markdown.ts';

const prose = 'The **printing press** changed how ideas spread; see [the history](https://example.org/press). ';
const code = '```python\ndef count_words(text: str) -> dict[str, int]:\n    counts = {}\n    for w in text.split():\n        counts[w] = counts.get(w, 0) + 1\n    return counts\n```\n\n';

function reply(bytes: number): string {
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += i % 4 === 3 ? code : `${prose.repeat(3)}\n\n- item ${i}\n- another\n\n`;
  return s.slice(0, bytes);
}

for (const kb of [1, 4, 16, 64]) {
  const text = reply(kb * 1024);
  for (let i = 0; i < 5; i++) markdownToHtml(text); // warm up the JIT
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) markdownToHtml(text.slice(0, text.length - (i % 7))); // cut mid-token, as streaming does
  const ms = (performance.now() - t0) / n;
  console.log(`${String(kb).padStart(3)} KB reply: ${ms.toFixed(2)} ms per render (${(ms / 16.7 * 100).toFixed(0)}% of a 60 Hz frame)`);
}
