/**
 * The Markdown layer on its own (no DOM, so no DOMPurify): model output must already be inert here.
 * e2e/ui-safety.spec.ts checks the sanitized result in the browser. Would break if `html: false`
 * were dropped, if validateLink accepted javascript:, if images were enabled or highlighting lost.
 */
import { describe, expect, it } from 'vitest';
import { fenceLanguage, markdownToHtml } from './markdown.ts';

/** Tag names of every element the HTML string would create. */
function tags(html: string): string[] {
  return [...html.matchAll(/<([a-zA-Z][\w-]*)/g)].map((m) => m[1].toLowerCase());
}

describe('markdownToHtml', () => {
  it('escapes raw HTML: an <img onerror> and a <script> are text', () => {
    const html = markdownToHtml('Look: <img src=x onerror=alert(1)> and <script>alert(1)</script>');
    expect(html).toBe('<p>Look: &lt;img src=x onerror=alert(1)&gt; and &lt;script&gt;alert(1)&lt;/script&gt;</p>\n');
    expect(tags(html)).toEqual(['p']);
  });

  it('escapes HTML blocks and inline HTML inside lists and emphasis', () => {
    const html = markdownToHtml('<div onclick="x()">\n\n- **<svg onload=alert(1)>**\n- <iframe src="/x"></iframe>');
    expect(tags(html)).toEqual(['p', 'ul', 'li', 'strong', 'li']);
    expect(html).toContain('&lt;svg onload=alert(1)&gt;');
  });

  it('keeps http(s) and mailto links, opened in a new tab without opener or referrer', () => {
    const html = markdownToHtml('[docs](https://example.org/a?b=1) or [mail](mailto:a@example.org) or http://example.com/x');
    expect(html).toContain('<a href="https://example.org/a?b=1" target="_blank" rel="noopener noreferrer">docs</a>');
    expect(html).toContain('<a href="mailto:a@example.org" target="_blank" rel="noopener noreferrer">mail</a>');
    expect(html).toContain('<a href="http://example.com/x" target="_blank" rel="noopener noreferrer">http://example.com/x</a>');
  });

  it.each([
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x](&#106;avascript:alert(1))',
    '[x]( javascript:alert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD4=)',
    '[x](file:///etc/passwd)',
    '[x](/relative/path)',
    '<javascript:alert(1)>',
    '[x][r]\n\n[r]: javascript:alert(1)',
  ])('%s is not a link', (src) => {
    const html = markdownToHtml(src);
    expect(tags(html)).not.toContain('a');
    expect(html).not.toMatch(/href=/);
  });

  it('does not render images (they would fetch from any host)', () => {
    const html = markdownToHtml('![tracker](https://example.org/pixel.png)');
    expect(tags(html)).not.toContain('img');
  });

  it('highlights fenced code in a registered language, with a Copy code button', () => {
    const html = markdownToHtml('```python\ndef f(x):\n    return "<b>"\n```');
    expect(html).toContain('<code class="hljs language-python"><span class="hljs-keyword">def</span>');
    expect(html).toContain('<span class="hljs-string">&quot;&lt;b&gt;&quot;</span>');
    expect(html).toContain('<button type="button" class="copy-code" aria-label="Copy code">Copy</button>');
  });

  it.each([
    ['js', 'javascript'],
    ['TS', 'typescript'],
    ['sh', 'bash'],
    ['html', 'xml'],
    ['c++', 'cpp'],
    ['rs', 'rust'],
    ['golang', 'go'],
    ['json', 'json'],
    ['sql', 'sql'],
    ['md', 'markdown'],
    ['java', 'java'],
    ['css', 'css'],
    ['c', 'c'],
    ['shell', 'shell'],
    ['py {linenos}', 'python'],
  ])('fence info %s highlights as %s', (info, lang) => {
    expect(fenceLanguage(info)).toBe(lang);
  });

  it('an unknown language or a hostile info string is escaped, not highlighted', () => {
    const html = markdownToHtml('```"><script>alert(1)</script>\n<b>x</b>\n```');
    expect(tags(html)).toEqual(['div', 'div', 'span', 'button', 'pre', 'code']);
    expect(html).toContain('<code class="hljs">&lt;b&gt;x&lt;/b&gt;\n</code>');
  });

  it('renders an unclosed fence (a reply still streaming) as a code block', () => {
    const html = markdownToHtml('Here:\n\n```js\nconst a = 1;\nconst b = <div>');
    expect(html).toContain('<code class="hljs language-javascript">');
    expect(html).toContain('&lt;div&gt;</code>');
    expect(html).not.toContain('```');
  });

  it('renders ordinary Markdown: headings, lists, emphasis, tables, line breaks', () => {
    const html = markdownToHtml('# T\n\n1. **a**\n2. _b_\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\none\ntwo');
    expect(tags(html)).toEqual(['h1', 'ol', 'li', 'strong', 'li', 'em', 'table', 'thead', 'tr', 'th', 'th', 'tbody', 'tr', 'td', 'td', 'p', 'br']);
  });
});
