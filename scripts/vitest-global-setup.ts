/**
 * Generates the test models once, before any test file runs, so that test files running in
 * parallel neither generate the same file twice nor spend their time limits generating.
 */
import { ensureTestModels } from './test-models.ts';

export async function setup(): Promise<void> {
  await ensureTestModels((l) => process.stderr.write(`${l}\n`));
}
