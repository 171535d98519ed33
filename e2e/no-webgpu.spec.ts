import AxeBuilder from '@axe-core/playwright';
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

  // The explanation is itself accessible, in both colour schemes.
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), colorScheme).toEqual([]);
  }
});
