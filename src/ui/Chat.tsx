import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import { ChatSettings, parseSettings, rememberDraft, rememberedDraft, type SettingsDraft } from './ChatSettings.tsx';
import { contextUsed, unseenMessages, unseenNotice } from './conversations.ts';
import { downloadText, exportFileName, toJSON, toMarkdown } from './export.ts';
import { ContextMeter, CopyButton, EditForm } from './MessageTools.tsx';
import { Sidebar } from './Sidebar.tsx';
import { useChat, type Message } from './useChat.ts';
import { Markdown } from './Markdown.tsx';

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
  else if (m.finish === 'context_full') parts.push('cut at the end of the context');
  if (m.error) parts.push(`failed: ${m.error}`);
  return parts.length ? <p className="msg-meta">{parts.join(' · ')}</p> : null;
}

/** One message; `editor` replaces its text while it is being edited, `tools` are its buttons. */
function MessageItem({ m, modelName, unseen, editor, tools }: { m: Message; modelName: string; unseen?: boolean; editor?: ReactNode; tools?: ReactNode }) {
  const who = m.role === 'user' ? 'You said' : `${modelName} replied`;
  return (
    <li className={`msg ${m.role}${unseen ? ' unseen' : ''}`}>
      <span className="visually-hidden">{unseen ? `${who} (no longer seen by the model):` : `${who}:`}</span>
      {/* User input is plain text; replies are Markdown, with raw HTML escaped and then sanitized (Markdown.tsx). */}
      {editor}
      <div
        className="msg-text"
        hidden={Boolean(editor)}
        aria-live={m.role === 'assistant' && m.streaming ? 'polite' : undefined}
        aria-busy={m.streaming || undefined}
      >
        {(m.content && m.role === 'assistant' ? <Markdown text={m.content} streaming={m.streaming} /> : m.content) || (m.streaming ? <><span className="typing" aria-hidden="true">…</span><span className="visually-hidden">Thinking</span></> : m.finish === 'abort' ? <em>(stopped before any text)</em> : '')}
      </div>
      <div className="msg-foot">
        {unseen ? (
          <p className="msg-meta unseen-label" aria-hidden="true">
            not seen by the model
          </p>
        ) : null}
        {m.role === 'assistant' ? <ReplyMeta m={m} /> : null}
        {tools}
      </div>
    </li>
  );
}

/** The conversation with the loaded model: saved conversations, messages, composer, settings. */
export function Chat({ engine, modelId, modelName, contextLength }: { engine: ChatEngine; modelId: string; modelName: string; contextLength: number }) {
  const chat = useChat(engine, { id: modelId, name: modelName });
  const { conversation, error, busy, stop } = chat;
  const messages = conversation.messages;
  const unseen = unseenMessages(conversation);
  const notice = unseen ? unseenNotice(unseen) : '';
  const [text, setText] = useState('');
  const [draft, setDraftState] = useState<SettingsDraft>(rememberedDraft);
  const setDraft = (d: SettingsDraft) => {
    setDraftState(d);
    rememberDraft(d);
  };
  const [editing, setEditing] = useState<string | undefined>();
  const [drawer, setDrawer] = useState(false);
  const list = useRef<HTMLOListElement>(null);
  const toggle = useRef<HTMLButtonElement>(null);
  const stick = useRef(true);
  const composerId = useId();
  const navId = useId();
  const settings = () => parseSettings(draft, contextLength);

  // Another conversation: start at its end, leave any edit behind.
  useEffect(() => {
    stick.current = true;
    setEditing(undefined);
  }, [conversation.id]);
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
    void chat.send(t, settings());
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
  const closeDrawer = () => setDrawer(false);
  // A closed drawer hands focus back to its toggle (after the chat behind it is no longer inert).
  const drawerWasOpen = useRef(false);
  useEffect(() => {
    if (!drawer && drawerWasOpen.current) toggle.current?.focus();
    drawerWasOpen.current = drawer;
  }, [drawer]);
  const exportAs = (format: 'md' | 'json') => {
    const c = conversation;
    if (format === 'md') downloadText(exportFileName(c.title, 'md'), toMarkdown(c), 'text/markdown;charset=utf-8');
    else downloadText(exportFileName(c.title, 'json'), toJSON(c), 'application/json');
  };
  const last = messages[messages.length - 1];

  const tools = (m: Message): ReactNode => {
    if (m.streaming) return null;
    return (
      <div className="msg-tools">
        {m.content ? <CopyButton text={m.content} what={m.role === 'user' ? 'message' : 'reply'} /> : null}
        {m.role === 'user' ? (
          <button type="button" className="link-button" disabled={busy} onClick={() => setEditing(m.id)}>
            Edit
          </button>
        ) : m.id === last?.id ? (
          <button type="button" className="link-button" disabled={busy} onClick={() => void chat.regenerate(settings())}>
            Regenerate
          </button>
        ) : null}
      </div>
    );
  };

  return (
    <div className="chat-shell">
      <Sidebar
        id={navId}
        list={chat.list}
        currentId={conversation.id}
        open={drawer}
        onClose={closeDrawer}
        onNew={() => {
          setDrawer(false);
          void chat.newChat();
        }}
        onOpen={(id) => {
          setDrawer(false);
          void chat.open(id);
        }}
        onRename={(id, title) => void chat.rename(id, title)}
        onDelete={chat.remove}
        onRestore={(c) => void chat.restore(c)}
        onExport={messages.length ? exportAs : undefined}
        onImport={(f) => {
          setDrawer(false);
          void chat.importFile(f);
        }}
      />
      <section
        className="card chat"
        aria-labelledby="chat-title"
        // The drawer (phone width) is modal: the chat behind it is out of reach until it closes.
        inert={drawer}
        onKeyDown={(e) => {
          // Escape stops the reply from anywhere in the chat (an open edit box keeps it for itself).
          if (e.key === 'Escape' && busy && !e.defaultPrevented) {
            e.preventDefault();
            stop();
          }
        }}
      >
        <div className="card-head">
          <button ref={toggle} type="button" className="secondary conv-toggle" aria-expanded={drawer} aria-controls={navId} onClick={() => setDrawer((d) => !d)}>
            Chats
          </button>
          <div className="chat-title">
            <h2 id="chat-title">{conversation.title}</h2>
            <p className="muted small model-name">with {modelName}</p>
          </div>
          <ContextMeter used={contextUsed(conversation)} max={contextLength} />
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
            messages.map((m) => [
              <MessageItem
                key={m.id}
                m={m}
                modelName={modelName}
                unseen={unseen?.ids.has(m.id)}
                tools={editing === m.id ? null : tools(m)}
                editor={
                  editing === m.id ? (
                    <EditForm
                      initial={m.content}
                      onCancel={() => setEditing(undefined)}
                      onSubmit={(t) => {
                        setEditing(undefined);
                        stick.current = true;
                        void chat.editAndResend(m.id, t, settings());
                      }}
                    />
                  ) : undefined
                }
              />,
              m.id === unseen?.lastId ? (
                <li key="context-cut" className="context-cut" data-testid="context-cut">
                  <p>{notice}</p>
                </li>
              ) : null,
            ])
          )}
        </ol>
        {/* Says it when a reply first leaves older messages out, or leaves out more. */}
        <p role="status" className="visually-hidden">
          {notice}
        </p>
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
        <ChatSettings draft={draft} onChange={setDraft} contextLength={contextLength} systemPrompt={conversation.systemPrompt} onSystemPromptChange={chat.setSystemPrompt} />
      </section>
    </div>
  );
}
