import { expect, test } from '@playwright/test';

test('without WebGPU the page explains what to do instead of crashing', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert.getByRole('heading', { level: 2 })).toHaveText(/WebGPU/);
  await expect(alert).toContainText('Chrome or Edge 113+');
  expect(errors).toEqual([]);
});
