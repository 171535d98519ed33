import { useEffect, useState } from 'react';
import type { ChatEngine } from '../client/openai.ts';
import type { BenchReport, LoadRequest, StoredModel } from '../worker/protocol.ts';
import { benchMarkdown, benchRows } from './bench-report.ts';
import { DEFAULT_CONTEXT_LENGTH } from '../common/catalog.ts';
import { formatBytes } from '../common/format.ts';
import { errorText } from './format.ts';
import { TuningTable } from './TuningTable.tsx';
import { GPU_DETAIL_DEFAULTS, GpuDetailFields, GpuDetails, gpuDetailRequest, type GpuDetailOptions } from './BenchGpuDetails.tsx';

type KernelsChoice = NonNullable<LoadRequest['kernels']>;

/** The defaults of `npm run bench`: a 512-token prompt, 128 decoded tokens. */
const DEFAULTS = { prompt: 512, decode: 128, profile: 4 };

/**
 * The benchmark screen (`?bench`): measures an installed model on this device's GPU, the same
 * way `npm run bench` does in Node, and gives a report to copy (adapter, features, limits,
 * browser, the table and per-kernel GPU times) so numbers from real hardware can be collected.
 */
export function Bench({ engine }: { engine: ChatEngine }) {
  const [models, setModels] = useState<StoredModel[] | undefined>();
  const [modelId, setModelId] = useState('');
  const [prompt, setPrompt] = useState(DEFAULTS.prompt);
  const [decode, setDecode] = useState(DEFAULTS.decode);
  const [profile, setProfile] = useState(DEFAULTS.profile);
  const [details, setDetails] = useState<GpuDetailOptions>(GPU_DETAIL_DEFAULTS);
  const [kernels, setKernels] = useState<KernelsChoice>('auto');
  const [phase, setPhase] = useState<string | undefined>();
  const [report, setReport] = useState<BenchReport | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [copied, setCopied] = useState<string | undefined>();

  useEffect(() => {
    engine.listModels().then(
      (all) => {
        const ready = all.filter((m) => m.complete);
        setModels(ready);
        setModelId((id) => id || ready[0]?.id || '');
      },
      (e: unknown) => setError(errorText(e)),
    );
  }, [engine]);

  const run = async () => {
    setError(undefined);
    setReport(undefined);
    setCopied(undefined);
    setPhase('starting');
    try {
      const { contextNeeded, ...detailRequest } = gpuDetailRequest(details);
      // the worker caps the context at the model's own; detail runs beyond it are skipped with the reason
      const contextLength = Math.max(DEFAULT_CONTEXT_LENGTH, prompt + decode, contextNeeded);
      const r = await engine.bench({ model: { kind: 'stored', id: modelId, contextLength, kernels }, promptTokens: prompt, decodeTokens: decode, profileSteps: profile, ...detailRequest }, (p) => setPhase(p));
      setReport(r);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setPhase(undefined);
    }
  };

  const copy = async (text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('Report copied to the clipboard.');
    } catch {
      setCopied('The browser refused clipboard access: select the report text below and copy it.');
    }
  };

  const running = phase !== undefined;
  const text = report ? benchMarkdown(report) : '';
  const int = (v: string, min: number) => Math.max(min, Math.floor(Number(v) || 0));
  return (
    <section className="card" aria-labelledby="bench-title">
      <h2 id="bench-title">Benchmark</h2>
      <p>
        Measures an installed model on this device&apos;s GPU: prompt processing (prefill), generation (decode), load time, and how close decoding
        comes to the GPU&apos;s memory bandwidth. Nothing leaves this device unless you copy the report. <a href="./">Back to chat</a>
      </p>
      {!models ? (
        <p aria-busy="true">Looking for installed models…</p>
      ) : models.length === 0 ? (
        <p>
          No installed model yet: <a href="./">install one</a> first.
        </p>
      ) : (
        <form
          className="bench-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <label>
            Model{' '}
            <select value={modelId} onChange={(e) => setModelId(e.target.value)} disabled={running}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.displayName} ({formatBytes(m.bytes)})
                </option>
              ))}
            </select>
          </label>{' '}
          <label>
            Prompt tokens <input type="number" min={1} value={prompt} onChange={(e) => setPrompt(int(e.target.value, 1))} disabled={running} />
          </label>{' '}
          <label>
            Decoded tokens <input type="number" min={2} value={decode} onChange={(e) => setDecode(int(e.target.value, 2))} disabled={running} />
          </label>{' '}
          <label>
            Profiled steps <input type="number" min={0} value={profile} onChange={(e) => setProfile(int(e.target.value, 0))} disabled={running} />
          </label>{' '}
          <GpuDetailFields value={details} onChange={setDetails} disabled={running} />{' '}
          <label>
            Kernels{' '}
            <select value={kernels} onChange={(e) => setKernels(e.target.value as KernelsChoice)} disabled={running}>
              <option value="auto">tuned for this GPU (stored plan, or the table on a CPU emulator)</option>
              <option value="retune">tune for this GPU again, then run</option>
              <option value="table">hand-tuned table</option>
            </select>
          </label>{' '}
          <button type="submit" disabled={running || !modelId}>
            Run benchmark
          </button>
        </form>
      )}
      {running ? (
        <p role="status" aria-busy="true">
          Running: {phase}…
        </p>
      ) : null}
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      {report ? (
        <div data-testid="bench-result">
          <table className="checks">
            <caption>Results</caption>
            <tbody>
              {benchRows(report).map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.profile ? (
            <table className="checks">
              <caption>
                GPU time per kernel ({report.profile.steps} decode steps; {report.profile.gpuMsPerStep.toFixed(3)} ms GPU of {report.profile.wallMsPerStep.toFixed(3)} ms per
                step)
              </caption>
              <thead>
                <tr>
                  <th scope="col">kernel</th>
                  <th scope="col">dispatches/step</th>
                  <th scope="col">ms/step</th>
                  <th scope="col">share</th>
                </tr>
              </thead>
              <tbody>
                {report.profile.kinds.map((k) => (
                  <tr key={k.kind}>
                    <td>{k.kind}</td>
                    <td>{k.dispatchesPerStep}</td>
                    <td>{k.msPerStep.toFixed(3)}</td>
                    <td>{(100 * k.fraction).toFixed(1)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p>GPU time per kernel: not measured ({report.profileSkipped}).</p>
          )}
          <TuningTable tuning={report.tuning} />
          <GpuDetails report={report} />
          <button type="button" onClick={() => void copy(text)}>
            Copy report
          </button>
          {copied ? <p role="status">{copied}</p> : null}
          <label className="bench-report">
            Report (Markdown and JSON)
            <textarea readOnly value={text} rows={12} onFocus={(e) => e.currentTarget.select()} />
          </label>
        </div>
      ) : null}
    </section>
  );
}
