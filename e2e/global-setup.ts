import { ensureTestModels } from '../scripts/test-models.ts';

/** Playwright global setup: the generated models the e2e specs serve (see scripts/test-models.ts). */
export default async function globalSetup(): Promise<void> {
  await ensureTestModels((l) => process.stderr.write(`${l}\n`));
}
