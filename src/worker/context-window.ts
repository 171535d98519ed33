/**
 * Which part of a conversation the model is shown when the whole does not fit its context: every
 * system message and the newest whole turns, with room left for the reply.
 *
 *   budget = context - reserve            reserve = min(max_tokens, context / 4), at least 1
 *   target = budget - context / 4         where the window moves to once it has to move
 *
 * Turns are dropped oldest first and whole: a cut falls only where a user message starts, so the
 * model never sees a reply without the question it answered; the newest user message (and any
 * message after it) is always kept. When the window has to move it moves down to `target`, not
 * just below `budget`: the prompt's prefix changes only then, and the turns after it extend an
 * unchanged window, whose tokens the KV cache still holds. A cut made by the previous request
 * is kept while the prompt it leaves fits the budget, for the same reason.
 */
import type { ChatMessage } from '../model/chat-template.ts';
import { ContextFullError } from '../common/errors.ts';

/** The share of the context a moving window frees beyond the budget, and the reply's largest reserve. */
export const SLIDE = 1 / 4;

export interface WindowLimits {
  /** The loaded context (positions of the KV cache). */
  contextLength: number;
  /** The request's max_tokens. */
  maxTokens: number;
}

/** Prompt tokens allowed (`budget`) and the level a moving window goes down to (`target`). */
export function windowBudget({ contextLength, maxTokens }: WindowLimits): { reserve: number; budget: number; target: number } {
  const reserve = Math.max(1, Math.min(maxTokens, Math.floor(contextLength * SLIDE)));
  const budget = contextLength - reserve;
  return { reserve, budget, target: Math.max(1, budget - Math.floor(contextLength * SLIDE)) };
}

/**
 * The numbers of leading non-system messages a window may leave out, ascending: 0, then the
 * position of each user message that starts a turn, up to the newest user message.
 */
export function cutPoints(messages: readonly ChatMessage[]): number[] {
  const rest = messages.filter((m) => m.role !== 'system');
  const newest = rest.findLastIndex((m) => m.role === 'user');
  const cuts = [0];
  for (let i = 1; i <= newest; i++) if (rest[i].role === 'user' && rest[i - 1].role !== 'user') cuts.push(i);
  return cuts;
}

/** The messages the model sees when the `dropped` oldest non-system messages are left out. */
export function keptMessages(messages: readonly ChatMessage[], dropped: number): ChatMessage[] {
  let seen = 0;
  return messages.filter((m) => m.role === 'system' || seen++ >= dropped);
}

export interface WindowChoice {
  /** Leading non-system messages left out (0: the whole conversation). */
  dropped: number;
  /** Prompt tokens of the kept messages. */
  tokens: number;
}

/**
 * Chooses the cut. `tokens(dropped)` is the prompt length of `keptMessages(messages, dropped)`;
 * `previous` is the previous request's cut, when the messages up to it are unchanged. Throws
 * ContextFullError when even the newest turn alone exceeds the budget.
 */
export function chooseWindow(messages: readonly ChatMessage[], limits: WindowLimits, tokens: (dropped: number) => number, previous?: number): WindowChoice {
  const { reserve, budget, target } = windowBudget(limits);
  const memo = new Map<number, number>();
  const count = (dropped: number): number => {
    let n = memo.get(dropped);
    if (n === undefined) memo.set(dropped, (n = tokens(dropped)));
    return n;
  };
  const all = count(0);
  if (all <= budget) return { dropped: 0, tokens: all };
  const cuts = cutPoints(messages);
  if (previous !== undefined && previous > 0 && cuts.includes(previous)) {
    const n = count(previous);
    if (n <= budget) return { dropped: previous, tokens: n };
  }
  const last = cuts[cuts.length - 1];
  const least = count(last);
  if (least > budget) {
    const fmt = (n: number) => n.toLocaleString('en-US');
    throw new ContextFullError(
      `The newest message needs ${fmt(least)} tokens of prompt (with the system prompt and the chat markup), but only ${fmt(budget)} fit in the ` +
        `${fmt(limits.contextLength)}-token context, which keeps ${fmt(reserve)} for the reply: shorten the message or the system prompt, or load a longer context.`,
    );
  }
  // The fewest turns dropped that bring the prompt to the target, or failing that within the budget.
  const goal = least <= target ? target : budget;
  // Binary search: dropping more turns never lengthens the prompt. The prompt at cuts[hi] stays within goal.
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (count(cuts[mid]) <= goal) hi = mid;
    else lo = mid + 1;
  }
  return { dropped: cuts[hi], tokens: count(cuts[hi]) };
}
