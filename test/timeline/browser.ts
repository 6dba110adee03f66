/**
 * Headless Chromium for the timeline tests, through playwright-core and the system's browser
 * (`apt-get install -y chromium`): no browser download, no network.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Where the system's Chromium lives. */
export const CHROMIUM = '/usr/bin/chromium';

/** True when the tests that need a browser can run. */
export const hasChromium = existsSync(CHROMIUM);

/**
 * Starts Chromium headless with a fresh profile (`--user-data-dir`, which playwright takes as the
 * persistent context's folder); `close()` ends it and removes the profile.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'hmmlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
