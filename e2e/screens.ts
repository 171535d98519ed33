import type { Page } from '@playwright/test';

export const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
export const SCREENS = `${process.env.PW_OUT ?? 'test-results'}/screens`;

/**
 * Screenshots of the page as it is, at a desktop and a phone size, into the results' screens/
 * folder (for a person to look at; nothing compares them). `fullPage`: the phone shot scrolls.
 */
export async function shoot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: `${SCREENS}/${name}-desktop.png` });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: `${SCREENS}/${name}-phone.png`, fullPage: opts.fullPage });
  await page.setViewportSize(DESKTOP);
}
