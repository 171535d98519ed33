import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import type { InstallSource, LoadedModel, LoadProgress, StoredModel } from '../worker/protocol.ts';
import { customModelEntry } from '../common/catalog.ts';
import { errorText } from './format.ts';
import { deviceBudget, reportedDeviceMemory } from './fit.ts';
import { effectiveContext, kvChoice, rememberContext, rememberedContext, rememberedKvPreference, rememberKvPreference, type KvPreference } from './models.ts';
import type { KvType } from '../common/kv.ts';

type UrlSource = Extract<InstallSource, { kind: 'url' }>;

/** Where the app is between "no model" and "chatting". */
export type Stage =
  | { kind: 'listing' }
  | { kind: 'pick' }
  | { kind: 'installing'; label: string; source: InstallSource; progress?: LoadProgress }
  /** A download stopped by Pause: its chunks are stored; Resume installs the same URL again. */
  | { kind: 'paused'; label: string; source: UrlSource; progress?: LoadProgress }
  | { kind: 'loading'; model: StoredModel; contextLength: number; kvType: KvType; progress?: LoadProgress }
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

/** The stored, incomplete download of `url`, if any: the worker stores it under its catalog id. */
function partialDownload(list: readonly StoredModel[] | undefined, url: string): StoredModel | undefined {
  let id: string;
  try {
    id = customModelEntry(url, location.href).id;
  } catch {
    return undefined;
  }
  return list?.find((m) => !m.complete && m.id === id);
}

/**
 * Lists the installed models, installs one (download or import; pause, resume, cancel), loads one
 * into the worker with the chosen context length. On start, the last used complete model (else
 * the first complete one) is loaded by itself.
 */
export function useModelFlow(engine: ChatEngine, limits?: Readonly<Record<string, number>>) {
  const [stage, setStage] = useState<Stage>({ kind: 'listing' });
  const [models, setModels] = useState<StoredModel[]>([]);
  const [current, setCurrent] = useState<Current | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [contextLength, setContextLengthState] = useState(rememberedContext);
  const [kvPreference, setKvPreferenceState] = useState(rememberedKvPreference);
  // the adapter's limits, for the automatic KV choice at load (read there, so a load need not depend on them)
  const limitsRef = useRef(limits);
  limitsRef.current = limits;
  const started = useRef(false);
  /** Why the running install is being aborted: Pause keeps its chunks, Cancel deletes them. */
  const stopping = useRef<'pause' | 'cancel' | undefined>(undefined);

  const refresh = useCallback(async () => {
    const list = await engine.listModels();
    setModels(list);
    return list;
  }, [engine]);

  const setContextLength = useCallback((n: number) => {
    rememberContext(n);
    setContextLengthState(n);
  }, []);

  const setKvPreference = useCallback((p: KvPreference) => {
    rememberKvPreference(p);
    setKvPreferenceState(p);
  }, []);

  const load = useCallback(
    async (model: StoredModel, wanted = rememberedContext(), pref = rememberedKvPreference()) => {
      setError(undefined);
      setNotice(undefined);
      const ctx = effectiveContext(wanted, model.contextLength);
      // the same choice the picker and the model list show for this model and context
      const budget = deviceBudget(undefined, reportedDeviceMemory(), limitsRef.current);
      const kvType = kvChoice(pref, model.kv, ctx, model.bytes, budget);
      setStage({ kind: 'loading', model, contextLength: ctx, kvType });
      try {
        const loaded = await engine.load({ kind: 'stored', id: model.id, contextLength: ctx, kvType }, (progress) =>
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
      setNotice(undefined);
      stopping.current = undefined;
      setStage({ kind: 'installing', label, source });
      let model: StoredModel;
      try {
        // Ask the browser not to evict 2 GB of weights under storage pressure; a refusal is not fatal.
        await navigator.storage?.persist?.().catch(() => false);
        model = await engine.install(source, (progress) => setStage((s) => (s.kind === 'installing' ? { ...s, progress } : s)));
      } catch (e) {
        const why = e instanceof Error && e.name === 'AbortError' ? (stopping.current ?? 'pause') : undefined;
        stopping.current = undefined;
        const list = await refresh().catch(() => undefined);
        if (why === 'pause' && source.kind === 'url') {
          // Show what is kept: the whole chunks in the store (a chunk cut by the pause is fetched again).
          const partial = partialDownload(list, source.url);
          setStage((s) => {
            const last = s.kind === 'installing' ? s.progress : undefined;
            const progress = last && partial ? { ...last, bytesDone: partial.storedBytes, rate: undefined, etaSeconds: undefined } : last;
            return { kind: 'paused', label, source, progress };
          });
        } else if (why) {
          // Cancel: a URL download leaves its chunks (that is what makes resume work), so delete them;
          // an interrupted file import has already deleted its own.
          const partial = source.kind === 'url' ? partialDownload(list, source.url) : undefined;
          if (partial) await engine.deleteModel(partial.id).catch(() => undefined);
          await refresh().catch(() => undefined);
          setNotice(`${label} cancelled${partial ? '; the partly downloaded file was deleted' : ''}.`);
          setStage({ kind: 'pick' });
        } else {
          setError(`${label} failed: ${errorText(e)}${source.kind === 'url' ? ' What was downloaded is kept: Resume continues from there.' : ''}`);
          setStage({ kind: 'pick' });
        }
        return;
      }
      await refresh().catch(() => undefined);
      await load(model);
    },
    [engine, load, refresh],
  );

  /** Stops the download and keeps what is stored (the stage becomes 'paused'). */
  const pause = useCallback(() => {
    stopping.current = 'pause';
    void engine.cancelInstall();
  }, [engine]);

  /** Stops the download or import and deletes what it stored. */
  const cancel = useCallback(() => {
    stopping.current = 'cancel';
    void engine.cancelInstall();
  }, [engine]);

  /** Continues a paused or incomplete download from its stored chunks. */
  const resume = useCallback((url: string, displayName: string) => void install({ kind: 'url', url, displayName }, `Downloading ${displayName}`), [install]);

  /** Deletes a paused download's chunks. */
  const discard = useCallback(
    async (source: UrlSource, label: string) => {
      const partial = partialDownload(await refresh().catch(() => models), source.url);
      if (partial) await engine.deleteModel(partial.id).catch((e: unknown) => setError(`Could not delete ${partial.displayName}: ${errorText(e)}`));
      await refresh().catch(() => undefined);
      setNotice(`${label} cancelled; the partly downloaded file was deleted.`);
      setStage({ kind: 'pick' });
    },
    [engine, models, refresh],
  );

  const remove = useCallback(
    async (model: StoredModel) => {
      setError(undefined);
      setNotice(undefined);
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
        setStage((s) => (s.kind === 'chat' ? s : s.kind === 'paused' ? s : { kind: 'pick' }));
      }
    },
    [current, engine, models, refresh],
  );

  const pick = useCallback(() => {
    setError(undefined);
    setNotice(undefined);
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

  return { stage, models, current, error, notice, contextLength, setContextLength, kvPreference, setKvPreference, install, pause, cancel, resume, discard, load, remove, pick, backToChat };
}
