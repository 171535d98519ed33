/**
 * The Content-Security-Policy of the built app (vite.config.ts sends it as a header from `vite
 * preview` and writes it into index.html as a <meta>), and the check the UI runs on a model URL
 * before asking the worker to fetch it, so a host the policy would block gets a clear message
 * instead of a bare "Failed to fetch".
 *
 * Where model bytes may come from (connect-src, which also applies to every redirect hop):
 * - https://huggingface.co: the registry's `…/resolve/main/<file>.gguf` URLs;
 * - https://*.hf.co: where those redirect today (Xet storage `cas-bridge.xethub.hf.co`,
 *   `cas-server.xethub.hf.co`, CDN edges such as `us.aws.cdn.hf.co`, `cdn-lfs-us-1.hf.co`);
 * - https://*.huggingface.co: the older LFS CDN hosts (`cdn-lfs.huggingface.co`, `cdn-lfs-us-1.…`);
 * - http://localhost:* and http://127.0.0.1:*: this computer, e.g. a GGUF served by
 *   `python -m http.server` (and the e2e tests' model server). Loopback never leaves the device.
 * A deployment that wants other hosts lists them, space-separated, in VITE_MODEL_HOSTS at build
 * time (e.g. `https://models.example.org`, or `https:` for any https host); they extend this list.
 */
import { customModelEntry } from '../common/catalog.ts';

export const DEFAULT_MODEL_SOURCES = [
  'https://huggingface.co',
  'https://*.huggingface.co',
  'https://*.hf.co',
  'http://localhost:*',
  'http://127.0.0.1:*',
] as const;

/** The default sources plus the extra ones of a VITE_MODEL_HOSTS value; rejects what CSP would misread. */
export function modelSources(extra = ''): string[] {
  const more = extra.split(/\s+/).filter(Boolean);
  for (const s of more) {
    if (!/^([a-z][a-z0-9+.-]*:|[a-z][a-z0-9+.-]*:\/\/(\*\.)?[a-z0-9.-]+(:(\d+|\*))?\/?)$/i.test(s)) {
      throw new Error(`VITE_MODEL_HOSTS: "${s}" is not a CSP host source like https://models.example.org or https:`);
    }
  }
  return [...new Set([...DEFAULT_MODEL_SOURCES, ...more])];
}

/**
 * The policy. No 'unsafe-inline' anywhere: the build has no inline script or style (React sets
 * `style` props through the CSSOM, which CSP allows; highlight.js emits classes), and the service
 * worker and the engine worker are same-origin scripts. img-src allows data:/blob: for icons.
 */
export function contentSecurityPolicy(sources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self' ${sources.join(' ')}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
    "manifest-src 'self'",
  ].join('; ');
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** Whether one CSP source expression admits `url` (the subset of CSP matching that modelSources allows). */
export function sourceAllows(source: string, url: URL): boolean {
  if (/^[a-z][a-z0-9+.-]*:$/i.test(source)) {
    // A scheme source; http: also admits https: (CSP allows the upgrade).
    const s = source.toLowerCase();
    return url.protocol === s || (s === 'http:' && url.protocol === 'https:');
  }
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([^:/]+)(?::(\d+|\*))?\/?$/i.exec(source);
  if (!m) return false;
  const [, scheme, wildcard, host, port] = m;
  const scheme_ = `${scheme.toLowerCase()}:`;
  if (url.protocol !== scheme_ && !(scheme_ === 'http:' && url.protocol === 'https:')) return false;
  const h = url.hostname.toLowerCase();
  const want = host.toLowerCase();
  if (wildcard ? !h.endsWith(`.${want}`) : h !== want) return false;
  if (port === '*') return true;
  // No port in the source: the URL must be on its own scheme's default port (URL drops it, so '').
  if (port === undefined) return url.port === '';
  return (url.port || DEFAULT_PORTS[url.protocol]) === port;
}

/** The sources this build allows, as baked in by vite.config.ts (the defaults outside a Vite build). */
function allowedModelSources(): string[] {
  // Vite replaces import.meta.env at build time; in Node (vite.config.ts, tests) it is undefined.
  const env = import.meta.env as Record<string, string | undefined> | undefined;
  const extra = env?.VITE_MODEL_HOSTS ?? '';
  try {
    return modelSources(extra);
  } catch {
    return [...DEFAULT_MODEL_SOURCES];
  }
}

/** Undefined when the app may download from `url`; otherwise a sentence saying why not and what to do. */
export function modelUrlProblem(url: string, base: string, sources: readonly string[] = allowedModelSources()): string | undefined {
  let u: URL;
  try {
    u = new URL(customModelEntry(url, base).url);
  } catch (e) {
    return (e as Error).message;
  }
  if (u.origin === new URL(base).origin) return undefined;
  if (sources.some((s) => sourceAllows(s, u))) return undefined;
  return (
    `This app only downloads models from Hugging Face (huggingface.co, *.hf.co) and from this computer (localhost), ` +
    `so ${u.host} is blocked by its security policy. Download the .gguf file yourself and import it below instead.`
  );
}
