import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalyzeError } from '../errors.js';
import { REPO, tempDir } from '../testing/temp.js';
import { init } from './init.js';

/** Runs a command in `cwd` with an environment free of the outer vitest's variables. */
function run(cwd: string, cmd: string, args: string[]): { status: number | null; out: string } {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'),
  );
  const r = spawnSync(cmd, args, { cwd, env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' }, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('init', () => {
  it('should scaffold the dmirror template: its sources, two tests, package.json, pnpm overrides, tsconfig, README', () => {
    const d = tempDir('init');
    try {
      const r = init(join(d.path, 'My Driver'), { template: 'dmirror' });
      expect(r.template).toBe('dmirror');
      expect(r.files).toEqual(
        expect.arrayContaining([
          'driver.ts',
          'dmirror.ts',
          'driver.test.ts',
          'driver.fuzz.test.ts',
          'package.json',
          'tsconfig.json',
          'README.md',
          'pnpm-workspace.yaml',
        ]),
      );
      expect(r.files.some((f) => f.endsWith('driver.test.ts') && f !== 'driver.test.ts')).toBe(false);
      const pkg = JSON.parse(readFileSync(join(r.dir, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string> };
      expect(pkg.name).toBe('my-driver');
      expect(pkg.dependencies['@hmmlab/core']).toBe(`file:${join(REPO, 'packages', 'core')}`);
      expect(readFileSync(join(r.dir, 'pnpm-workspace.yaml'), 'utf8')).toContain(
        `"@hmmlab/harness": "link:${join(REPO, 'packages', 'harness')}"`,
      );
      expect(readFileSync(join(r.dir, 'driver.ts'), 'utf8')).toBe(readFileSync(join(REPO, 'examples', 'dmirror', 'driver.ts'), 'utf8'));
    } finally {
      d.dispose();
    }
  });

  it('should refuse a folder that is not empty, and a template whose example is missing', () => {
    const d = tempDir('init');
    try {
      writeFileSync(join(d.path, 'x'), '');
      expect(() => init(d.path, { template: 'dmirror' })).toThrow(/init: .* exists and is not empty; name a new folder/);
      mkdirSync(join(d.path, 'root'));
      expect(() => init(join(d.path, 'new'), { template: 'xe', hmmlabRoot: join(d.path, 'root') })).toThrow(AnalyzeError);
      expect(() => init(join(d.path, 'new'), { template: 'xe', hmmlabRoot: join(d.path, 'root') })).toThrow(
        /template xe is not available .* pick another template/,
      );
      expect(existsSync(join(d.path, 'new'))).toBe(false);
    } finally {
      d.dispose();
    }
  });

  it('should refuse a path that is a file, or below one, as a usage error before writing anything', () => {
    const d = tempDir('init');
    try {
      const file = join(d.path, 'plain');
      writeFileSync(file, '');
      expect(() => init(file, { template: 'dmirror' })).toThrow(
        expect.objectContaining({ code: 'ERR_TARGET_EXISTS', message: `init: ${file} exists and is a file; name a new folder` }),
      );
      expect(() => init(join(file, 'sub'), { template: 'dmirror' })).toThrow(
        expect.objectContaining({ code: 'ERR_USAGE', message: `init: ${join(file, 'sub')}: cannot create it (${file} is not a folder)` }),
      );
    } finally {
      d.dispose();
    }
  });
});

/**
 * These tests install each template's project from the npm registry (its third-party dependencies;
 * the hmmlab packages come from this checkout's builds), so they run only when asked:
 * `HMMLAB_INSTALL_TESTS=1 pnpm vitest run packages/analyze/src/internal/init/init.test.ts`, after
 * `tsc -b`.
 */
const installTests = process.env.HMMLAB_INSTALL_TESTS === '1';

describe.runIf(installTests)('init output outside the repository', () => {
  it('should have the packages built that a scaffolded project links to', () => {
    expect(existsSync(join(REPO, 'packages', 'harness', 'dist', 'index.js')), 'run `npx tsc -b` first').toBe(true);
  });

  it.each([
    ['dmirror', 'npm', 'npm', ['install', '--no-audit', '--no-fund']],
    ['nouveau', 'pnpm', 'npx', ['-y', 'pnpm@12.4.2', 'install']],
  ] as const)(
    'should install the %s template with %s, type-check, pass its tests, and fail them once the callback stops invalidating',
    (template, _client, cmd, args) => {
      expect(existsSync(join(REPO, 'examples', template === 'nouveau' ? 'nouveau-style' : template, 'driver.ts'))).toBe(true);
      const d = tempDir('init-e2e');
      try {
        const r = init(join(d.path, 'drv'), { template });
        const install = run(r.dir, cmd, [...args]);
        expect(install.status, install.out).toBe(0);
        const tsc = run(r.dir, join(r.dir, 'node_modules', '.bin', 'tsc'), ['--noEmit']);
        expect(tsc.status, tsc.out).toBe(0);
        const vitest = join(r.dir, 'node_modules', '.bin', 'vitest');
        const pass = run(r.dir, vitest, ['run']);
        expect(pass.status, pass.out).toBe(0);
        expect(pass.out).toMatch(/Tests +\d+ passed/);
        // The same tests must catch a driver that keeps its translations.
        const file = template === 'dmirror' ? 'dmirror.ts' : 'svmm.ts';
        const broken =
          template === 'dmirror'
            ? ['this.doUpdate(range.start, range.end);', 'void range;']
            : ['this.invalidate(update.start, update.end);', 'void update;'];
        const src = readFileSync(join(r.dir, file), 'utf8');
        expect(src).toContain(broken[0]);
        writeFileSync(join(r.dir, file), src.replace(broken[0] as string, broken[1] as string));
        const fail = run(r.dir, vitest, ['run', 'driver.test.ts']);
        expect(fail.status, fail.out).toBe(1);
      } finally {
        d.dispose();
      }
    },
  );

  it.each(['amdkfd', 'xe', 'odp'] as const)('should install the %s template with npm, type-check and pass its tests', (template) => {
    const d = tempDir('init-e2e');
    try {
      // A template whose example is missing throws here, and the test fails.
      const r = init(join(d.path, 'drv'), { template });
      const install = run(r.dir, 'npm', ['install', '--no-audit', '--no-fund']);
      expect(install.status, install.out).toBe(0);
      const tsc = run(r.dir, join(r.dir, 'node_modules', '.bin', 'tsc'), ['--noEmit']);
      expect(tsc.status, tsc.out).toBe(0);
      const pass = run(r.dir, join(r.dir, 'node_modules', '.bin', 'vitest'), ['run']);
      expect(pass.status, pass.out).toBe(0);
    } finally {
      d.dispose();
    }
  });
});
