/**
 * The autotuner's results in IndexedDB (one database, `<name>-tuning`), one record per key: the
 * key names the adapter, the kernels' version and the model's shapes (src/engine/plan.ts
 * tuningKey), so a later load on the same GPU reuses the plan at once, and a new adapter, a new
 * kernels version or another model shape tunes again. Records are plain JSON.
 */
import { clear, createStore, del, get, set, type UseStore } from 'idb-keyval';

export interface TuningRecord<T> {
  key: string;
  value: T;
  savedAt: number;
}

export class TuningStore<T> {
  private readonly db: UseStore;

  constructor(name = 'phi3-chat') {
    this.db = createStore(`${name}-tuning`, 'plans');
  }

  get(key: string): Promise<TuningRecord<T> | undefined> {
    return get<TuningRecord<T>>(key, this.db);
  }

  async put(key: string, value: T): Promise<TuningRecord<T>> {
    const record = { key, value, savedAt: Date.now() };
    await set(key, record, this.db);
    return record;
  }

  delete(key: string): Promise<void> {
    return del(key, this.db);
  }

  /** Forgets every stored plan (all adapters and models). */
  clear(): Promise<void> {
    return clear(this.db);
  }
}
