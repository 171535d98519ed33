import { useEffect, useState } from 'react';
import type { EngineClient } from '../client/engine-client.ts';
import type { CapabilitiesResult, KernelCheck } from '../worker/protocol.ts';
import { errorText } from './format.ts';

function formatBinary(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 1 : 0)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${n} B`;
}

type OkCaps = Extract<CapabilitiesResult, { ok: true }>;

function adapterTitle(caps: OkCaps): string {
  const a = caps.adapter;
  return a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'Unnamed GPU adapter';
}

/** While the worker asks for WebGPU. */
export function CapabilityPending() {
  return (
    <section className="card" aria-busy="true" aria-labelledby="cap-title">
      <h2 id="cap-title">Checking your GPU…</h2>
      <p>Asking the browser for WebGPU from the engine worker.</p>
    </section>
  );
}

/**
 * WebGPU works: a one-line status, the kernel self-test verdict, and the adapter facts and
 * per-kernel results folded into "GPU details" (opened by itself when a kernel disagrees).
 */
export function CapabilityCheck({ engine, caps }: { engine: EngineClient; caps: OkCaps }) {
  const [checks, setChecks] = useState<KernelCheck[] | undefined>();
  const [selfTestError, setSelfTestError] = useState<string | undefined>();

  useEffect(() => {
    let live = true;
    engine.api
      .selfTest()
      .then((r) => live && setChecks(r))
      .catch((e: unknown) => live && setSelfTestError(errorText(e)));
    return () => {
      live = false;
    };
  }, [engine]);

  const passed = checks?.every((c) => c.report.ok);
  return (
    <section className="card gpu-card" aria-labelledby="cap-title">
      <h2 id="cap-title">
        <span className="badge ok" aria-hidden="true">
          ✓
        </span>{' '}
        WebGPU is available
      </h2>
      {selfTestError ? (
        <p role="alert" className="error">
          The self-test failed to run: {selfTestError}
        </p>
      ) : !checks ? (
        <p aria-busy="true" className="muted small">
          Running our shaders on your GPU and checking them against the CPU…
        </p>
      ) : (
        <p data-testid="selftest-summary" className={passed ? 'ok small' : 'error small'}>
          {passed ? 'All kernels match their CPU reference.' : 'Some kernels disagree with their CPU reference: this GPU or driver computes wrong results.'}
        </p>
      )}
      <details open={passed === false || undefined}>
        <summary>GPU details</summary>
        <dl className="facts">
          <dt>Adapter</dt>
          <dd data-testid="adapter-name">{adapterTitle(caps)}</dd>
          <dt>Vendor / architecture</dt>
          <dd>{[caps.adapter.vendor, caps.adapter.architecture].filter(Boolean).join(' / ') || '—'}</dd>
          <dt>Largest buffer binding</dt>
          <dd>{formatBinary(caps.limits.maxStorageBufferBindingSize)}</dd>
          <dt>Largest buffer</dt>
          <dd>{formatBinary(caps.limits.maxBufferSize)}</dd>
          <dt>Features we use</dt>
          <dd data-testid="features">
            {['shader-f16', 'subgroups', 'timestamp-query'].map((f) => (
              <span key={f} className={caps.features.includes(f) ? 'chip on' : 'chip off'}>
                {caps.features.includes(f) ? '✓' : '✗'} {f}
              </span>
            ))}
          </dd>
        </dl>
        {checks ? (
          <table className="checks">
            <caption>Kernel self-test</caption>
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
        ) : null}
      </details>
    </section>
  );
}
