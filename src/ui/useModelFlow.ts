import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import type { InstallSource, LoadedModel, LoadProgress, StoredModel } from '../worker/protocol.ts';
import { errorText } from './format.ts';
import { CHAT_CONTEXT_LENGTH } from './models.ts';

/** Where the app is between "no model" and "chatting". */
export type Stage =
  | { kind: 'listing' }
  | { kind: 'pick' }
  | { kind: 'installing'; label: string; progress?: LoadProgress }
  | { kind: 'loading'; model: StoredModel; progress?: LoadProgress }
  | { kind: 'chat' };

export interface Current {
  model: StoredModel;
  loaded: LoadedModel;
}

const LAST_MODEL_KEY = 'phi3.lastModel';

function remembered(): string | null {
  try {
    return localStorage.getItem(LAST_MODEL_KEY);
  } catch {
    return null;
  }
}

function remember(id: string): void {
  try {
    localStorage.setItem(LAST_MODEL_KEY, id);
  } catch {
    // private mode: the first complete model is loaded next time instead
  }
}

/**
 * Lists the installed models, installs one (download or import), loads one into the worker.
 * On start, the last used complete model (else the first complete one) is loaded by itself.
 */
export function useModelFlow(engine: ChatEngine) {
  const [stage, setStage] = useState<Stage>({ kind: 'listing' });
  const [models, setModels] = useState<StoredModel[]>([]);
  const [current, setCurrent] = useState<Current | undefined>();
  const [error, setError] = useState<string | undefined>();
  const started = useRef(false);

  const refresh = useCallback(async () => {
    const list = await engine.listModels();
    setModels(list);
    return list;
  }, [engine]);

  const load = useCallback(
    async (model: StoredModel) => {
      setError(undefined);
      setStage({ kind: 'loading', model });
      try {
        const loaded = await engine.load({ kind: 'stored', id: model.id, contextLength: CHAT_CONTEXT_LENGTH }, (progress) =>
          setStage((s) => (s.kind === 'loading' ? { ...s, progress } : s)),
        );
        remember(model.id);
        setCurrent({ model, loaded });
        setStage({ kind: 'chat' });
      } catch (e) {
        setCurrent(undefined);
        setError(`Could not load ${model.displayName}: ${errorText(e)}`);
        setStage({ kind: 'pick' });
      }
    },
    [engine],
  );

  const install = useCallback(
    async (source: InstallSource, label: string) => {
      setError(undefined);
      setStage({ kind: 'installing', label });
      let model: StoredModel;
      try {
        // Ask the browser not to evict 2 GB of weights under storage pressure; a refusal is not fatal.
        await navigator.storage?.persist?.().catch(() => false);
        model = await engine.install(source, (progress) => setStage((s) => (s.kind === 'installing' ? { ...s, progress } : s)));
      } catch (e) {
        const cancelled = e instanceof Error && e.name === 'AbortError';
        setError(cancelled ? `${label} cancelled. What was downloaded is kept: download the same model again to resume.` : `${label} failed: ${errorText(e)}`);
        setStage({ kind: 'pick' });
        await refresh().catch(() => undefined);
        return;
      }
      await refresh().catch(() => undefined);
      await load(model);
    },
    [engine, load, refresh],
  );

  const remove = useCallback(
    async (model: StoredModel) => {
      setError(undefined);
      try {
        await engine.deleteModel(model.id);
      } catch (e) {
        setError(`Could not delete ${model.displayName}: ${errorText(e)}`);
      }
      const list = await refresh().catch(() => models);
      if (current?.model.id === model.id) {
        setCurrent(undefined);
        setStage({ kind: 'pick' });
      } else if (!list.some((m) => m.complete)) {
        setStage((s) => (s.kind === 'chat' ? s : { kind: 'pick' }));
      }
    },
    [current, engine, models, refresh],
  );

  const pick = useCallback(() => {
    setError(undefined);
    setStage({ kind: 'pick' });
  }, []);
  const backToChat = useCallback(() => setStage({ kind: 'chat' }), []);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    refresh()
      .then((list) => {
        const complete = list.filter((m) => m.complete);
        const last = remembered();
        const chosen = complete.find((m) => m.id === last) ?? complete[0];
        if (chosen) void load(chosen);
        else setStage({ kind: 'pick' });
      })
      .catch((e: unknown) => {
        setError(`Could not read the installed models: ${errorText(e)}`);
        setStage({ kind: 'pick' });
      });
  }, [load, refresh]);

  return { stage, models, current, error, install, load, remove, pick, backToChat };
}
