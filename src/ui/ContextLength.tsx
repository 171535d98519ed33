import { useId } from 'react';
import type { KvShape } from '../common/kv.ts';
import { formatBytes } from '../common/format.ts';
import type { DeviceBudget } from './fit.ts';
import { contextChoices, contextOptions, effectiveContext, kvTypeLabel, type KvOption, type KvPreference } from './models.ts';

/** One option's text: the length, then (when the model's shape is known) the KV type it gets, its GPU memory and whether it fits. */
function optionText(n: number, o: KvOption | undefined): string {
  if (!o) return `${n} tokens`;
  const mark = o.fit.verdict === 'will-not-fit' ? ' · will not fit' : o.fit.verdict === 'may-not-fit' ? ' · may not fit' : '';
  return `${n} tokens · ${formatBytes(o.gpuBytes)} GPU, ${kvTypeLabel(o.kvType)} KV${mark}`;
}

/**
 * Choose the context length a model is loaded with. Each option shows, when the model's KV shape
 * is known, the KV type the precision setting gives it there (src/ui/models.ts kvChoice) and the
 * GPU memory it takes (weights plus the KV cache, which grows with the length); a length whose
 * cache needs a larger buffer than the GPU allows is disabled, one above the reported RAM marked.
 * `value` is the remembered choice; a model trained for fewer tokens shows (and gets) its own maximum.
 */
export function ContextLength({
  value,
  onChange,
  fileBytes,
  modelMax,
  kv,
  kvPreference,
  budget,
  name,
  disabled,
}: {
  value: number;
  onChange: (n: number) => void;
  fileBytes: number;
  modelMax?: number;
  /** The model's KV cache shape, when known. */
  kv?: KvShape;
  kvPreference: KvPreference;
  budget: DeviceBudget;
  /** Accessible name when several selects share the page (the visible label stays short). */
  name?: string;
  disabled?: boolean;
}) {
  const id = useId();
  const choices = contextChoices(modelMax);
  const options = kv ? contextOptions(fileBytes, kv, modelMax, kvPreference, budget) : undefined;
  const current = effectiveContext(value, modelMax);
  return (
    <div className="context-length">
      <label htmlFor={id}>Context length</label>
      <select id={id} aria-label={name} value={choices.includes(current) ? current : choices[choices.length - 1]} disabled={disabled} onChange={(e) => onChange(Number(e.target.value))}>
        {choices.map((n, i) => (
          <option key={n} value={n} disabled={options?.[i].fit.verdict === 'will-not-fit'}>
            {optionText(n, options?.[i])}
          </option>
        ))}
      </select>
    </div>
  );
}
