import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codemodCommand, explainCommand, initCommand, lintCommand } from './commands.js';
import { tempDir } from './testing/temp.js';

const fixture = (name: string) => fileURLToPath(new URL(`../rules/fixtures/${name}.ts`, import.meta.url));

describe('lintCommand', () => {
  it('should exit 1 and print one line per finding when a finding is an error', () => {
    const r = lintCommand({ paths: [fixture('lock-leak.bad')] });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/lock-leak\.bad\.ts:\d+ {2}error {2}lock-leak {2}lock-leak\.bad\.invalidate returns false with `lock`/);
    expect(r.stdout).toMatch(/\n1 error\(s\), 0 warning\(s\)\n$/);
  });

  it('should exit 0 on warnings only, and print the findings as JSON with --json', () => {
    const r = lintCommand({ paths: [fixture('skip-before-set-seq.warn')], json: true });
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout) as { findings: Record<string, unknown>[] };
    expect(out.findings).toHaveLength(1);
    expect(Object.keys(out.findings[0] ?? {})).toEqual(['rule', 'severity', 'file', 'line', 'message']);
    expect(out.findings[0]).toMatchObject({ rule: 'skip-before-set-seq', severity: 'warning' });
  });

  it('should say that nothing was checked in a file that registers no notifier callback, as text and as JSON', () => {
    const dir = tempDir('lint-none');
    try {
      const file = join(dir.path, 'helpers.ts');
      writeFileSync(file, 'export function pagesOf(len: number): number {\n  return len / 4096;\n}\n');
      const r = lintCommand({ paths: [file] });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^no notifier callback found: nothing was checked\. The ops may be registered in another file/);
      const json = lintCommand({ paths: [file], json: true });
      expect(json.exitCode).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({
        findings: [],
        note: expect.stringMatching(/^no notifier callback found: nothing was checked\./),
      });
      expect(explainCommand({ paths: [file] }).stdout).toMatch(/^no invalidate callback found\. The ops may be registered in another file/);
    } finally {
      dir.dispose();
    }
  });

  it('should list a function with more paths than it follows, as text and as JSON, and not a twin with few', () => {
    // Each `if` doubles the fault path's paths: twelve give 4,096, past the budget; three give 8.
    const dir = tempDir('lint-budget');
    try {
      const text = readFileSync(fixture('correct-mirror'), 'utf8');
      const start = '            const start = kernel.pageAlignDown(f.va);\n';
      const withIfs = (n: number) =>
        text.replace(
          start,
          `${Array.from({ length: n }, (_, i) => `            if (f.va === ${i + 1} * kernel.pageSize) v.flushTlb(0, ${i + 1});\n`).join('')}${start}`,
        );
      const many = join(dir.path, 'many.ts');
      const few = join(dir.path, 'few.ts');
      writeFileSync(many, withIfs(12));
      writeFileSync(few, withIfs(3));
      const r = lintCommand({ paths: [many], cwd: dir.path });
      expect(r).toEqual({
        exitCode: 0,
        stdout:
          'note: 1 function(s) have more paths than lint follows; the paths past the budget were not checked:\n' +
          '  many.ts:28  many device fault\nno findings\n',
      });
      expect(JSON.parse(lintCommand({ paths: [many], cwd: dir.path, json: true }).stdout)).toEqual({
        findings: [],
        incomplete: [{ name: 'many device fault', file: 'many.ts', line: 28 }],
      });
      expect(lintCommand({ paths: [few], cwd: dir.path })).toEqual({ exitCode: 0, stdout: 'no findings\n' });
      expect(JSON.parse(lintCommand({ paths: [few], cwd: dir.path, json: true }).stdout)).toEqual({ findings: [] });
    } finally {
      dir.dispose();
    }
  });

  it('should say "no findings" for a correct driver', () => {
    expect(lintCommand({ paths: [fixture('correct-mirror')] })).toEqual({ exitCode: 0, stdout: 'no findings\n' });
  });

  it.each([
    [{ paths: [] }, 'hmmlab lint: no paths given; for example: hmmlab lint examples/dmirror\n'],
    [{ paths: ['missing.ts'] }, 'hmmlab lint: no such file or folder: missing.ts; pass an existing driver file or folder\n'],
  ])('should exit 2 with one line on bad usage (%o)', (o, stdout) => {
    expect(lintCommand(o)).toEqual({ exitCode: 2, stdout });
  });
});

