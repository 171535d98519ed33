/**
 * The policy text and the UI's pre-check of model URLs. The pre-check must agree with what the
 * browser enforces (e2e/ui-safety.spec.ts checks the browser side); a host it wrongly admits would
 * fail later with a bare network error, a host it wrongly rejects would block a working download.
 */
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, DEFAULT_MODEL_SOURCES, modelSources, modelUrlProblem, sourceAllows } from './csp.ts';

const allows = (url: string, sources: readonly string[] = DEFAULT_MODEL_SOURCES) => sources.some((s) => sourceAllows(s, new URL(url)));

describe('content security policy', () => {
  it('has no unsafe-* source and lists the model hosts in connect-src only', () => {
    const csp = contentSecurityPolicy(modelSources());
    expect(csp).not.toMatch(/unsafe/);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("form-action 'none'");
    const connect = csp.split('; ').find((d) => d.startsWith('connect-src'));
    expect(connect).toBe("connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co http://localhost:* http://127.0.0.1:*");
  });

  it('VITE_MODEL_HOSTS extends the list and rejects what is not a host source', () => {
    expect(modelSources('https://models.example.org  https:')).toEqual([...DEFAULT_MODEL_SOURCES, 'https://models.example.org', 'https:']);
    expect(() => modelSources("'unsafe-eval'")).toThrow(/not a CSP host source/);
    expect(() => modelSources('https://a.org; script-src *')).toThrow(/not a CSP host source/);
  });
});

describe('sourceAllows', () => {
  it.each([
    'https://huggingface.co/microsoft/Phi-3-mini-4k-instruct-gguf/resolve/main/Phi-3-mini-4k-instruct-q4.gguf',
    'https://cas-bridge.xethub.hf.co/xet-bridge-us/abc?X-Amz-Signature=1',
    'https://us.aws.cdn.hf.co/xet-bridge-us/abc',
    'https://cdn-lfs-us-1.huggingface.co/repos/ab/cd',
    'http://127.0.0.1:41234/tiny.gguf',
    'http://localhost:8000/model.gguf',
  ])('admits %s', (url) => expect(allows(url)).toBe(true));

  it.each([
    'https://example.org/model.gguf',
    'https://huggingface.co.evil.org/x.gguf',
    'https://evilhf.co/x.gguf',
    'http://huggingface.co/x.gguf', // https source: no downgrade
    'http://192.168.1.2:8000/x.gguf',
    'ftp://127.0.0.1/x.gguf',
  ])('rejects %s', (url) => expect(allows(url)).toBe(false));

  it('matches ports and schemes as CSP does', () => {
    expect(sourceAllows('https://a.org', new URL('https://a.org/x'))).toBe(true);
    expect(sourceAllows('https://a.org', new URL('https://a.org:8443/x'))).toBe(false);
    expect(sourceAllows('https://a.org:8443', new URL('https://a.org:8443/x'))).toBe(true);
    expect(sourceAllows('http://a.org', new URL('https://a.org/x'))).toBe(true);
    expect(sourceAllows('https:', new URL('https://anything.example/x'))).toBe(true);
    expect(sourceAllows('https:', new URL('http://anything.example/x'))).toBe(false);
  });
});

describe('modelUrlProblem', () => {
  const base = 'https://app.example/chat/';
  it('accepts allowed hosts and the app origin', () => {
    expect(modelUrlProblem('https://huggingface.co/a/b/resolve/main/m.gguf', base)).toBeUndefined();
    expect(modelUrlProblem('/models/m.gguf', base)).toBeUndefined();
    expect(modelUrlProblem('https://example.org/m.gguf', base, [...DEFAULT_MODEL_SOURCES, 'https:'])).toBeUndefined();
  });
  it('explains a blocked host, a bad URL and a wrong scheme', () => {
    expect(modelUrlProblem('https://example.org/m.gguf', base)).toMatch(/example\.org is blocked by its security policy.*import it/);
    expect(modelUrlProblem('http://[::1', base)).toMatch(/not a valid URL/);
    expect(modelUrlProblem('javascript:alert(1)', base)).toMatch(/not an http\(s\) URL/);
  });
});
