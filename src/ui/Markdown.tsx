import DOMPurify from 'dompurify';
import { useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { markdownToHtml } from './markdown.ts';

/**
 * Defence in depth: markdownToHtml already escapes raw HTML and drops unsafe links; DOMPurify
 * removes anything executable should a markdown-it or highlight.js bug ever let markup through.
 * `target` is not in its default allow-list; markdown.ts only sets it next to rel="noopener noreferrer".
 */
function sanitizeHtml(html: string): string {
  return DOMPurify.sanitize(html, { ADD_ATTR: ['target'], FORBID_TAGS: ['style', 'img', 'form', 'input'] });
}

/**
 * How long the last render of a streaming reply took (Markdown + highlighting + sanitizing). Only
 * one reply streams at a time, so one module-level value is enough.
 */
let lastRenderMs = 0;

/**
 * The text to render: while a reply streams, the latest text at most once per animation frame
 * (tokens can arrive faster than frames, and each render re-parses the whole reply), and, once a
 * render costs more than a few ms (long replies), no sooner than twice its cost after the last
 * one, so rendering takes at most about a third of the main thread. At rest, the text itself.
 */
function useFrameThrottled(text: string, streaming: boolean): string {
  const [shown, setShown] = useState(text);
  const latest = useRef(text);
  const pending = useRef<{ timer?: number; frame?: number }>({});
  useEffect(() => {
    latest.current = text;
    const p = pending.current;
    // One pending update at a time: cancelling and rescheduling on every token would starve it
    // whenever tokens arrive faster than frames.
    if (!streaming || p.timer !== undefined || p.frame !== undefined) return;
    const frame = () => {
      p.timer = undefined;
      p.frame = requestAnimationFrame(() => {
        p.frame = undefined;
        setShown(latest.current);
      });
    };
    const wait = 2 * lastRenderMs - 16;
    if (wait > 0) p.timer = window.setTimeout(frame, wait);
    else frame();
  }, [text, streaming]);
  useEffect(() => {
    const p = pending.current;
    return () => {
      clearTimeout(p.timer);
      if (p.frame !== undefined) cancelAnimationFrame(p.frame);
    };
  }, []);
  return streaming ? shown : text;
}

function render(text: string, streaming: boolean): string {
  const t0 = performance.now();
  const html = sanitizeHtml(markdownToHtml(text));
  if (streaming) lastRenderMs = performance.now() - t0;
  return html;
}

async function copyCode(button: HTMLButtonElement): Promise<void> {
  const code = button.closest('.code-block')?.querySelector('code')?.textContent ?? '';
  try {
    await navigator.clipboard.writeText(code);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

/** An assistant reply rendered as sanitized Markdown, with a Copy button on each code block. */
export function Markdown({ text, streaming = false }: { text: string; streaming?: boolean }) {
  const shown = useFrameThrottled(text, streaming);
  const html = useMemo(() => render(shown, streaming), [shown, streaming]);
  // One delegated handler: the buttons are part of the generated HTML, not React elements.
  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const button = (e.target as Element).closest('button.copy-code');
    if (button instanceof HTMLButtonElement) void copyCode(button);
  };
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}
