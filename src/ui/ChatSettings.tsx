import { useId } from 'react';
import { DEFAULT_SETTINGS, type Settings } from './useChat.ts';

/** The form's values as typed; parsed (and clamped) when a message is sent. */
export type SettingsDraft = Record<keyof Settings, string>;

const DEFAULT_DRAFT: SettingsDraft = {
  temperature: String(DEFAULT_SETTINGS.temperature),
  topP: String(DEFAULT_SETTINGS.topP),
  topK: String(DEFAULT_SETTINGS.topK),
  maxTokens: String(DEFAULT_SETTINGS.maxTokens),
  seed: '',
};

const DRAFT_KEY = 'phi3.sampling';

/**
 * The sampling settings as last typed (localStorage), so they survive a reload; the defaults
 * for any field that is missing or not a string (an older or damaged entry).
 */
export function rememberedDraft(): SettingsDraft {
  try {
    const saved = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? '{}') as Record<string, unknown>;
    const draft = { ...DEFAULT_DRAFT };
    for (const key of Object.keys(draft) as (keyof SettingsDraft)[]) {
      const v = saved[key];
      if (typeof v === 'string' && v.length <= 32) draft[key] = v;
    }
    return draft;
  } catch {
    return { ...DEFAULT_DRAFT };
  }
}

export function rememberDraft(d: SettingsDraft): void {
  try {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(d));
  } catch {
    // private mode or full storage: the settings last for this page only
  }
}

function num(text: string, fallback: number, min: number, max: number, integer = false): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) return fallback;
  const c = Math.min(max, Math.max(min, v));
  return integer ? Math.round(c) : c;
}

export function parseSettings(d: SettingsDraft, contextLength: number): Settings {
  const seed = d.seed.trim() === '' ? undefined : num(d.seed, 0, 0, 2 ** 32 - 1, true);
  return {
    temperature: num(d.temperature, DEFAULT_SETTINGS.temperature, 0, 2),
    topP: num(d.topP, DEFAULT_SETTINGS.topP, 0, 1),
    topK: num(d.topK, DEFAULT_SETTINGS.topK, 1, 1000, true),
    maxTokens: num(d.maxTokens, DEFAULT_SETTINGS.maxTokens, 1, contextLength, true),
    seed,
  };
}

const FIELDS: { key: keyof Settings; label: string; min: number; max?: number; step: number; hint?: string }[] = [
  { key: 'temperature', label: 'Temperature', min: 0, max: 2, step: 0.05, hint: '0 always picks the likeliest word' },
  { key: 'topP', label: 'Top-p', min: 0, max: 1, step: 0.01 },
  { key: 'topK', label: 'Top-k', min: 1, step: 1 },
  { key: 'maxTokens', label: 'Max tokens', min: 1, step: 1 },
  { key: 'seed', label: 'Seed', min: 0, step: 1, hint: 'blank: random' },
];

export interface ChatSettingsProps {
  draft: SettingsDraft;
  onChange: (d: SettingsDraft) => void;
  contextLength: number;
  /** This conversation's system prompt (sent first, role 'system'). */
  systemPrompt: string;
  onSystemPromptChange: (text: string) => void;
}

export function ChatSettings({ draft, onChange, contextLength, systemPrompt, onSystemPromptChange }: ChatSettingsProps) {
  const base = useId();
  return (
    <details className="settings">
      <summary>Settings</summary>
      <div className="field system-prompt">
        <label htmlFor={`${base}-system`}>System prompt</label>
        <textarea
          id={`${base}-system`}
          rows={2}
          placeholder="e.g. Answer briefly, in plain English."
          aria-describedby={`${base}-system-hint`}
          value={systemPrompt}
          onChange={(e) => onSystemPromptChange(e.target.value)}
        />
        <span id={`${base}-system-hint`} className="muted small">
          For this conversation only; it applies from the next reply on.
        </span>
      </div>
      <div className="settings-grid">
        {FIELDS.map((f) => (
          <div key={f.key} className="field">
            <label htmlFor={`${base}-${f.key}`}>{f.label}</label>
            <input
              id={`${base}-${f.key}`}
              type="number"
              inputMode={f.step === 1 ? 'numeric' : 'decimal'}
              min={f.min}
              max={f.key === 'maxTokens' ? contextLength : f.max}
              step={f.step}
              placeholder={f.key === 'seed' ? 'random' : undefined}
              aria-describedby={f.hint ? `${base}-${f.key}-hint` : undefined}
              value={draft[f.key]}
              onChange={(e) => onChange({ ...draft, [f.key]: e.target.value })}
            />
            {f.hint ? (
              <span id={`${base}-${f.key}-hint`} className="muted small">
                {f.hint}
              </span>
            ) : null}
          </div>
        ))}
      </div>
      <button type="button" className="secondary" onClick={() => onChange(DEFAULT_DRAFT)}>
        Reset sampling to defaults
      </button>
    </details>
  );
}
