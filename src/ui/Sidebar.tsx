import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Conversation, ConversationSummary } from './conversations.ts';

export interface SidebarProps {
  id: string;
  list: ConversationSummary[];
  currentId: string;
  /** Phone width: the drawer is shown (on a desktop the sidebar is always shown). */
  open: boolean;
  onClose: () => void;
  onNew: () => void;
  onOpen: (id: string) => void;
  onRename: (id: string, title: string) => void;
  onDelete: (id: string) => Promise<Conversation | undefined>;
  onRestore: (c: Conversation) => void;
  /** Undefined while the open conversation has nothing to export. */
  onExport?: (format: 'md' | 'json') => void;
  /** A JSON file chosen to import (a chat exported as JSON, here or on another device). */
  onImport: (file: File) => void;
}

function Icon({ d }: { d: string }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      <path d={d} fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
const PENCIL = 'M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4';
const TRASH = 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3';

/** One stored conversation: open it, or rename it in place (Enter saves, Escape cancels). */
function Row({ s, current, onOpen, onRename, onDelete }: { s: ConversationSummary; current: boolean; onOpen: () => void; onRename: (t: string) => void; onDelete: () => void }) {
  const [editing, setEditing] = useState(false);
  const done = useRef(false);
  const input = useRef<HTMLInputElement>(null);
  const openButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);

  useEffect(() => {
    if (editing) input.current?.select();
    else if (wasEditing.current) openButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  const finish = (save: boolean) => {
    if (done.current) return;
    done.current = true;
    const t = input.current?.value ?? '';
    if (save && t.trim() && t.trim() !== s.title) onRename(t);
    setEditing(false);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      finish(true);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation(); // Escape here cancels the rename, it does not close the drawer
      finish(false);
    }
  };

  return (
    <li className={current ? 'conv current' : 'conv'}>
      {editing ? (
        <input ref={input} className="conv-rename" aria-label="Conversation title" defaultValue={s.title} maxLength={60} onKeyDown={onKeyDown} onBlur={() => finish(true)} />
      ) : (
        <button
          ref={openButton}
          type="button"
          className="conv-open"
          aria-current={current ? 'true' : undefined}
          onClick={onOpen}
        >
          {s.title}
        </button>
      )}
      <button
        type="button"
        className="icon"
        aria-label={`Rename ${s.title}`}
        title="Rename"
        disabled={editing}
        onClick={() => {
          done.current = false;
          setEditing(true);
        }}
      >
        <Icon d={PENCIL} />
      </button>
      <button type="button" className="icon" aria-label={`Delete ${s.title}`} title="Delete" onClick={onDelete}>
        <Icon d={TRASH} />
      </button>
    </li>
  );
}

/**
 * The stored conversations: new, open, rename, delete (with undo), export the open one.
 * A column on wide screens, a drawer on phones (toggled from the chat's header).
 */
export function Sidebar(p: SidebarProps) {
  const [deleted, setDeleted] = useState<Conversation | undefined>();
  const undo = useRef<HTMLButtonElement>(null);
  const newButton = useRef<HTMLButtonElement>(null);
  const importInput = useRef<HTMLInputElement>(null);

  // Opening the drawer moves focus into it.
  useEffect(() => {
    if (p.open) newButton.current?.focus();
  }, [p.open]);
  useEffect(() => {
    if (deleted) undo.current?.focus();
  }, [deleted]);

  const remove = async (id: string) => {
    const c = await p.onDelete(id);
    setDeleted(c);
  };

  return (
    <>
      {p.open ? <div className="conv-backdrop" onClick={p.onClose} aria-hidden="true" /> : null}
      <nav
        id={p.id}
        className={p.open ? 'conv-nav card open' : 'conv-nav card'}
        aria-label="Conversations"
        onKeyDown={(e) => {
          if (e.key === 'Escape' && p.open) p.onClose();
        }}
      >
        <div className="conv-head">
          <h2>Chats</h2>
          <button type="button" className="secondary small conv-close" onClick={p.onClose}>
            Close
          </button>
        </div>
        <button ref={newButton} type="button" className="conv-new" onClick={p.onNew}>
          New chat
        </button>
        {p.list.length ? (
          <ul className="conv-list">
            {p.list.map((s) => (
              <Row
                key={s.id}
                s={s}
                current={s.id === p.currentId}
                onOpen={() => p.onOpen(s.id)}
                onRename={(t) => p.onRename(s.id, t)}
                onDelete={() => void remove(s.id)}
              />
            ))}
          </ul>
        ) : (
          <p className="muted small">Your chats are saved on this device and listed here.</p>
        )}
        <div role="status" className="conv-undo">
          {deleted ? (
            <>
              <span>Deleted “{deleted.title}”.</span>{' '}
              <button
                ref={undo}
                type="button"
                className="secondary small"
                onClick={() => {
                  p.onRestore(deleted);
                  setDeleted(undefined);
                  newButton.current?.focus();
                }}
              >
                Undo
              </button>
              <button type="button" className="secondary small" onClick={() => {
                  setDeleted(undefined);
                  newButton.current?.focus();
                }}
              >
                Dismiss
              </button>
            </>
          ) : null}
        </div>
        <div className="conv-export" role="group" aria-labelledby={`${p.id}-export`}>
          <span id={`${p.id}-export`} className="small muted">
            Export this chat
          </span>
          <button type="button" className="secondary small" disabled={!p.onExport} onClick={() => p.onExport?.('md')}>
            Markdown
          </button>
          <button type="button" className="secondary small" disabled={!p.onExport} onClick={() => p.onExport?.('json')}>
            JSON
          </button>
        </div>
        <div className="conv-export">
          <button type="button" className="secondary small" onClick={() => importInput.current?.click()}>
            Import a chat (JSON)
          </button>
          <input
            ref={importInput}
            type="file"
            accept=".json,application/json"
            hidden
            aria-label="Chat file to import"
            onChange={(e) => {
              const f = e.target.files?.[0];
              e.target.value = ''; // the same file can be chosen again
              if (f) p.onImport(f);
            }}
          />
        </div>
      </nav>
    </>
  );
}
