/**
 * One loaded model in the worker: engine, tokenizer, chat template, and the chat call that
 * turns an OpenAI-style request into tokens and streamed text.
 */
import type { Engine } from '../engine/engine.ts';
import type { OpenedModel } from '../engine/open.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { StreamDecoder } from '../model/detokenizer.ts';
import { encodeChat, stopTokenIds } from '../model/chat-template.ts';
import { CHAT_DEFAULTS } from '../common/sampling.ts';
import { InvalidRequestError } from '../common/errors.ts';
import type { ChatDelta, ChatRequest, ChatResult } from './protocol.ts';

export class ChatSession {
  readonly engine: Engine;
  readonly tokenizer: TextTokenizer;
  private readonly stopIds: number[];
  private readonly template?: string;
  private controller?: AbortController;
  /** The last request's prompt ids and the reply's exact token ids, for KV reuse next turn. */
  private last?: { promptIds: number[]; replyText: string; replyIds: number[] };
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
   * The prompt ids of a request. When it continues the previous turn (same messages, then our
   * reply verbatim), the reply is spliced in as the exact tokens we generated instead of its
   * re-tokenized text, so the KV cache covers it and only the new turn is prefilled.
   */
  private promptIds(messages: ChatRequest['messages']): number[] {
    const ids = encodeChat(this.tokenizer, messages, { template: this.template, addGenerationPrompt: true });
    const last = this.last;
    if (!last || this.endId === undefined || last.replyIds.length === 0) return ids;
    const reply = messages.findLastIndex((m) => m.role === 'assistant');
    if (reply < 0 || messages[reply].content !== last.replyText) return ids;
    const n = last.promptIds.length;
    if (ids.length <= n || last.promptIds.some((id, i) => ids[i] !== id)) return ids;
    const end = ids.indexOf(this.endId, n);
    if (end < 0) return ids;
    return [...last.promptIds, ...last.replyIds, ...ids.slice(end)];
  }

  abort(): void {
    this.controller?.abort();
  }

  async chat(req: ChatRequest, onDelta?: (d: ChatDelta) => void): Promise<ChatResult> {
    if (!req.messages?.length) throw new InvalidRequestError('The chat request has no messages: send at least one.');
    const ids = this.promptIds(req.messages);
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
    this.last = { promptIds: ids, replyText: text, replyIds: stoppedByString ? [] : res.tokens.map((t) => t.id) };
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
    };
  }
}
