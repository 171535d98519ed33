/**
 * Model replies as Markdown, rendered to an HTML string that is safe before any sanitizer sees it:
 * raw HTML in the reply is escaped (`html: false`), links survive only for http(s) and mailto,
 * images are not rendered (they would fetch from anywhere), and code blocks are highlighted by
 * highlight.js core with a fixed set of languages. Markdown.tsx passes the result through DOMPurify
 * as a second, independent layer. No DOM needed here, so Node tests see exactly what the page gets.
 */
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';

// Core plus these keeps the bundle small (the full build registers ~190 languages, ~1 MB).
// Each module brings its aliases: js/jsx, ts/tsx, py, sh/zsh, console, html/svg, h, cc/c++, rs, golang, md.
const LANGUAGES = { bash, c, cpp, css, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml };
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);

/** The only link targets that stay links; everything else (javascript:, data:, relative) is text. */
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false }); // only explicit http(s):// and mailto: become links
md.validateLink = (url) => SAFE_LINK.test(url.trim());
md.disable('image');

md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  const t = tokens[idx];
  t.attrSet('target', '_blank');
  t.attrSet('rel', 'noopener noreferrer');
  return self.renderToken(tokens, idx, options);
};

/** The registered language a fence's info string names, if any ("```Python {linenos}" -> python). */
export function fenceLanguage(info: string): string | undefined {
  const name = info.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  const lang = name ? hljs.getLanguage(name) : undefined;
  if (!lang) return undefined;
  // Map an alias back to its registered name, for a stable class and label.
  return Object.keys(LANGUAGES).find((k) => hljs.getLanguage(k) === lang);
}

function codeBlock(code: string, info: string): string {
  const lang = fenceLanguage(info);
  // hljs escapes the text it wraps in spans; the unhighlighted path escapes it here.
  const body = lang ? hljs.highlight(code, { language: lang, ignoreIllegals: true }).value : md.utils.escapeHtml(code);
  const label = lang ?? (info.trim().split(/\s+/)[0] || 'text');
  return (
    `<div class="code-block"><div class="code-head"><span class="code-lang">${md.utils.escapeHtml(label)}</span>` +
    `<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>` +
    `<pre><code class="hljs${lang ? ` language-${lang}` : ''}">${body}</code></pre></div>\n`
  );
}

md.renderer.rules.fence = (tokens, idx) => codeBlock(tokens[idx].content, tokens[idx].info);
md.renderer.rules.code_block = (tokens, idx) => codeBlock(tokens[idx].content, '');

/**
 * Markdown to HTML. A reply still streaming may end inside a code fence: CommonMark closes an open
 * fence at the end of the text, so the partial code shows as a code block rather than as raw
 * backticks, and the block simply grows as tokens arrive.
 */
export function markdownToHtml(text: string): string {
  return md.render(text);
}
