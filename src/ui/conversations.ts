/**
 * Conversations as data, and their persistence in IndexedDB (a store of their own, apart from
 * the model weights). Pure functions build and change conversations; `ConversationStore` reads
 * and writes them; `ThrottledSaver` keeps a streaming reply saved as it grows.
 *
 * A reply that is still `streaming` in storage was cut by a reload or a closed tab: reading it
 * back turns it into a stopped reply (`finish: 'abort'`), with the text saved so far.
 */
import { createStore, del, get, set, values, type UseStore } from 'idb-keyval';
import type { ChatCompletionChunk, Truncated } from '../client/openai.ts';
import type { ChatResult, ChatRole, FinishReason } from '../worker/protocol.ts';

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant';
  /** Exactly as streamed: the worker reuses its KV cache only for a reply sent back verbatim. */
  content: string;
  /** True while the reply streams (in storage: cut off by a reload). */
  streaming?: boolean;
  finish?: FinishReason;
  /** Why the reply failed, when it did. */
  error?: string;
  timing?: ChatResult['timing'];
  usage?: ChatCompletionChunk['usage'];
  /** On a reply asked with a conversation longer than the context: what the model did not see. */
  truncated?: Truncated;
}

export interface Conversation {
  id: string;
  title: string;
  /** True until the user renames it: the title follows the first user message. */
  autoTitle: boolean;
  createdAt: number;
  updatedAt: number;
  systemPrompt: string;
  /** The model of the latest reply (stored id and display name). */
  modelId?: string;
  modelName?: string;
  messages: ChatMessage[];
}

export interface ConversationSummary {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messageCount: number;
}

export const NEW_CHAT_TITLE = 'New chat';
const TITLE_MAX = 60;

function uid(): string {
  return crypto.randomUUID();
}

/** A title from a message: its first line, whitespace collapsed, cut at a word near `max` chars. */
export function titleFrom(text: string, max = 48): string {
  const line = text.trim().split('\n')[0].replace(/\s+/g, ' ').trim();
  if (!line) return NEW_CHAT_TITLE;
  if (line.length <= max) return line;
  const cut = line.slice(0, max);
  if (line[max] === ' ') return `${cut.trimEnd()}…`;
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** A title the user typed: one line, trimmed, at most 60 characters; empty is rejected. */
export function cleanTitle(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim().slice(0, TITLE_MAX).trim();
  if (!t) throw new Error('A conversation title cannot be empty.');
  return t;
}

export function newConversation(init: { now?: number; systemPrompt?: string } = {}): Conversation {
  const now = init.now ?? Date.now();
  return { id: uid(), title: NEW_CHAT_TITLE, autoTitle: true, createdAt: now, updatedAt: now, systemPrompt: init.systemPrompt ?? '', messages: [] };
}

export function newMessage(role: ChatMessage['role'], content: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { id: uid(), role, content, ...extra };
}

/** Nothing worth keeping: no message and no system prompt (a fresh "New chat" is not stored). */
export function isBlank(c: Conversation): boolean {
  return c.messages.length === 0 && !c.systemPrompt.trim();
}

/** The conversation with new messages; an automatic title follows the first user message. */
export function withMessages(c: Conversation, messages: ChatMessage[], now = Date.now()): Conversation {
  const first = messages.find((m) => m.role === 'user');
  const title = c.autoTitle ? (first ? titleFrom(first.content) : NEW_CHAT_TITLE) : c.title;
  return { ...c, messages, title, updatedAt: now };
}

/** Replies that were still streaming when stored were cut off (reload, closed tab): mark them stopped. */
export function recoverInterrupted(c: Conversation): Conversation {
  if (!c.messages.some((m) => m.streaming)) return c;
  return { ...c, messages: c.messages.map((m) => (m.streaming ? { ...m, streaming: false, finish: m.finish ?? 'abort' } : m)) };
}

/**
 * The request's messages: the system prompt first (when set), then every turn with text. A reply
 * that produced no text is left out, as the chat template has nothing to render for it.
 */
export function requestMessages(c: Conversation): { role: ChatRole; content: string }[] {
  const sys = c.systemPrompt.trim() ? [{ role: 'system' as const, content: c.systemPrompt }] : [];
  return [...sys, ...c.messages.filter((m) => m.content).map((m) => ({ role: m.role, content: m.content }))];
}

/** Tokens in use as of the latest reply that reported usage (its prompt plus its completion). */
export function contextUsed(c: Conversation): number {
  for (let i = c.messages.length - 1; i >= 0; i--) {
    const u = c.messages[i].usage;
    if (u) return u.prompt_tokens + u.completion_tokens;
  }
  return 0;
}

/** The messages the model no longer sees, as of the latest reply that finished (`truncated`). */
export interface UnseenMessages {
  /** The left-out messages: the oldest ones sent with that reply's request. */
  ids: Set<string>;
  /** The newest of them: the notice goes after it. */
  lastId: string;
  droppedMessages: number;
  droppedTokens: number;
  contextLength: number;
}

/**
 * What the latest finished reply says the model did not see. Its request held the messages
 * before it that had text (requestMessages), so its `dropped_messages` are the first of those;
 * messages before a reply never change afterwards (an edit replaces everything after it).
 */
export function unseenMessages(c: Conversation): UnseenMessages | undefined {
  const at = c.messages.findLastIndex((m) => m.role === 'assistant' && m.usage !== undefined);
  const t = at >= 0 ? c.messages[at].truncated : undefined;
  if (!t || t.dropped_messages <= 0) return undefined;
  const sent = c.messages.slice(0, at).filter((m) => m.content);
  const dropped = sent.slice(0, t.dropped_messages);
  if (dropped.length === 0) return undefined;
  return {
    ids: new Set(dropped.map((m) => m.id)),
    lastId: dropped[dropped.length - 1].id,
    droppedMessages: dropped.length,
    droppedTokens: t.dropped_tokens,
    contextLength: t.context_length,
  };
}

const count = new Intl.NumberFormat('en-US');

/** What the notice after the last left-out message says. */
export function unseenNotice(u: UnseenMessages): string {
  const what = u.droppedMessages === 1 ? 'the oldest message' : `the ${count.format(u.droppedMessages)} oldest messages`;
  const tokens = `${count.format(u.droppedTokens)} ${u.droppedTokens === 1 ? 'token' : 'tokens'}`;
  return `The model no longer sees ${what} (${tokens}): the conversation is longer than its ${count.format(u.contextLength)}-token context.`;
}

export function summarize(c: Conversation): ConversationSummary {
  return { id: c.id, title: c.title, createdAt: c.createdAt, updatedAt: c.updatedAt, messageCount: c.messages.length };
}

/**
 * Every finish reason, as the keys of an object typed by FinishReason: a reason added to or removed
 * from the engine's type fails to compile here until this list follows (a `satisfies` array would
 * not notice a missing one).
 */
const FINISH_REASONS: Record<FinishReason, true> = { stop: true, length: true, abort: true, context_full: true };

/** For data read back from storage or a file: is `v` a finish reason this app knows? */
export function isFinishReason(v: unknown): v is FinishReason {
  return typeof v === 'string' && Object.hasOwn(FINISH_REASONS, v);
}

/** For data read back from storage or a file: is `v` a well-formed `truncated` record? */
export function isTruncated(v: unknown): v is Truncated {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Record<string, unknown>;
  return [t.dropped_messages, t.dropped_tokens, t.context_length].every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0);
}

