/**
 * The window's rules on made-up prompt lengths (each message costs its content's length plus 4
 * tokens of markup, a system message included, plus 1 for BOS): would fail if a cut split a
 * turn, dropped a system message or the newest user message, stopped short of the target when
 * the window has to move, gave up a still-fitting previous cut, or cut a message too long to fit
 * instead of refusing it.
 */
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../model/chat-template.ts';
import { ContextFullError } from '../common/errors.ts';
import { chooseWindow, cutPoints, keptMessages, windowBudget } from './context-window.ts';

const u = (n: number): ChatMessage => ({ role: 'user', content: 'u'.repeat(n) });
const a = (n: number): ChatMessage => ({ role: 'assistant', content: 'a'.repeat(n) });
const sys: ChatMessage = { role: 'system', content: 's'.repeat(10) };
const length = (ms: readonly ChatMessage[]) => 1 + ms.reduce((n, m) => n + m.content.length + 4, 0);
const lengthOf = (ms: readonly ChatMessage[]) => (dropped: number) => length(keptMessages(ms, dropped));

describe('windowBudget', () => {
  it('reserves max_tokens for the reply, at most a quarter of the context, and slides a further quarter', () => {
    expect(windowBudget({ contextLength: 2048, maxTokens: 100 })).toEqual({ reserve: 100, budget: 1948, target: 1436 });
    expect(windowBudget({ contextLength: 2048, maxTokens: 4096 })).toEqual({ reserve: 512, budget: 1536, target: 1024 });
  });
});

describe('cutPoints', () => {
  it('cuts only where a user turn starts, never past the newest user message', () => {
    expect(cutPoints([sys, u(1), a(1), u(1), a(1), u(1)])).toEqual([0, 2, 4]);
    // two user messages in a row are one turn; a leading reply may go on its own
    expect(cutPoints([a(1), u(1), u(1), a(1), u(1), a(1)])).toEqual([0, 1, 4]);
    expect(cutPoints([sys, u(1)])).toEqual([0]);
  });
  it('keptMessages keeps every system message and drops the oldest others', () => {
    const ms = [sys, u(1), a(2), u(3)];
    expect(keptMessages(ms, 2)).toEqual([sys, u(3)]);
  });
});

describe('chooseWindow', () => {
  const limits = { contextLength: 256, maxTokens: 32 }; // budget 224, target 160
  const turns = (n: number, size: number) => Array.from({ length: n }, () => [u(size), a(size)]).flat();

  it('keeps the whole conversation while it fits the budget', () => {
    const ms = [sys, ...turns(4, 16), u(16)]; // 1 + 14 + 9 * 20 = 195 <= 224
    expect(chooseWindow(ms, limits, lengthOf(ms))).toEqual({ dropped: 0, tokens: 195 });
  });

  it('once over the budget, drops the fewest whole turns that bring the prompt down to the target', () => {
    const ms = [sys, ...turns(5, 16), u(16)]; // 235 tokens
    const w = chooseWindow(ms, limits, lengthOf(ms));
    // each turn is 40 tokens: 235 - 2 * 40 = 155 <= 160 (one turn less, 195, would fit the budget only)
    expect(w).toEqual({ dropped: 4, tokens: 155 });
    expect(keptMessages(ms, w.dropped)[0]).toBe(sys);
    expect(keptMessages(ms, w.dropped)[1].role).toBe('user');
  });

  it('keeps the previous cut while its window fits the budget, and moves it only when it no longer does', () => {
    const ms = [sys, ...turns(6, 16), u(16)]; // 275; kept after 4 dropped: 195
    expect(chooseWindow(ms, limits, lengthOf(ms), 4)).toEqual({ dropped: 4, tokens: 195 });
    const more = [sys, ...turns(7, 16), u(16)]; // with 4 dropped: 235 > 224
    expect(chooseWindow(more, limits, lengthOf(more), 4)).toEqual({ dropped: 8, tokens: 155 });
    // a previous cut that is not a turn boundary is ignored
    expect(chooseWindow(ms, limits, lengthOf(ms), 3)).toEqual({ dropped: 6, tokens: 155 });
  });

  it('settles for the budget when the newest turn alone is above the target', () => {
    const ms = [sys, u(16), a(16), u(190)]; // newest alone: 1 + 14 + 194 = 209 > 160, <= 224
    expect(chooseWindow(ms, limits, lengthOf(ms))).toEqual({ dropped: 2, tokens: 209 });
  });

  it('refuses a newest message that does not fit with room for the reply, saying how long it is and what fits', () => {
    const ms = [sys, u(16), a(16), u(210)]; // 229 > 224
    expect(() => chooseWindow(ms, limits, lengthOf(ms))).toThrow(ContextFullError);
    expect(() => chooseWindow(ms, limits, lengthOf(ms))).toThrow('The newest message needs 229 tokens of prompt (with the system prompt and the chat markup), but only 224 fit in the 256-token context, which keeps 32 for the reply');
  });

  it('counts each window once', () => {
    const ms = [sys, ...turns(40, 16), u(16)];
    const calls: number[] = [];
    chooseWindow(ms, limits, (d) => (calls.push(d), lengthOf(ms)(d)));
    expect(new Set(calls).size).toBe(calls.length);
    expect(calls.length).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(41)) + 1);
  });
});
