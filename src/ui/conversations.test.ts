import 'fake-indexeddb/auto';
import { createStore, set } from 'idb-keyval';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  ConversationStore,
  NEW_CHAT_TITLE,
  ThrottledSaver,
  cleanTitle,
  contextUsed,
  isBlank,
  isTruncated,
  newConversation,
  newMessage,
  parseConversation,
  recoverInterrupted,
  requestMessages,
  titleFrom,
  unseenMessages,
  unseenNotice,
  withMessages,
  type Conversation,
} from './conversations.ts';

let dbCount = 0;
function setup() {
  const idb = createStore(`conversations-test-${dbCount++}`, 'conversations');
  return { idb, store: new ConversationStore(idb) };
}

function chat(text: string, reply: string, now: number): Conversation {
  return withMessages(newConversation({ now }), [newMessage('user', text), newMessage('assistant', reply, { finish: 'stop' })], now);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('conversation data', () => {
  test('titles: first line of the first user message, collapsed, cut at a word with an ellipsis', () => {
    expect(titleFrom('  Hello   there \n second line')).toBe('Hello there');
    expect(titleFrom('   \n  ')).toBe(NEW_CHAT_TITLE);
    expect(titleFrom('The quick brown fox jumps over the lazy dog and keeps running far away', 30)).toBe('The quick brown fox jumps over…');
    // No space in the second half: cut inside the word rather than leaving a stub.
    expect(titleFrom('a Supercalifragilisticexpialidocious', 20)).toBe('a Supercalifragilist…');
    expect(cleanTitle('  My\n  chat ')).toBe('My chat');
    expect(cleanTitle('x'.repeat(100))).toHaveLength(60);
    expect(() => cleanTitle(' \n ')).toThrow('A conversation title cannot be empty.');
  });

  test('the automatic title follows the first user message until the user renames', () => {
    const c = newConversation({ now: 1 });
    expect(c.title).toBe(NEW_CHAT_TITLE);
    expect(isBlank(c)).toBe(true);
    expect(isBlank({ ...c, systemPrompt: 'Be brief.' })).toBe(false);
    const a = withMessages(c, [newMessage('user', 'First question')], 5);
    expect(a).toMatchObject({ title: 'First question', updatedAt: 5, createdAt: 1 });
    const b = withMessages(a, [newMessage('user', 'Edited question')], 6);
    expect(b.title).toBe('Edited question');
    const renamed = { ...b, title: 'Mine', autoTitle: false };
    expect(withMessages(renamed, [newMessage('user', 'Other')], 7).title).toBe('Mine');
  });

  test('request messages: system prompt first (verbatim), empty replies left out, content untouched', () => {
    const c = withMessages({ ...newConversation(), systemPrompt: ' Be brief. ' }, [
      newMessage('user', 'Hi'),
      newMessage('assistant', '', { finish: 'abort' }),
      newMessage('user', 'Hi again'),
      newMessage('assistant', ' Hello!\n\n', { finish: 'stop' }),
    ]);
    expect(requestMessages(c)).toEqual([
      { role: 'system', content: ' Be brief. ' },
      { role: 'user', content: 'Hi' },
      { role: 'user', content: 'Hi again' },
      { role: 'assistant', content: ' Hello!\n\n' },
    ]);
    expect(requestMessages({ ...c, systemPrompt: '  ' })[0]).toEqual({ role: 'user', content: 'Hi' });
  });

  test('context used: prompt + completion tokens of the latest reply that reported usage', () => {
    const usage = (p: number, n: number) => ({ prompt_tokens: p, completion_tokens: n, total_tokens: p + n, cached_prompt_tokens: 0 });
    const c = withMessages(newConversation(), [
      newMessage('user', 'a'),
      newMessage('assistant', 'b', { usage: usage(10, 5) }),
      newMessage('user', 'c'),
      newMessage('assistant', 'd', { usage: usage(40, 7) }),
      newMessage('user', 'e'),
      newMessage('assistant', '', { streaming: true }),
    ]);
    expect(contextUsed(c)).toBe(47);
    expect(contextUsed(newConversation())).toBe(0);
  });

  test('unseen messages: the oldest ones the latest finished reply says its request left out', () => {
    const usage = { prompt_tokens: 200, completion_tokens: 8, total_tokens: 208, cached_prompt_tokens: 0 };
    const truncated = { dropped_messages: 3, dropped_tokens: 120, context_length: 256 };
    const ms = [
      newMessage('user', 'q1'),
      newMessage('assistant', '', { finish: 'abort', usage }), // no text: it was not sent, so not counted
      newMessage('user', 'q1 again'),
      newMessage('assistant', 'a1', { usage }),
      newMessage('user', 'q2'),
      newMessage('assistant', 'a2', { usage, truncated }),
    ];
    const c = withMessages(newConversation(), ms);
    expect(unseenMessages(c)).toEqual({ ids: new Set([ms[0].id, ms[2].id, ms[3].id]), lastId: ms[3].id, droppedMessages: 3, droppedTokens: 120, contextLength: 256 });
    // a reply still streaming, or one that failed, does not change what the last finished one said
    const more = withMessages(c, [...ms, newMessage('user', 'q3'), newMessage('assistant', '', { error: 'failed' }), newMessage('user', 'q4'), newMessage('assistant', '', { streaming: true })]);
    expect(unseenMessages(more)?.lastId).toBe(ms[3].id);
    // a newer reply whose conversation fitted: everything is seen again
    expect(unseenMessages(withMessages(c, [...ms, newMessage('user', 'q3'), newMessage('assistant', 'a3', { usage })]))).toBeUndefined();
    expect(unseenMessages(newConversation())).toBeUndefined();
  });

  test('the notice says how many messages and tokens, and the context', () => {
    const u = { ids: new Set<string>(), lastId: '', droppedTokens: 1230, contextLength: 2048 };
    expect(unseenNotice({ ...u, droppedMessages: 4 })).toBe('The model no longer sees the 4 oldest messages (1,230 tokens): the conversation is longer than its 2,048-token context.');
    expect(unseenNotice({ ...u, droppedMessages: 1, droppedTokens: 1 })).toBe('The model no longer sees the oldest message (1 token): the conversation is longer than its 2,048-token context.');
  });

  test('a malformed truncated record is rejected', () => {
    const c = chat('q', 'a', 1);
    const bad = { ...c, messages: [c.messages[0], { ...c.messages[1], truncated: { dropped_messages: '2' } }] };
    expect(() => parseConversation(bad)).toThrow('message 1 truncated');
    expect(isTruncated({ dropped_messages: 2, dropped_tokens: 30, context_length: 256 })).toBe(true);
  });

  test('a reply still streaming when stored is read back as stopped, with its text', () => {
    const c = withMessages(newConversation(), [newMessage('user', 'q'), newMessage('assistant', 'partial', { streaming: true })]);
    const r = recoverInterrupted(c);
    expect(r.messages[1]).toMatchObject({ content: 'partial', streaming: false, finish: 'abort' });
    const done = chat('q', 'a', 1);
    expect(recoverInterrupted(done)).toBe(done);
  });

  test('malformed records are rejected naming the field', () => {
    const c = chat('q', 'a', 1);
    expect(parseConversation(c)).toEqual(c);
    expect(() => parseConversation(null)).toThrow('Stored conversation is malformed: not an object');
    expect(() => parseConversation({ ...c, id: '' })).toThrow('malformed: id');
    expect(() => parseConversation({ ...c, messages: 'x' })).toThrow('malformed: messages');
    expect(() => parseConversation({ ...c, messages: [{ id: 'm', role: 'system', content: 'x' }] })).toThrow('malformed: message 0');
    expect(() => parseConversation({ ...c, messages: [{ id: 'm', role: 'assistant', content: 'x', finish: 'eos' }] })).toThrow('malformed: message 0 finish');
  });
});

describe('ConversationStore (IndexedDB)', () => {
  test('save, list newest first, get, rename, delete', async () => {
    const { store } = setup();
    const older = chat('Older question', 'old reply', 1000);
    const newer = chat('Newer question', 'new reply', 2000);
    await store.save(older);
    await store.save(newer);
    expect(await store.list()).toEqual([
      { id: newer.id, title: 'Newer question', createdAt: 2000, updatedAt: 2000, messageCount: 2 },
      { id: older.id, title: 'Older question', createdAt: 1000, updatedAt: 1000, messageCount: 2 },
    ]);
    expect(await store.get(older.id)).toEqual(older);

    const renamed = await store.rename(older.id, '  Renamed  ', 3000);
    expect(renamed).toMatchObject({ title: 'Renamed', autoTitle: false, updatedAt: 3000 });
    expect((await store.list()).map((s) => s.title)).toEqual(['Renamed', 'Newer question']);
    expect(await store.get(older.id)).toEqual(renamed);
    await expect(store.rename(older.id, ' ')).rejects.toThrow('cannot be empty');
    await expect(store.rename('missing', 'x')).rejects.toThrow('No conversation with id missing.');

    await store.delete(older.id);
    expect(await store.get(older.id)).toBeUndefined();
    expect((await store.list()).map((s) => s.id)).toEqual([newer.id]);
    // Undo of a delete: saving the removed conversation puts it back as it was.
    await store.save(renamed);
    expect(await store.get(older.id)).toEqual(renamed);
  });

  test('a reply cut by a reload reads back as stopped; a broken record is skipped, not fatal', async () => {
    const { idb, store } = setup();
    const c = withMessages(newConversation({ now: 5 }), [newMessage('user', 'q'), newMessage('assistant', 'half a rep', { streaming: true })], 5);
    await store.save(c);
    await set('junk', { id: 'junk', title: 3 }, idb);
    expect((await store.list()).map((s) => s.id)).toEqual([c.id]);
    expect((await store.get(c.id))?.messages[1]).toMatchObject({ content: 'half a rep', streaming: false, finish: 'abort' });
    await expect(store.get('junk')).rejects.toThrow('malformed: title');
  });

  test('writes land in call order: a delete right after a rename (read, then write) stays deleted', async () => {
    const { store } = setup();
    const c = chat('q', 'a', 1);
    await store.save(c);
    const renaming = store.rename(c.id, 'New name');
    const deleting = store.delete(c.id);
    await Promise.all([renaming, deleting]);
    expect(await store.get(c.id)).toBeUndefined();
  });

  test('save refuses a malformed conversation instead of storing it', async () => {
    const { store } = setup();
    const c = { ...chat('q', 'a', 1), messages: [{ id: 'x', role: 'tool', content: '' }] } as unknown as Conversation;
    await expect(store.save(c)).rejects.toThrow('malformed: message 0');
    expect(await store.get(c.id)).toBeUndefined();
  });
});

describe('ThrottledSaver', () => {
  test('coalesces a streaming reply into one write per interval, flush writes the latest now', async () => {
    vi.useFakeTimers();
    const written: string[] = [];
    const saver = new ThrottledSaver(async (c) => void written.push(c.messages[0].content), 500);
    const at = (text: string) => withMessages(newConversation(), [newMessage('assistant', text)]);
    saver.schedule(at('a'));
    saver.schedule(at('ab'));
    await vi.advanceTimersByTimeAsync(499);
    expect(written).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(written).toEqual(['ab']);
    saver.schedule(at('abc'));
    saver.schedule(at('abcd'));
    await saver.flush();
    expect(written).toEqual(['ab', 'abcd']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(written).toEqual(['ab', 'abcd']); // nothing pending, nothing written again
  });

  test('discard drops the pending write of a deleted conversation only', async () => {
    vi.useFakeTimers();
    const written: string[] = [];
    const saver = new ThrottledSaver(async (c) => void written.push(c.id), 500);
    const a = newConversation();
    saver.schedule(a);
    saver.discard('other');
    saver.discard(a.id);
    await vi.advanceTimersByTimeAsync(1000);
    await saver.flush();
    expect(written).toEqual([]);
  });

  test('a failed write is reported, and later writes still happen', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const written: string[] = [];
    const saver = new ThrottledSaver(
      async (c) => {
        if (fail) throw new Error('QuotaExceededError');
        written.push(c.id);
      },
      500,
      (e) => errors.push(e),
    );
    const c = newConversation();
    saver.schedule(c);
    await saver.flush();
    fail = false;
    saver.schedule(c);
    await saver.flush();
    expect(errors).toHaveLength(1);
    expect(written).toEqual([c.id]);
  });
});
