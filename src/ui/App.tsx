import type { ReactNode } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import { Bench } from './Bench.tsx';
import { CapabilityCheck, CapabilityPending } from './CapabilityCheck.tsx';
import { Chat } from './Chat.tsx';
import { InstallProgress } from './InstallProgress.tsx';
import { ModelCheck } from './ModelCheck.tsx';
import { ModelList } from './ModelList.tsx';
import { ModelPicker } from './ModelPicker.tsx';
import { useCapabilities } from './useCapabilities.ts';
import { useEngine } from './useEngine.ts';
import { useModelFlow } from './useModelFlow.ts';
import { kvTypeLabel } from './models.ts';
import { useStorage } from './useStorage.ts';
import { UpdatePrompt } from './UpdatePrompt.tsx';
import { WebGPUHelp } from './WebGPUHelp.tsx';

const diagnostics = new URLSearchParams(location.search).has('check-model');
const benchmark = new URLSearchParams(location.search).has('bench');

export function App() {
  const engine = useEngine();
  const caps = useCapabilities(engine);
  return (
    <div className="app">
      <UpdatePrompt />
      <header className="app-header">
        <h1>Phi-3 Local Chat</h1>
        <p className="tagline">A language model that runs entirely on your own GPU. Nothing you type leaves this device.</p>
        <a className="bench-link" href="?bench">
          Benchmark
        </a>
      </header>
      {!engine || !caps ? (
        <main>
          <CapabilityPending />
        </main>
      ) : !caps.ok ? (
        <main>
          <WebGPUHelp reason={caps.reason} message={caps.message} />
        </main>
      ) : benchmark ? (
        <main>
          <Bench engine={engine} />
        </main>
      ) : diagnostics ? (
        <main>
          <CapabilityCheck engine={engine.client} caps={caps} />
          <ModelCheck engine={engine.client} />
        </main>
      ) : (
        <ChatApp engine={engine} limits={caps.limits} gpu={<CapabilityCheck engine={engine.client} caps={caps} />} />
      )}
    </div>
  );
}

/** WebGPU works: get a model (pick, install, load), then chat; installed models and GPU details aside. */
function ChatApp({ engine, limits, gpu }: { engine: ChatEngine; limits: Readonly<Record<string, number>>; gpu: ReactNode }) {
  const flow = useModelFlow(engine, limits);
  const { stage, current } = flow;
  const storage = useStorage(flow.models);
  const working = stage.kind === 'installing' || stage.kind === 'loading' || stage.kind === 'listing';
  return (
    <div className="layout">
      <main>
        {flow.error ? (
          <p role="alert" className="card error">
            {flow.error}
          </p>
        ) : null}
        {flow.notice ? (
          <p role="status" className="card notice">
            {flow.notice}
          </p>
        ) : null}
        {stage.kind === 'listing' ? (
          <section className="card" aria-busy="true">
            <p>Looking for installed models…</p>
          </section>
        ) : stage.kind === 'pick' ? (
          <ModelPicker
            onInstall={(s, label) => void flow.install(s, label)}
            onUse={(m) => void flow.load(m, flow.contextLength, flow.kvPreference)}
            stored={flow.models}
            storage={storage}
            limits={limits}
            onCancel={current ? flow.backToChat : undefined}
            contextLength={flow.contextLength}
            onContextLength={flow.setContextLength}
            kvPreference={flow.kvPreference}
            onKvPreference={flow.setKvPreference}
          />
        ) : stage.kind === 'installing' ? (
          <InstallProgress
            title={stage.label}
            progress={stage.progress}
            note={
              stage.source.kind === 'url'
                ? 'Pause keeps what is downloaded; Resume continues from there, also after closing the tab or losing the network. Cancel deletes it.'
                : undefined
            }
            onPause={stage.source.kind === 'url' ? flow.pause : undefined}
            onCancel={flow.cancel}
          />
        ) : stage.kind === 'paused' ? (
          <InstallProgress
            title={stage.label}
            progress={stage.progress}
            paused
            note="The downloaded part is kept in this browser in whole pieces (a piece cut by the pause is fetched again); Resume continues from there, also after closing the tab."
            onResume={() => void flow.install(stage.source, stage.label)}
            onCancel={() => void flow.discard(stage.source, stage.label)}
            onBack={current ? flow.backToChat : undefined}
          />
        ) : stage.kind === 'loading' ? (
          <InstallProgress title={`Loading ${stage.model.displayName}`} progress={stage.progress} note={`Context length: ${stage.contextLength} tokens, kept in ${kvTypeLabel(stage.kvType)} precision.`} />
        ) : current ? (
          <Chat key={current.model.id} engine={engine} modelId={current.model.id} modelName={current.model.displayName} contextLength={current.loaded.contextLength} />
        ) : null}
      </main>
      <aside aria-label="Models and GPU">
        <ModelList
          models={flow.models}
          current={current}
          loadingId={stage.kind === 'loading' ? stage.model.id : undefined}
          busy={working}
          contextLength={flow.contextLength}
          storage={storage}
          onContextLength={flow.setContextLength}
          kvPreference={flow.kvPreference}
          onKvPreference={flow.setKvPreference}
          limits={limits}
          onUse={(m) => void flow.load(m, flow.contextLength, flow.kvPreference)}
          onResume={(m) => flow.resume(m.url, m.displayName)}
          onDelete={(m) => void flow.remove(m)}
          onAdd={stage.kind === 'chat' ? flow.pick : undefined}
          onPersist={() => void storage.requestPersist()}
        />
        {gpu}
      </aside>
    </div>
  );
}
