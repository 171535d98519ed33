import { CapabilityCheck } from './CapabilityCheck.tsx';
import { ModelCheck } from './ModelCheck.tsx';
import { useEngine } from './useEngine.ts';

export function App() {
  const engine = useEngine();
  return (
    <div className="app">
      <header className="app-header">
        <h1>Phi-3 Local Chat</h1>
        <p className="tagline">A language model that runs entirely on your own GPU. Nothing you type leaves this device.</p>
      </header>
      <main>
        {engine ? <CapabilityCheck engine={engine} /> : null}
        {engine && new URLSearchParams(location.search).has('check-model') ? <ModelCheck engine={engine} /> : null}
      </main>
    </div>
  );
}
