/**
 * One loaded model in the worker: engine, tokenizer, chat template, and the chat call that
 * turns an OpenAI-style request into tokens and streamed text.
 */
import type { Engine } from '../engine/engine.ts';
import type { OpenedModel } from '../engine/open.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { StreamDecoder } from '../model/detokenizer.ts';
import { encodeChat, stopTokenIds, type ChatMessage } from '../model/chat-template.ts';
import { CHAT_DEFAULTS } from '../common/sampling.ts';
import { InvalidRequestError } from '../common/errors.ts';
import type { ChatDelta, ChatRequest, ChatResult } from './protocol.ts';
import { chooseWindow, keptMessages } from './context-window.ts';

/** Do `a` and `b` hold the same first `n` non-system messages? */
function sameStart(a: readonly ChatMessage[], b: readonly ChatMessage[], n: number): boolean {
  const x = a.filter((m) => m.role !== 'system');
  const y = b.filter((m) => m.role !== 'system');
  if (x.length < n || y.length < n) return false;
  for (let i = 0; i < n; i++) if (x[i].role !== y[i].role || x[i].content !== y[i].content) return false;
  return true;
}

export class ChatSession {
  readonly engine: Engine;
  readonly tokenizer: TextTokenizer;
  private readonly stopIds: number[];
  private readonly template?: string;
  private controller?: AbortController;
  /**
   * The last request: its prompt as sent (`promptIds`) and as its messages encode (`plainIds`),
   * and the reply's text and exact token ids, for KV reuse next turn.
   */
  private last?: { promptIds: number[]; plainIds: number[]; replyText: string; replyIds: number[] };
  /** The last request's messages and how many of them its window left out (context-window.ts). */
  private window?: { messages: ChatMessage[]; dropped: number };
  private readonly endId?: number;

  constructor(model: OpenedModel) {
    this.engine = model.engine;
    this.tokenizer = model.tokenizer;
    this.stopIds = stopTokenIds(model.vocab);
    const t = model.file.metadata.get('tokenizer.chat_template');
    this.template = typeof t === 'string' ? t : undefined;
    this.endId = this.tokenizer.idOf('<|end|>');
  }

  /**
   * `ids`, the encoded `messages`, with the previous replies spliced in: when they continue the
   * previous request (its messages encoded the same, then our reply verbatim), the prompt is the
   * previous prompt, then the reply as the exact tokens we generated (its re-tokenized text may
   * differ), then the new turn. The previous prompt holds the replies before it spliced the same
   * way, so the KV cache covers the whole conversation and only the new turn is prefilled.
   */
  private spliced(ids: number[], messages: readonly ChatMessage[]): number[] {
    const last = this.last;
    if (!last || this.endId === undefined || last.replyIds.length === 0) return ids;
    const reply = messages.findLastIndex((m) => m.role === 'assistant');
    if (reply < 0 || messages[reply].content !== last.replyText) return ids;
    const n = last.plainIds.length;
    if (ids.length <= n || last.plainIds.some((id, i) => ids[i] !== id)) return ids;
    const end = ids.indexOf(this.endId, n);
    if (end < 0) return ids;
    return [...last.promptIds, ...last.replyIds, ...ids.slice(end)];
  }

  private encode(messages: readonly ChatMessage[]): number[] {
    return encodeChat(this.tokenizer, messages, { template: this.template, addGenerationPrompt: true });
  }

