// Real Chromium for the browser tests: Debian's /usr/bin/chromium (installed by
// scripts/ensure-chromium.sh when missing) driven by playwright-core. Screenshots go to
// .test-artifacts/screenshots/ (git-ignored); with UPDATE_SCREENSHOTS=1 the ones the
// docs show are also copied to docs/screenshots/.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, '.test-artifacts', 'screenshots');
const DOC_SHOTS = path.join(ROOT, 'docs', 'screenshots');

let ensured = false;
function ensureChromium(): void {
  if (ensured || fs.existsSync(CHROMIUM_PATH)) return;
  execFileSync('sh', [path.join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdio: 'inherit' });
  ensured = true;
}

export async function launchBrowser(): Promise<Browser> {
  ensureChromium();
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Collects page errors and failed requests so a test can assert the page ran clean. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (404|409|422)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** Saves a screenshot; `doc` ones are what docs/inbox.md shows. */
export async function screenshot(page: Page, name: string, opts: { doc?: boolean; fullPage?: boolean } = {}): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? false });
  if (opts.doc && process.env.UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(DOC_SHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(DOC_SHOTS, `${name}.png`));
  }
  return file;
}

/** Signs in to the inbox at `url` with `token`. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Ticket views' }).waitFor();
}

/** After a failed test: a screenshot of every page it left open, named after the test; then closes them. */
export async function screenshotsOnFailure(test: Mocha.Test | undefined, browser: Browser | undefined): Promise<void> {
  if (!test || !browser) return;
  const base = `failed-${test.title.replace(/[^\w]+/g, '-').slice(0, 60)}`;
  let n = 0;
  for (const context of browser.contexts()) {
    if (test.state === 'failed') {
      for (const page of context.pages()) await screenshot(page, `${base}-${++n}`).catch(() => undefined);
    }
    await context.close().catch(() => undefined);
  }
}

/**
 * The hooks every browser suite needs, registered in the calling describe(): starts its
 * gateway and Chromium (a first run may install Chromium, hence the long timeout), hands
 * both over through `ready` (then `setup` runs, e.g. seeding), screenshots the pages a
 * failed test left open, and closes everything at the end.
 */
export function browserSuite<G extends { stop(): Promise<void> }>(
  start: () => Promise<G>,
  ready: (gateway: G, browser: Browser) => void,
  setup?: () => Promise<void>,
): void {
  let gateway: G | undefined;
  let browser: Browser | undefined;
  before(async function () {
    this.timeout(10 * 60_000);
    gateway = await start();
    browser = await launchBrowser();
    ready(gateway, browser);
    await setup?.();
  });
  afterEach(async function () {
    await screenshotsOnFailure(this.currentTest, browser);
  });
  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });
}
