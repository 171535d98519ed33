import { useEffect, useState } from 'react';
import type { EngineClient } from '../client/engine-client.ts';
import type { CapabilitiesResult, KernelCheck } from '../worker/protocol.ts';
import { WebGPUHelp } from './WebGPUHelp.tsx';

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 1 : 0)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${n} B`;
}

function adapterTitle(caps: Extract<CapabilitiesResult, { ok: true }>): string {
  const a = caps.adapter;
  return a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'Unnamed GPU adapter';
}

export function CapabilityCheck({ engine }: { engine: EngineClient }) {
  const [caps, setCaps] = useState<CapabilitiesResult | undefined>();
  const [checks, setChecks] = useState<KernelCheck[] | undefined>();
  const [selfTestError, setSelfTestError] = useState<string | undefined>();

  useEffect(() => {
    let live = true;
    engine.api
      .capabilities()
      .then((c) => live && setCaps(c))
      .catch((e: unknown) => live && setCaps({ ok: false, reason: 'error', message: e instanceof Error ? e.message : String(e) }));
    return () => {
      live = false;
    };
  }, [engine]);

  useEffect(() => {
    if (!caps?.ok) return;
    let live = true;
    engine.api
      .selfTest()
      .then((r) => live && setChecks(r))
      .catch((e: unknown) => live && setSelfTestError(e instanceof Error ? `${e.name}: ${e.message}` : String(e)));
    return () => {
      live = false;
    };
  }, [caps, engine]);

  if (!caps) {
    return (
      <section className="card" aria-busy="true" aria-labelledby="cap-title">
        <h2 id="cap-title">Checking your GPU…</h2>
        <p>Asking the browser for WebGPU from the engine worker.</p>
      </section>
    );
  }
  if (!caps.ok) return <WebGPUHelp reason={caps.reason} message={caps.message} />;

  const passed = checks?.every((c) => c.report.ok);
  return (
    <section className="card" aria-labelledby="cap-title">
      <h2 id="cap-title">
        <span className="badge ok" aria-hidden="true">✓</span> WebGPU is available
      </h2>
      <dl className="facts">
        <dt>Adapter</dt>
        <dd data-testid="adapter-name">{adapterTitle(caps)}</dd>
        <dt>Vendor / architecture</dt>
        <dd>{[caps.adapter.vendor, caps.adapter.architecture].filter(Boolean).join(' / ') || '—'}</dd>
        <dt>Largest buffer binding</dt>
        <dd>{formatBytes(caps.limits.maxStorageBufferBindingSize)}</dd>
        <dt>Largest buffer</dt>
        <dd>{formatBytes(caps.limits.maxBufferSize)}</dd>
        <dt>Features we use</dt>
        <dd data-testid="features">
          {['shader-f16', 'subgroups', 'timestamp-query'].map((f) => (
            <span key={f} className={caps.features.includes(f) ? 'chip on' : 'chip off'}>
              {caps.features.includes(f) ? '✓' : '✗'} {f}
            </span>
          ))}
        </dd>
      </dl>
      <h3>Kernel self-test</h3>
      {selfTestError ? (
        <p role="alert" className="error">
          The self-test failed to run: {selfTestError}
        </p>
      ) : !checks ? (
        <p aria-busy="true">Running our shaders on your GPU and checking them against the CPU…</p>
      ) : (
        <>
          <p data-testid="selftest-summary" className={passed ? 'ok' : 'error'}>
            {passed ? 'All kernels match their CPU reference.' : 'Some kernels disagree with their CPU reference: this GPU or driver computes wrong results.'}
          </p>
          <table className="checks">
            <thead>
              <tr>
                <th scope="col">Kernel</th>
                <th scope="col">Shape</th>
                <th scope="col">Result</th>
                <th scope="col">Max error</th>
              </tr>
            </thead>
            <tbody>
              {checks.map((c, i) => (
                <tr key={i} data-testid="selftest-row">
                  <td>{c.kernel}</td>
                  <td>{c.shape}</td>
                  <td>{c.report.ok ? 'match' : `${c.report.bad} of ${c.report.count} differ`}</td>
                  <td>{c.report.maxAbsErr.toExponential(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
