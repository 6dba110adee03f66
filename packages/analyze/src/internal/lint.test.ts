import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalyzeError } from './errors.js';
import { lint, lintRules } from './lint.js';
import { REPO } from './testing/temp.js';

const EXAMPLES = join(REPO, 'examples');
const dirsWithDriver = (root: string) =>
  existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, 'driver.ts')))
        .sort()
    : [];

/** Bug-zoo cases whose expected.json lists the lint rules that must catch them. */
const zoo = dirsWithDriver(join(EXAMPLES, 'buggy')).flatMap((d) => {
  const exp = join(EXAMPLES, 'buggy', d, 'expected.json');
  if (!existsSync(exp)) return [];
  const rules = (JSON.parse(readFileSync(exp, 'utf8')) as { lint?: string[] }).lint ?? [];
  return [[d, rules] as [string, string[]]];
});

const templates = dirsWithDriver(EXAMPLES);
const controls = dirsWithDriver(join(EXAMPLES, 'buggy', 'controls'));

describe('lint on examples/', () => {
  it('should find the zoo cases, the templates and the controls', () => {
    expect(zoo).toHaveLength(32);
    expect(templates).toEqual([
      'amdkfd-style',
      'amdkfd-style-xnack-off',
      'dmirror',
      'dmirror-fixed',
      'mlx5-odp-style',
      'nouveau-style',
      'xe-style',
    ]);
    expect(controls).toHaveLength(9);
  });

  it.each(zoo)('should report exactly what examples/buggy/%s/expected.json lists (%j)', (dir, rules) => {
    // The whole set: a case whose expected.json says [] must get no finding at all.
    const found = [...new Set(lint([join(EXAMPLES, 'buggy', dir, 'driver.ts')]).findings.map((f) => f.rule))].sort();
    expect(found).toEqual([...rules].sort());
  });

  it("should check a callback an ops literal names by a function declared in the files (xe-style's drm_gpusvm notifier)", () => {
    // `{ invalidate: drmGpusvmNotifierInvalidate }`, a module-level function: found, and checked.
    const r = lint([join(EXAMPLES, 'xe-style')]);
    expect(r.callbacks).toBeGreaterThanOrEqual(1);
    expect(r.findings).toEqual([]);
  });

  it("should warn of L1's closed flag, set and read with no lock, and not of its fixed twin's, set and read under L", () => {
    const l1 = join(EXAMPLES, 'buggy', 'l1-closed-vm-early-return');
    const warned = lint([join(l1, 'driver.ts')]).findings.filter((f) => f.rule === 'unshared-driver-state');
    expect(warned).toHaveLength(1);
    expect(warned[0]?.message).toMatch(
      /^`ClosedVmEarlyReturn\.closed` is written in ClosedVmEarlyReturn\.unbind with no lock held and read in ClosedVmEarlyReturn\.invalidate/,
    );
    expect(lint([join(l1, 'fixed.ts')]).findings).toEqual([]);
  });

  it.each([...templates.map((d) => join(EXAMPLES, d)), ...controls.map((d) => join(EXAMPLES, 'buggy', 'controls', d, 'driver.ts'))])(
    'should report no error on the correct driver %s, but those its lint-known.json explains',
    (path) => {
      // A correct driver may use a pattern the static rules cannot prove (the fuzzer checks it):
      // lint-known.json beside it lists each such error with the reason it is safe.
      const known = join(path.endsWith('.ts') ? join(path, '..') : path, 'lint-known.json');
      const expected = existsSync(known)
        ? (JSON.parse(readFileSync(known, 'utf8')) as { errors: { file: string; rule: string; reason: string }[] }).errors
        : [];
      for (const e of expected) expect(e.reason.length, `${known}: ${e.rule} needs a reason`).toBeGreaterThan(40);
      const errors = lint([path]).findings.filter((f) => f.severity === 'error');
      expect(errors.map((f) => ({ file: f.file, rule: f.rule }))).toEqual(expected.map((e) => ({ file: e.file, rule: e.rule })));
    },
  );
});

describe('lint', () => {
  it('should name the missing path and what to pass', () => {
    expect(() => lint(['no/such/driver.ts'])).toThrow(
      'lint: no such file or folder: no/such/driver.ts; pass an existing driver file or folder',
    );
    expect(() => lint([])).toThrow(AnalyzeError);
  });

  it('should have a row for every rule, in report order and with its default severity, in docs/guide/static-checks.md', () => {
    const page = readFileSync(join(REPO, 'docs', 'guide', 'static-checks.md'), 'utf8');
    const rows = [...page.matchAll(/^\| `([a-z-]+)` \| (error|warning)[^|]* \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(lintRules().map((r) => [r.id, r.severity]));
  });

  it('should list its rules with their default severities', () => {
    expect(lintRules().map((r) => r.id)).toEqual([
      'owner-without-event',
      'skip-before-set-seq',
      'skip-any-owner',
      'set-seq-outside-lock',
      'retry-outside-lock',
      'sleep-when-nonblockable',
      'true-when-nonblockable',
      'start-fails-with-end',
      'lock-leak',
      'remove-in-callback',
      'event-fallthrough',
      'clear-without-flush',
      'dma-unmap-while-mapped',
      'revoke-without-dirty',
      'unshared-driver-state',
    ]);
  });
});