describe('a source that does not parse', () => {
  const BROKEN = "export default {\n  name: 'broken',\n  probe(kernel) { return kernel. ; },\n};\n";

  it.each([
    ['lint', (cwd: string) => lintCommand({ paths: ['driver.ts'], cwd })],
    ['explain', (cwd: string) => explainCommand({ paths: ['driver.ts'], cwd })],
    ['codemod', (cwd: string) => codemodCommand({ paths: ['driver.ts'], from: '5.8', to: 'latest', cwd })],
  ])('%s should exit 2 with the file, line, column and the parser message', (command, run) => {
    const dir = tempDir('syntax');
    const prev = process.cwd();
    try {
      writeFileSync(join(dir.path, 'driver.ts'), BROKEN);
      process.chdir(dir.path);
      expect(run(dir.path)).toEqual({
        exitCode: 2,
        stdout: `hmmlab ${command}: syntax error at driver.ts:3:34: Identifier expected.\n`,
      });
      expect(readFileSync(join(dir.path, 'driver.ts'), 'utf8')).toBe(BROKEN);
    } finally {
      process.chdir(prev);
      dir.dispose();
    }
  });

  it('should name a broken file reached through an import, and leave every file unchanged (codemod)', () => {
    const dir = tempDir('syntax');
    try {
      writeFileSync(join(dir.path, 'a.ts'), "import { helper } from './b.js';\nexport const x = helper;\n");
      writeFileSync(join(dir.path, 'b.ts'), 'export const helper = (;\n');
      expect(lintCommand({ paths: [join(dir.path, 'a.ts')], cwd: dir.path }).stdout).toMatch(/^hmmlab lint: syntax error at b\.ts:1:24: /);
      const r = codemodCommand({ paths: [dir.path], from: 'latest', to: '5.8', cwd: dir.path });
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toMatch(/^hmmlab codemod: syntax error at b\.ts:1:24: /);
    } finally {
      dir.dispose();
    }
  });
});

describe('argv words', () => {
  it('should take the same options as command-line words', () => {
    expect(lintCommand([fixture('lock-leak.bad'), '--json']).exitCode).toBe(1);
    expect(JSON.parse(lintCommand(['--json', fixture('correct-mirror')]).stdout)).toEqual({ findings: [] });
    expect(codemodCommand(['--from', '5.8', '--to=latest']).stdout).toBe(
      'hmmlab codemod: no paths given; for example: hmmlab codemod --from 5.8 --to latest src/\n',
    );
    expect(initCommand(['--template', 'nope', 'dir']).stdout).toMatch(/unknown template "nope"/);
  });
});

describe('explainCommand', () => {
  it('should print the decision tables as text or JSON', () => {
    expect(explainCommand({ paths: [fixture('correct-mirror')] }).stdout).toMatch(
      /correct-mirror\.invalidate \(interval notifier invalidate\)\n/,
    );
    const json = JSON.parse(explainCommand({ paths: [fixture('correct-mirror')], json: true }).stdout) as { tables: { rows: unknown[] }[] };
    expect(json.tables[0]?.rows).toHaveLength(3);
  });

  it('should exit 2 for a missing file', () => {
    expect(explainCommand({ paths: ['nope.ts'] }).exitCode).toBe(2);
  });
});

describe('codemodCommand', () => {
  it('should print the diff in a dry run and change nothing', () => {
    const d = tempDir('cmd');
    try {
      const p = join(d.path, 'seed.ts');
      copyFileSync(fileURLToPath(new URL('./codemod/fixtures/seed-owner.ts', import.meta.url)), p);
      const r = codemodCommand({ from: 'seed', to: 'latest', paths: [p], dryRun: true });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^--- a\/.*\n\+\+\+ b\/.*\n@@/);
      expect(readFileSync(p, 'utf8')).toContain('range.data === owner');
      const w = codemodCommand({ from: 'seed', to: 'latest', paths: [p] });
      expect(w.stdout).toMatch(/1 file\(s\) changed \(profile seed → latest\)\n$/);
      expect(readFileSync(p, 'utf8')).toContain('range.owner === owner');
    } finally {
      d.dispose();
    }
  });

  it.each([
    [
      { to: 'latest', paths: ['x'] },
      /^hmmlab codemod: --from and --to are required; for example: hmmlab codemod --from 5\.8 --to latest src\/\n$/,
    ],
    [
      { from: '4.19', to: 'latest', paths: [fixture('correct-mirror')] },
      /^hmmlab codemod: unknown source \(--from\) profile "4\.19"; expected one of 5\.8, seed, 5\.9, 5\.14, 6\.1, latest\n$/,
    ],
  ])('should exit 2 with one line on bad usage (%o)', (o, stdout) => {
    const r = codemodCommand(o);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(stdout);
  });
});

describe('initCommand', () => {
  it.each([
    [
      { dir: 'x' },
      /^hmmlab init: a folder and --template are required; for example: hmmlab init my-driver --template dmirror\|nouveau\|amdkfd\|xe\|odp\n$/,
    ],
    [{ dir: 'x', template: 'radeon' }, /^hmmlab init: unknown template "radeon"; expected one of dmirror, nouveau, amdkfd, xe, odp\n$/],
  ])('should exit 2 with one line on bad usage (%o)', (o, stdout) => {
    const r = initCommand(o);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(stdout);
  });
});
