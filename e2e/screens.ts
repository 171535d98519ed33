/** Screenshots of the UI specs: where they go (test-results/screens/, or PW_OUT's) and the two sizes they are taken at. */
import type { Page } from '@playwright/test';

export const SCREENS = `${process.env.PW_OUT ?? 'test-results'}/screens`;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** `<name>-desktop.png` and `<name>-phone.png` (the whole page), then back to the desktop size. */
export async function shoot(page: Page, name: string): Promise<void> {
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: `${SCREENS}/${name}-desktop.png` });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: `${SCREENS}/${name}-phone.png`, fullPage: true });
  await page.setViewportSize(DESKTOP);
}
