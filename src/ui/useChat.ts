import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import {
  ConversationStore,
  ThrottledSaver,
  cleanTitle,
  isBlank,
  newConversation,
  newMessage,
  requestMessages,
  summarize,
  withMessages,
  type ChatMessage,
  type Conversation,
  type ConversationSummary,
} from './conversations.ts';
import { IMPORT_MAX_BYTES, fromJSON } from './export.ts';
import { errorText } from './format.ts';
import { CHAT_DEFAULTS } from '../common/sampling.ts';

export interface Settings {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  /** Undefined: a new random seed per reply. */
  seed?: number;
}

const { temperature, topP, topK, maxTokens } = CHAT_DEFAULTS;
export const DEFAULT_SETTINGS: Settings = { temperature, topP, topK, maxTokens };

export type Message = ChatMessage;

const LAST_CONVERSATION_KEY = 'phi3.lastConversation';
const defaultStore = new ConversationStore();

function remember(id: string): void {
  try {
    localStorage.setItem(LAST_CONVERSATION_KEY, id);
  } catch {
    // private mode: the newest conversation opens next time instead
  }
}

function remembered(): string | null {
  try {
    return localStorage.getItem(LAST_CONVERSATION_KEY);
  } catch {
    return null;
  }
}

/**
 * The open conversation and the list of stored ones. Each turn sends the conversation whole (the
 * worker reuses its KV cache for the part it has seen, which needs each reply sent back exactly as
 * streamed); the reply streams into the conversation it was asked in, saved as it grows.
 * Switching, starting a new chat or deleting the open one first stops a running reply.
 */