/** Checks a stored record's shape; throws naming the first field that is wrong. */
export function parseConversation(raw: unknown): Conversation {
  const bad = (what: string): never => {
    throw new Error(`Stored conversation is malformed: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null) bad('not an object');
  const c = raw as Record<string, unknown>;
  if (typeof c.id !== 'string' || !c.id) bad('id');
  if (typeof c.title !== 'string') bad('title');
  if (typeof c.createdAt !== 'number' || typeof c.updatedAt !== 'number') bad('createdAt/updatedAt');
  if (typeof c.systemPrompt !== 'string') bad('systemPrompt');
  if (!Array.isArray(c.messages)) bad('messages');
  (c.messages as unknown[]).forEach((m, i) => {
    const x = m as Record<string, unknown> | null;
    if (!x || typeof x.id !== 'string' || (x.role !== 'user' && x.role !== 'assistant') || typeof x.content !== 'string') bad(`message ${i}`);
    if (x?.finish !== undefined && !isFinishReason(x.finish)) bad(`message ${i} finish`);
    if (x?.truncated !== undefined && !isTruncated(x.truncated)) bad(`message ${i} truncated`);
  });
  return { ...(c as unknown as Conversation), autoTitle: c.autoTitle !== false };
}

/**
 * Conversations in IndexedDB, one record per conversation keyed by id. Writes run one after
 * another in call order, so a delete never races an earlier save of the same conversation.
 */
export class ConversationStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly store: UseStore = createStore('phi3-chat', 'conversations')) {}

  private write<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Newest first. Records that do not parse are skipped (and reported on the console). */
  async list(): Promise<ConversationSummary[]> {
    await this.queue;
    const out: ConversationSummary[] = [];
    for (const raw of await values(this.store)) {
      try {
        out.push(summarize(parseConversation(raw)));
      } catch (e) {
        console.warn(e);
      }
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt || b.createdAt - a.createdAt);
  }

  async get(id: string): Promise<Conversation | undefined> {
    await this.queue;
    const raw: unknown = await get(id, this.store);
    return raw === undefined ? undefined : recoverInterrupted(parseConversation(raw));
  }

  async save(c: Conversation): Promise<void> {
    const record = parseConversation(c);
    return this.write(() => set(record.id, record, this.store));
  }

  /** Renames a stored conversation; the title then stops following its first message. */
  async rename(id: string, title: string, now = Date.now()): Promise<Conversation> {
    const t = cleanTitle(title);
    return this.write(async () => {
      const raw: unknown = await get(id, this.store);
      if (raw === undefined) throw new Error(`No conversation with id ${id}.`);
      const c = { ...parseConversation(raw), title: t, autoTitle: false, updatedAt: now };
      await set(id, c, this.store);
      return c;
    });
  }

  delete(id: string): Promise<void> {
    return this.write(() => del(id, this.store));
  }
}

/**
 * Saves the latest version of a conversation at most once per `intervalMs` (a streaming reply
 * changes with every token); `flush` writes what is pending now (reply finished, tab hidden).
 */
export class ThrottledSaver {
  private pending?: Conversation;
  private timer?: ReturnType<typeof setTimeout>;
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly save: (c: Conversation) => Promise<void>,
    private readonly intervalMs = 500,
    private readonly onError: (e: unknown) => void = (e) => console.error(e),
  ) {}

  schedule(c: Conversation): void {
    this.pending = c;
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Writes the pending version (if any); resolves when it and every earlier write are done. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.pending;
    this.pending = undefined;
    if (c) this.last = this.save(c).catch(this.onError);
    return this.last;
  }

  /** Drops a pending write of this conversation (it is being deleted). */
  discard(id: string): void {
    if (this.pending?.id !== id) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
