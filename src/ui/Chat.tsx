import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import { ChatSettings, DEFAULT_DRAFT, parseSettings, type SettingsDraft } from './ChatSettings.tsx';
import { useChat, type Message } from './useChat.ts';

function speed(tokPerS: number): string {
  return tokPerS >= 100 ? tokPerS.toFixed(0) : tokPerS.toFixed(1);
}

function ReplyMeta({ m }: { m: Message }) {
  if (m.streaming) return null;
  const parts: string[] = [];
  if (m.timing) {
    if (m.timing.prefillTokPerS > 0 && Number.isFinite(m.timing.prefillTokPerS)) parts.push(`prefill ${speed(m.timing.prefillTokPerS)} tok/s`);
    if (m.timing.decodeTokPerS > 0) parts.push(`decode ${speed(m.timing.decodeTokPerS)} tok/s`);
  }
  if (m.usage) parts.push(`${m.usage.completion_tokens} ${m.usage.completion_tokens === 1 ? 'token' : 'tokens'}`);
  if (m.finish === 'abort') parts.push('stopped');
  else if (m.finish === 'length') parts.push('cut at max tokens');
  else if (m.finish === 'context_full') parts.push('context full: start a new chat');
  return parts.length ? <p className="msg-meta">{parts.join(' · ')}</p> : null;
}

function MessageItem({ m, modelName }: { m: Message; modelName: string }) {
  return (
    <li className={`msg ${m.role}`}>
      <span className="visually-hidden">{m.role === 'user' ? 'You said:' : `${modelName} replied:`}</span>
      {/* Plain text only: model output and user input are never parsed as HTML. */}
      <div
        className="msg-text"
        aria-live={m.role === 'assistant' && m.streaming ? 'polite' : undefined}
        aria-busy={m.streaming || undefined}
      >
        {m.content || (m.streaming ? <><span className="typing" aria-hidden="true">…</span><span className="visually-hidden">Thinking</span></> : m.finish === 'abort' ? <em>(stopped before any text)</em> : '')}
      </div>
      {m.role === 'assistant' ? <ReplyMeta m={m} /> : null}
    </li>
  );
}

/** The conversation with the loaded model: messages, composer, settings. */
export function Chat({ engine, modelName, contextLength }: { engine: ChatEngine; modelName: string; contextLength: number }) {
  const { messages, error, busy, send, stop, clear } = useChat(engine);
  const [text, setText] = useState('');
  const [draft, setDraft] = useState<SettingsDraft>(DEFAULT_DRAFT);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const composerId = useId();

  // Follow the reply as it streams, unless the reader has scrolled up.
  useEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const t = text.trim();
    if (!t || busy) return;
    stick.current = true;
    setText('');
    void send(t, parseSettings(draft, contextLength));
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && busy) {
      e.preventDefault();
      stop();
    }
  };

  return (
    <section className="card chat" aria-labelledby="chat-title">
      <div className="card-head">
        <h2 id="chat-title">
          Chat <span className="muted model-name">with {modelName}</span>
        </h2>
        <button type="button" className="secondary" onClick={clear} disabled={messages.length === 0}>
          New chat
        </button>
      </div>
      <ol
        ref={list}
        className="messages"
        aria-label="Conversation"
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
        }}
      >
        {messages.length === 0 ? (
          <li className="empty muted">Ask anything. Replies are computed on your GPU; nothing you type leaves this device.</li>
        ) : (
          messages.map((m) => <MessageItem key={m.id} m={m} modelName={modelName} />)
        )}
      </ol>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      <form className="composer" onSubmit={submit}>
        <label htmlFor={composerId} className="visually-hidden">
          Message
        </label>
        <textarea
          id={composerId}
          rows={1}
          placeholder={`Message ${modelName}…`}
          aria-describedby={`${composerId}-keys`}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
        />
        <span id={`${composerId}-keys`} className="visually-hidden">
          Enter sends, Shift+Enter starts a new line, Escape stops the reply.
        </span>
        <div className="composer-buttons">
          <button type="submit" disabled={busy || !text.trim()}>
            Send
          </button>
          <button type="button" className="secondary" onClick={stop} disabled={!busy}>
            Stop
          </button>
        </div>
      </form>
      <ChatSettings draft={draft} onChange={setDraft} contextLength={contextLength} />
    </section>
  );
}