export function useChat(engine: ChatEngine, model: { id: string; name: string }, store: ConversationStore = defaultStore) {
  const [conversation, setConversation] = useState<Conversation>(() => newConversation());
  const [list, setList] = useState<ConversationSummary[]>([]);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const current = useRef(conversation);
  const controller = useRef<AbortController | undefined>(undefined);
  const running = useRef<Promise<void> | undefined>(undefined);
  const [saver] = useState(() => new ThrottledSaver((c) => store.save(c), 500, (e) => setError(`Could not save the conversation: ${errorText(e)}`)));

  const showInList = useCallback((c: Conversation) => {
    setList((l) => [summarize(c), ...l.filter((s) => s.id !== c.id)].sort((a, b) => b.updatedAt - a.updatedAt));
  }, []);

  /** Makes `c` the open conversation; `save`: 'later' throttles the write (streaming), 'now' writes at once. */
  const commit = useCallback(
    (c: Conversation, save: 'later' | 'now' | 'no' = 'now') => {
      current.current = c;
      setConversation(c);
      if (save === 'no' || isBlank(c)) return;
      saver.schedule(c);
      if (save === 'now') {
        void saver.flush();
        showInList(c);
      }
    },
    [saver, showInList],
  );

  /** Stops a running reply and waits until it has been written into its conversation. */
  const settle = useCallback(async () => {
    controller.current?.abort();
    await running.current;
    await saver.flush();
  }, [saver]);

  /** Streams a reply to the conversation `c` (whose last message is the empty reply). */
  const generate = useCallback(
    (c: Conversation, s: Settings) => {
      const reply = c.messages[c.messages.length - 1];
      // Every write goes to the conversation the reply was asked in, and only while it is open.
      const patch = (p: Partial<ChatMessage>, save: 'later' | 'now') => {
        const cur = current.current;
        if (cur.id !== c.id) return;
        commit({ ...cur, updatedAt: Date.now(), messages: cur.messages.map((m) => (m.id === reply.id ? { ...m, ...p } : m)) }, save);
      };
      const ac = (controller.current = new AbortController());
      setError(undefined);
      setBusy(true);
      const run = (async () => {
        let content = '';
        try {
          const stream = await engine.chat.completions.create({
            messages: requestMessages({ ...c, messages: c.messages.slice(0, -1) }),
            stream: true,
            max_tokens: s.maxTokens,
            temperature: s.temperature,
            top_p: s.topP,
            top_k: s.topK,
            seed: s.seed,
            signal: ac.signal,
          });
          for await (const chunk of stream) {
            const ch = chunk.choices[0];
            content += ch.delta.content ?? '';
            patch({ content, ...(ch.finish_reason ? { finish: ch.finish_reason, timing: chunk.timing, usage: chunk.usage, truncated: chunk.truncated } : {}) }, 'later');
          }
          patch({ streaming: false }, 'now');
        } catch (e) {
          if (ac.signal.aborted) patch({ streaming: false, finish: 'abort' }, 'now');
          else {
            patch({ streaming: false, error: errorText(e) }, 'now');
            setError(errorText(e));
          }
        } finally {
          controller.current = undefined;
          running.current = undefined;
          setBusy(false);
        }
      })();
      running.current = run;
      return run;
    },
    [commit, engine],
  );

  /** A new turn with `messages` (ending in a user message), then its reply. */
  const ask = useCallback(
    (messages: ChatMessage[], s: Settings) => {
      if (running.current) return Promise.resolve();
      const reply = newMessage('assistant', '', { streaming: true });
      const c = { ...withMessages(current.current, [...messages, reply]), modelId: model.id, modelName: model.name };
      commit(c);
      return generate(c, s);
    },
    [commit, generate, model.id, model.name],
  );

  const send = useCallback((text: string, s: Settings) => ask([...current.current.messages, newMessage('user', text)], s), [ask]);

  /** Replaces the last reply: drops everything after the last user message and asks again. */
  const regenerate = useCallback(
    (s: Settings) => {
      const ms = current.current.messages;
      const i = ms.findLastIndex((m) => m.role === 'user');
      return i < 0 ? Promise.resolve() : ask(ms.slice(0, i + 1), s);
    },
    [ask],
  );

  /** Replaces a user message with new text and asks again; what followed it is dropped. */
  const editAndResend = useCallback(
    (id: string, text: string, s: Settings) => {
      const ms = current.current.messages;
      const i = ms.findIndex((m) => m.id === id && m.role === 'user');
      return i < 0 ? Promise.resolve() : ask([...ms.slice(0, i), newMessage('user', text)], s);
    },
    [ask],
  );

  const stop = useCallback(() => controller.current?.abort(), []);

  const open = useCallback(
    async (id: string) => {
      if (id === current.current.id) return; // already open: a running reply goes on
      await settle();
      try {
        const c = await store.get(id);
        if (!c) throw new Error('it is no longer stored (deleted in another tab?)');
        commit(c, 'no');
        remember(c.id);
        setError(undefined);
      } catch (e) {
        setError(`Could not open the conversation: ${errorText(e)}`);
        setList(await store.list().catch(() => []));
      }
    },
    [commit, settle, store],
  );

  const newChat = useCallback(async () => {
    await settle();
    if (isBlank(current.current)) return;
    const c = newConversation();
    commit(c, 'no');
    remember(c.id);
    setError(undefined);
  }, [commit, settle]);

  const rename = useCallback(
    async (id: string, title: string) => {
      try {
        if (id === current.current.id) {
          commit({ ...current.current, title: cleanTitle(title), autoTitle: false, updatedAt: Date.now() });
        } else {
          showInList(await store.rename(id, title));
        }
      } catch (e) {
        setError(`Could not rename: ${errorText(e)}`);
      }
    },
    [commit, showInList, store],
  );

  /** Deletes a conversation and returns it (for undo); deleting the open one opens the newest left. */
  const remove = useCallback(
    async (id: string): Promise<Conversation | undefined> => {
      const isOpen = id === current.current.id;
      if (isOpen) await settle();
      saver.discard(id);
      const removed = isOpen ? current.current : await store.get(id).catch(() => undefined);
      try {
        await store.delete(id);
      } catch (e) {
        setError(`Could not delete: ${errorText(e)}`);
        return undefined;
      }
      const rest = await store.list().catch(() => []);
      setList(rest);
      if (isOpen) {
        const next = rest[0] ? await store.get(rest[0].id).catch(() => undefined) : undefined;
        const c = next ?? newConversation();
        commit(c, 'no');
        remember(c.id);
      }
      return removed;
    },
    [commit, saver, settle, store],
  );

  /** Undo of a delete: stores the conversation again as it was (it keeps its place in the list). */
  const restore = useCallback(
    async (c: Conversation) => {
      try {
        await store.save(c);
        setList(await store.list());
      } catch (e) {
        setError(`Could not restore the conversation: ${errorText(e)}`);
      }
    },
    [store],
  );

  /** Stores a conversation read from an exported JSON file (export.ts fromJSON) and opens it. */
  const importFile = useCallback(
    async (file: Blob) => {
      let c: Conversation;
      try {
        if (file.size > IMPORT_MAX_BYTES) throw new Error(`the file is ${(file.size / 1e6).toFixed(1)} MB; a conversation file is at most ${IMPORT_MAX_BYTES / 1e6} MB`);
        c = fromJSON(await file.text());
        await settle();
        await store.save(c);
      } catch (e) {
        setError(`Could not import the chat: ${errorText(e)}`);
        return;
      }
      commit(c, 'no');
      showInList(c);
      remember(c.id);
      setError(undefined);
    },
    [commit, settle, showInList, store],
  );

  const setSystemPrompt = useCallback(
    (text: string) => {
      const c = { ...current.current, systemPrompt: text, updatedAt: Date.now() };
      commit(c, 'later');
      if (!isBlank(c)) showInList(c);
    },
    [commit, showInList],
  );

  // Load the list, reopen the last conversation (a reply cut by a reload comes back stopped).
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        const l = await store.list();
        setList(l);
        const last = remembered();
        const id = l.find((s) => s.id === last)?.id ?? l[0]?.id;
        const c = id ? await store.get(id) : undefined;
        if (c && isBlank(current.current)) commit(c, 'no');
      } catch (e) {
        setError(`Could not read saved conversations: ${errorText(e)}`);
      } finally {
        setReady(true);
      }
    })();
  }, [commit, store]);

  // Leaving the page (reload, closed tab, app switched away on a phone): write what is pending now.
  useEffect(() => {
    const flush = () => void saver.flush();
    const onVisibility = () => document.visibilityState === 'hidden' && flush();
    window.addEventListener('pagehide', flush);
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      window.removeEventListener('pagehide', flush);
      document.removeEventListener('visibilitychange', onVisibility);
      // Unmounted (another model loaded): stop the reply, keep what streamed.
      controller.current?.abort();
      flush();
    };
  }, [saver]);

  return { conversation, list, ready, error, busy, send, regenerate, editAndResend, stop, open, newChat, rename, remove, restore, importFile, setSystemPrompt };
}
