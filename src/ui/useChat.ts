import { useCallback, useRef, useState } from 'react';
import type { ChatCompletionChunk, ChatEngine } from '../client/openai.ts';
import type { ChatFinishReason } from '../worker/protocol.ts';
import { errorText } from './format.ts';

export interface Settings {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  /** Undefined: a new random seed per reply. */
  seed?: number;
}

export const DEFAULT_SETTINGS: Settings = { temperature: 0.7, topP: 0.95, topK: 40, maxTokens: 512 };

export interface Message {
  id: number;
  role: 'user' | 'assistant';
  content: string;
  streaming?: boolean;
  finish?: ChatFinishReason;
  timing?: ChatCompletionChunk['timing'];
  usage?: ChatCompletionChunk['usage'];
}

let nextId = 1;

/**
 * One conversation: sends it whole each turn (the worker reuses its KV cache for the part it has
 * seen, which needs each reply sent back exactly as streamed), streams the reply in, stops it.
 */
export function useChat(engine: ChatEngine) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const controller = useRef<AbortController | undefined>(undefined);

  const send = useCallback(
    async (text: string, s: Settings) => {
      if (controller.current) return;
      const user: Message = { id: nextId++, role: 'user', content: text };
      const reply: Message = { id: nextId++, role: 'assistant', content: '', streaming: true };
      const history = [...messages, user].filter((m) => m.content).map((m) => ({ role: m.role, content: m.content }));
      const update = (patch: Partial<Message>) => setMessages((ms) => ms.map((m) => (m.id === reply.id ? { ...m, ...patch } : m)));
      const ac = (controller.current = new AbortController());
      setMessages((ms) => [...ms, user, reply]);
      setError(undefined);
      setBusy(true);
      let content = '';
      try {
        const stream = await engine.chat.completions.create({
          messages: history,
          stream: true,
          max_tokens: s.maxTokens,
          temperature: s.temperature,
          top_p: s.topP,
          top_k: s.topK,
          seed: s.seed,
          signal: ac.signal,
        });
        for await (const chunk of stream) {
          const c = chunk.choices[0];
          content += c.delta.content ?? '';
          update({ content, ...(c.finish_reason ? { finish: c.finish_reason, timing: chunk.timing, usage: chunk.usage } : {}) });
        }
        update({ streaming: false });
      } catch (e) {
        update({ streaming: false, finish: ac.signal.aborted ? 'abort' : undefined });
        if (!ac.signal.aborted) setError(errorText(e));
      } finally {
        controller.current = undefined;
        setBusy(false);
      }
    },
    [engine, messages],
  );

  const stop = useCallback(() => controller.current?.abort(), []);

  const clear = useCallback(() => {
    controller.current?.abort();
    setMessages([]);
    setError(undefined);
  }, []);

  return { messages, error, busy, send, stop, clear };
}
