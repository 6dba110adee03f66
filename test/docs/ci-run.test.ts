/**
 * `.ci/run` runs what the README's Quick start tells a reader to run to test the repository, and
 * sets what makes it strict and offline after an install.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const ci = readFileSync(`${root}.ci/run`, 'utf8');

/** The shell block of the README's Quick start. */
function quickStart(): string[] {
  const m = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(readme);
  expect(m, 'README.md has a Quick start with a sh block').not.toBeNull();
  return (m?.[1] ?? '').trim().split('\n');
}

describe('.ci/run', () => {
  it("should run the steps of the Quick start's test line, in order", () => {
    const line = quickStart().find((l) => l.endsWith(' test'));
    expect(line, 'a Quick start line ends with the test command').toBeDefined();
    const steps = (line ?? '').split(' && ');
    expect(steps).toHaveLength(2);
    const lines = ci.split('\n').map((l) => l.trim());
    const at = steps.map((s) => lines.indexOf(s));
    for (const [i, s] of steps.entries()) expect(at[i], `.ci/run runs \`${s}\``).toBeGreaterThanOrEqual(0);
    expect(at[1]).toBeGreaterThan(at[0] as number);
  });

  it('should run the packed-tarball test after the tests, with the dist folders they built', () => {
    const lines = ci.split('\n').map((l) => l.trim());
    const test = lines.indexOf('npx -y pnpm@12.4.2 test');
    const pack = lines.indexOf('npx -y pnpm@12.4.2 test:pack');
    expect(pack, '.ci/run runs `pnpm test:pack`').toBeGreaterThan(test);
    expect(test).toBeGreaterThanOrEqual(0);
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['test:pack']).toBe('tsx test/pack/run.ts');
    // typecheck, lint and knip run side by side (a pnpm script regex), all before vitest; typecheck builds dist.
    expect(pkg.scripts.test).toBe("pnpm run '/^(typecheck|lint|knip)$/' && vitest run");
    expect(pkg.scripts.typecheck).toMatch(/^tsc -b /);
  });

  it('should set CI, prefer the caches, and not skip a failed Chromium install', () => {
    expect(ci).toMatch(/^export CI=1$/m);
    expect(ci).toMatch(/^export npm_config_prefer_offline=true$/m);
    expect(ci).toMatch(/^\s*apt-get install -y chromium$/m);
    expect(ci).not.toMatch(/HMMLAB_INSTALL_TESTS=1 /);
  });
});
