import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';

/** Copies text to the clipboard; the button reads "Copied" for two seconds (and says so to screen readers). */
export function CopyButton({ text, what }: { text: string; what: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 2000);
    return () => clearTimeout(t);
  }, [state]);
  const copy = () =>
    navigator.clipboard.writeText(text).then(
      () => setState('copied'),
      () => setState('failed'),
    );
  return (
    <>
      <button type="button" className="link-button" aria-label={state === 'idle' ? `Copy ${what}` : undefined} onClick={() => void copy()}>
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
      </button>
      <span role="status" className="visually-hidden">
        {state === 'copied' ? 'Copied to the clipboard' : state === 'failed' ? 'Could not copy: the browser refused clipboard access' : ''}
      </span>
    </>
  );
}

/** Edits a sent message in place: Enter (or Resubmit) replaces it and what followed, Escape cancels. */
export function EditForm({ initial, onSubmit, onCancel }: { initial: string; onSubmit: (text: string) => void; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  const box = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  useEffect(() => {
    const el = box.current;
    el?.focus();
    el?.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (text.trim()) onSubmit(text.trim());
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      onCancel();
    }
  };
  return (
    <form className="edit-form" onSubmit={submit}>
      <label htmlFor={id} className="visually-hidden">
        Edit your message
      </label>
      <textarea ref={box} id={id} aria-describedby={`${id}-hint`} value={text} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} />
      <span id={`${id}-hint`} className="muted small">
        The reply to it and everything after are replaced.
      </span>
      <div className="row">
        <button type="submit" className="small" disabled={!text.trim()}>
          Resubmit
        </button>
        <button type="button" className="secondary small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const count = new Intl.NumberFormat('en-US');

/** Tokens in the model's context as of the last reply, out of the loaded context length. */
export function ContextMeter({ used, max }: { used: number; max: number }) {
  const id = useId();
  const text = `${count.format(used)} / ${count.format(max)} tokens`;
  return (
    <div className="context-meter">
      <label htmlFor={id} className="small muted">
        Context
      </label>
      <meter id={id} min={0} max={max} value={Math.min(used, max)} low={max * 0.75} high={max * 0.9} optimum={0} aria-valuetext={text} />
      <span className="small muted" data-testid="context-usage">
        {text}
      </span>
    </div>
  );
}
