import { expect, test } from '@playwright/test';

test('the worker reports a SwiftShader WebGPU adapter and the kernel self-test matches the CPU', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'WebGPU is available' })).toBeVisible();
  const adapter = (await page.getByTestId('adapter-name').textContent()) ?? '';
  console.log(`[e2e] browser WebGPU adapter: ${adapter}`);
  expect(adapter.toLowerCase()).toContain('swiftshader');

  // The self-test runs rmsnorm inside the worker on the GPU and compares with the CPU reference.
  await expect(page.getByTestId('selftest-summary')).toHaveText('All kernels match their CPU reference.');
  const rows = page.getByTestId('selftest-row');
  await expect(rows).toHaveCount(2);
  for (const row of await rows.all()) await expect(row).toContainText('match');
  expect(errors).toEqual([]);
});
