/**
 * `hmmlab report --html` and `hmmlab fuzz --html`, end to end on a zoo case (S13): the CLI writes
 * the counterexample's timeline, and headless Chromium shows the violating step with its rule and explanation, and an
 * event's full text when it is clicked. A screenshot goes to test/timeline/__screenshots__/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RULES, type RuleId } from '@hmmlab/assertions';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, hasChromium, launchChromium } from './browser.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const broken = 'examples/buggy/s13-protection-noop';
const fixed = 'examples/buggy/s13-protection-noop/fixed.ts';
const shots = join(root, 'test/timeline/__screenshots__');

function hmmlab(...args: string[]): { status: number; stdout: string; stderr: string } {
  // A kill limit for a hung CLI only (a synchronous spawn blocks vitest's own timeouts), as generous as those.
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface FuzzJson {
  status: string;
  replay: string;
  violation: { rule: RuleId; step: number; seq: number; explanation: string };
}
interface ReplayJson {
  drivers: { trace: { seq: number; type: string; text: string }[] }[];
}

let dir = '';
let fuzz: FuzzJson;
let trace: NonNullable<ReplayJson['drivers'][number]>['trace'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hmmlab-timeline-'));
  // A zoo case: its expected.json makes the campaign exit 0 when it is caught.
  const r = hmmlab('fuzz', broken, '--runs', '300', '--json', '--no-typecheck', '--html', join(dir, 'fuzz.html'));
  const entry = (JSON.parse(r.stdout) as { drivers: (Omit<FuzzJson, 'violation'> & { violations: FuzzJson['violation'][] })[] }).drivers[0];
  if (entry?.violations[0] === undefined) throw new Error(`fuzz --json found no violation: ${r.stdout}`);
  fuzz = { ...entry, violation: entry.violations[0] };
  expect(fuzz.status).toBe('caught');
  expect(r.status, r.stderr).toBe(0);
  trace = (JSON.parse(hmmlab('replay', broken, fuzz.replay, '--json').stdout) as ReplayJson).drivers[0]?.trace ?? [];
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('hmmlab report', () => {
  it('should write the same timeline as fuzz --html, and exit 1 for a run with a violation', () => {
    const out = join(dir, 'report.html');
    const r = hmmlab('report', broken, fuzz.replay, '--html', out);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`${fuzz.violation.rule} at step ${fuzz.violation.step}; timeline written to`);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(dir, 'fuzz.html'), 'utf8'));
  });

  it('should exit 3, write nothing and say so in one line when the fixed driver no longer reaches the violation', () => {
    const out = join(dir, 'fixed.html');
    const r = hmmlab('report', fixed, fuzz.replay, '--html', out);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^hmmlab: replay diverged: the run no longer reaches the recorded missed-flush at step \d+: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('should write nothing, and say so, when fuzz --html finds no counterexample', () => {
    const out = join(dir, 'none.html');
    const r = hmmlab('fuzz', fixed, '--runs', '100', '--no-typecheck', '--html', out);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`no counterexample, so no timeline was written to ${out}`);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [
      'a missing driver',
      () => ['report', 'test/timeline/fixtures/nowhere', fuzz.replay, '--html', join(dir, 'x.html')],
      /no such file or folder/,
    ],
    ['a bad token', () => ['report', broken, 'not-a-token', '--html', join(dir, 'x.html')], /replay token: it does not start with/],
    ['an unknown option', () => ['report', broken, fuzz.replay, '--html', join(dir, 'x.html'), '--bogus'], /unknown option '--bogus'/],
    ['a missing --html', () => ['report', broken, fuzz.replay], /required option '--html <file>' not specified/],
  ])('should exit 2 with one line for %s', (_what, args, message) => {
    const r = hmmlab(...args());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });
});

// Skipped without the browser on a developer's machine; under CI (which installs it) they fail instead.
const ci = (process.env.CI ?? '') !== '' && process.env.CI !== '0' && process.env.CI !== 'false';
const browserTests = hasChromium || ci;
if (!browserTests) console.warn(`timeline browser tests skipped: ${CHROMIUM} is absent (install it with apt-get install -y chromium)`);

describe.runIf(browserTests)(`the timeline in Chromium${browserTests ? '' : ` (skipped: ${CHROMIUM} is absent)`}`, () => {
  let context: BrowserContext;
  let close: () => Promise<void>;
  let page: Page;
  const requests: string[] = [];

  beforeAll(async () => {
    expect(hasChromium, `${CHROMIUM} is absent; CI installs it with apt-get install -y chromium`).toBe(true);
    ({ context, close } = await launchChromium());
    page = await context.newPage();
    // No wall-clock limit of its own: a wait that never ends is stopped by the vitest hook and test timeouts.
    page.setDefaultTimeout(0);
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(join(dir, 'fuzz.html')).href);
    await page.waitForSelector('body[data-ready="1"]');
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await close?.();
  });

  const textOf = (seq: number): string => {
    const e = trace.find((x) => x.seq === seq);
    if (e === undefined) throw new Error(`no event with seq ${seq} in the replay's trace`);
    return e.text;
  };

  it('should highlight the violating step with the rule id and its explanation', async () => {
    const v = fuzz.violation;
    await expect(page.locator('.violation .rule-id').first().textContent()).resolves.toBe(v.rule);
    await expect(page.locator('.violation .explanation').first().textContent()).resolves.toBe(v.explanation);
    await expect(page.locator('.violation .holds').first().textContent()).resolves.toBe(`Rule: ${RULES[v.rule].holds}`);
    await expect(page.locator('.vflag').first().textContent()).resolves.toBe(`✗ ${v.rule} · step ${v.step}`);
    const marked = page.locator('.ev.viol-ev');
    await expect(marked.count()).resolves.toBe(1);
    await expect(marked.getAttribute('data-q')).resolves.toBe(String(v.seq));
    await expect(marked.getAttribute('class')).resolves.toContain('sel');
    const box = await marked.boundingBox();
    const line = await page.locator('.vline').first().boundingBox();
    expect(line !== null && box !== null && line.x >= box.x && line.x <= box.x + box.width).toBe(true);
    await expect(page.locator('#detail .text').textContent()).resolves.toBe(textOf(v.seq));
    await expect(page.locator('#detail .viol-note').textContent()).resolves.toBe(`✗ ${v.rule}: ${v.explanation}`);
  });

  it("should show an event's full text on hover and when it is clicked", async () => {
    const inv = trace.find((x) => x.type === 'inv-start');
    if (inv === undefined) throw new Error('the counterexample has no invalidation');
    const ev = page.locator(`.ev[data-q="${inv.seq}"]`);
    await ev.hover();
    await expect(page.locator('#tip').textContent()).resolves.toContain(inv.text);
    await ev.click();
    await expect(page.locator('#detail .text').textContent()).resolves.toBe(inv.text);
    await expect(page.locator('.li.sel').textContent()).resolves.toContain(inv.text);
    await expect(page.locator('#detail .viol-note').count()).resolves.toBe(0);
  });

  it('should step to the next event with the right arrow key', async () => {
    const inv = trace.find((x) => x.type === 'inv-start');
    const shown = trace.filter((x) => x.type !== 'switch');
    const next = shown[shown.findIndex((x) => x.seq === inv?.seq) + 1];
    await page.keyboard.press('ArrowRight');
    await expect(page.locator('#detail .text').textContent()).resolves.toBe(next?.text);
  });

  it("should show the violating page's device TLB entry as stale after the CPU entry changed", async () => {
    const stale = page.locator('.seg.stale');
    await expect(stale.count()).resolves.toBeGreaterThan(0);
    await expect(stale.first().getAttribute('data-tip')).resolves.toMatch(/^gpu0 (TLB|PTE): pfn \d+ rw?\nthe CPU entry no longer allows/);
  });

  it('should load nothing but the file itself, and save a screenshot', async () => {
    await page.locator(`.ev[data-q="${fuzz.violation.seq}"]`).click();
    await page.mouse.move(0, 0);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    mkdirSync(shots, { recursive: true });
    const file = join(shots, 'timeline.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });
});