  /**
   * The prompt of a request: the whole conversation when it fits, else its system messages and
   * newest whole turns (context-window.ts), with what was left out. The cut of the previous
   * request is offered again while the conversation up to it is unchanged, so the window, and
   * with it the KV cache, carries over.
   */
  private prompt(req: ChatRequest): { ids: number[]; plain: number[]; truncated?: ChatResult['truncated'] } {
    const messages = req.messages;
    const plain = new Map<number, number[]>();
    const encoded = (dropped: number) => {
      let ids = plain.get(dropped);
      if (!ids) plain.set(dropped, (ids = this.encode(keptMessages(messages, dropped))));
      return ids;
    };
    const full = new Map<number, number[]>();
    const prompt = (dropped: number) => {
      let ids = full.get(dropped);
      if (!ids) full.set(dropped, (ids = this.spliced(encoded(dropped), keptMessages(messages, dropped))));
      return ids;
    };
    const w = this.window;
    const previous = w && sameStart(w.messages, messages, w.dropped + 1) ? w.dropped : undefined;
    const limits = { contextLength: this.engine.maxCtx, maxTokens: req.max_tokens ?? CHAT_DEFAULTS.maxTokens };
    const { dropped } = chooseWindow(messages, limits, (d) => prompt(d).length, previous);
    this.window = { messages: messages.map((m) => ({ role: m.role, content: m.content })), dropped };
    const chosen = { ids: prompt(dropped), plain: encoded(dropped) };
    if (dropped === 0) return chosen;
    return { ...chosen, truncated: { droppedMessages: dropped, droppedTokens: encoded(0).length - encoded(dropped).length, contextLength: this.engine.maxCtx } };
  }

  abort(): void {
    this.controller?.abort();
  }

  async chat(req: ChatRequest, onDelta?: (d: ChatDelta) => void): Promise<ChatResult> {
    if (!req.messages?.length) throw new InvalidRequestError('The chat request has no messages: send at least one.');
    const { ids, plain, truncated } = this.prompt(req);
    const stops = typeof req.stop === 'string' ? [req.stop] : (req.stop ?? []);
    const controller = (this.controller = new AbortController());
    const decoder = new StreamDecoder(this.tokenizer, { stripLeadingSpace: true });
    let text = '';
    let stoppedByString = false;
    const res = await this.engine.generate(ids, {
      maxTokens: Math.max(1, Math.min(req.max_tokens ?? CHAT_DEFAULTS.maxTokens, this.engine.maxCtx)),
      // The one place a request's missing settings get the chat defaults.
      sampling: {
        temperature: req.temperature ?? CHAT_DEFAULTS.temperature,
        topP: req.top_p ?? CHAT_DEFAULTS.topP,
        topK: req.top_k ?? CHAT_DEFAULTS.topK,
        repetitionPenalty: req.repetition_penalty ?? CHAT_DEFAULTS.repetitionPenalty,
        seed: req.seed ?? Math.floor(Math.random() * 2 ** 32),
      },
      topLogprobs: Math.max(0, Math.min(req.top_logprobs ?? 0, 20)),
      stopIds: this.stopIds,
      signal: controller.signal,
      onToken: (t) => {
        if (stoppedByString) return;
        let piece = decoder.push(t.id);
        const joined = text + piece;
        const hit = stops.map((s) => (s ? joined.indexOf(s, Math.max(0, text.length - s.length)) : -1)).filter((i) => i >= 0);
        if (hit.length) {
          piece = joined.slice(text.length, Math.min(...hit));
          stoppedByString = true;
          controller.abort();
        }
        text += piece;
        if (piece || t.top.length) onDelta?.({ text: piece, tokenId: t.id, top: t.top.length ? t.top : undefined });
      },
    });
    if (!stoppedByString) {
      const tail = decoder.flush();
      if (tail) {
        text += tail;
        onDelta?.({ text: tail, tokenId: -1 });
      }
    }
    const n = res.tokens.length;
    // A reply cut by a stop string has tokens beyond its text: do not splice it next turn.
    this.last = { promptIds: ids, plainIds: plain, replyText: text, replyIds: stoppedByString ? [] : res.tokens.map((t) => t.id) };
    return {
      text,
      finishReason: stoppedByString ? 'stop' : res.finishReason,
      usage: { promptTokens: res.promptTokens, completionTokens: n, totalTokens: res.promptTokens + n, cachedPromptTokens: res.cachedTokens },
      timing: {
        prefillMs: res.prefillMs,
        decodeMs: res.decodeMs,
        prefillTokPerS: (res.promptTokens - res.cachedTokens) / (res.prefillMs / 1000),
        decodeTokPerS: n > 1 ? (n - 1) / (res.decodeMs / 1000) : 0,
      },
      ...(truncated ? { truncated } : {}),
    };
  }
}
