import type { ReactNode } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import { CapabilityCheck, CapabilityPending } from './CapabilityCheck.tsx';
import { Chat } from './Chat.tsx';
import { InstallProgress } from './InstallProgress.tsx';
import { ModelCheck } from './ModelCheck.tsx';
import { ModelList } from './ModelList.tsx';
import { ModelPicker } from './ModelPicker.tsx';
import { useCapabilities } from './useCapabilities.ts';
import { useEngine } from './useEngine.ts';
import { useModelFlow } from './useModelFlow.ts';
import { UpdatePrompt } from './UpdatePrompt.tsx';
import { WebGPUHelp } from './WebGPUHelp.tsx';

const diagnostics = new URLSearchParams(location.search).has('check-model');

export function App() {
  const engine = useEngine();
  const caps = useCapabilities(engine);
  return (
    <div className="app">
      <UpdatePrompt />
      <header className="app-header">
        <h1>Phi-3 Local Chat</h1>
        <p className="tagline">A language model that runs entirely on your own GPU. Nothing you type leaves this device.</p>
      </header>
      {!engine || !caps ? (
        <main>
          <CapabilityPending />
        </main>
      ) : !caps.ok ? (
        <main>
          <WebGPUHelp reason={caps.reason} message={caps.message} />
        </main>
      ) : diagnostics ? (
        <main>
          <CapabilityCheck engine={engine.client} caps={caps} />
          <ModelCheck engine={engine.client} />
        </main>
      ) : (
        <ChatApp engine={engine} gpu={<CapabilityCheck engine={engine.client} caps={caps} />} />
      )}
    </div>
  );
}

/** WebGPU works: get a model (pick, install, load), then chat; installed models and GPU details aside. */
function ChatApp({ engine, gpu }: { engine: ChatEngine; gpu: ReactNode }) {
  const flow = useModelFlow(engine);
  const { stage, current } = flow;
  const working = stage.kind === 'installing' || stage.kind === 'loading' || stage.kind === 'listing';
  return (
    <div className="layout">
      <main>
        {flow.error ? (
          <p role="alert" className="card error">
            {flow.error}
          </p>
        ) : null}
        {stage.kind === 'listing' ? (
          <section className="card" aria-busy="true">
            <p>Looking for installed models…</p>
          </section>
        ) : stage.kind === 'pick' ? (
          <ModelPicker onInstall={(s, label) => void flow.install(s, label)} onCancel={current ? flow.backToChat : undefined} />
        ) : stage.kind === 'installing' ? (
          <InstallProgress
            title={stage.label}
            progress={stage.progress}
            note="A download resumes where it stopped if it is cancelled, the tab is closed or the network drops: download the same model again."
            onCancel={() => void engine.cancelInstall()}
          />
        ) : stage.kind === 'loading' ? (
          <InstallProgress title={`Loading ${stage.model.displayName}`} progress={stage.progress} />
        ) : current ? (
          <Chat key={current.model.id} engine={engine} modelName={current.model.displayName} contextLength={current.loaded.contextLength} />
        ) : null}
      </main>
      <aside aria-label="Models and GPU">
        <ModelList
          models={flow.models}
          currentId={current?.model.id}
          loadingId={stage.kind === 'loading' ? stage.model.id : undefined}
          busy={working}
          onUse={(m) => void flow.load(m)}
          onDelete={(m) => void flow.remove(m)}
          onAdd={stage.kind === 'chat' ? flow.pick : undefined}
        />
        {gpu}
      </aside>
    </div>
  );
}
