/**
 * Saved counterexamples: `hmmlab fuzz` keeps the token of a violation in the corpus, and
 * `hmmlab test --corpus` replays it: exit 1 while the driver still breaks the rule, exit 0 once
 * the same driver (same name, same file) flushes.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const mirror = fileURLToPath(new URL('./fixtures/mini-mirror.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hmmlab-test-corpus-'));
const corpus = join(dir, 'corpus');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hmmlab(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Writes the driver "racy" into the scratch folder, with or without its TLB flush. */
function driver(flush: boolean): string {
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const file = join(dir, 'driver.ts');
  writeFileSync(file, `import { miniMirror } from ${JSON.stringify(mirror)};\nexport default miniMirror('racy', ${flush});\n`);
  return file;
}

describe('hmmlab test --corpus', () => {
  it('should replay a saved counterexample: exit 1 while it reproduces, 0 once the driver is fixed', () => {
    const fuzz = hmmlab('fuzz', driver(false), '--runs', '300', '--corpus', corpus, '--no-typecheck', '--quiet', '--json');
    expect(fuzz.status).toBe(1);
    const entry = (JSON.parse(fuzz.stdout) as { drivers: { replay: string; corpus: { counterexample: string } }[] }).drivers[0];
    const saved = entry?.corpus.counterexample ?? '';
    expect(saved.startsWith(join(corpus, 'racy', 'counterexamples'))).toBe(true);
    expect(JSON.parse(readFileSync(saved, 'utf8'))).toMatchObject({ driver: 'racy', module: '../../../driver.ts', token: entry?.replay });

    const still = hmmlab('test', '--corpus', corpus);
    expect(still.status).toBe(1);
    expect(still.stdout).toContain(`reproduced  ${saved}: missed-flush at step`);
    expect(still.stdout).toContain(`1 saved counterexample(s) in ${corpus}: 1 reproduce(s)`);

    // Without a folder, the one hmmlab fuzz keeps: $HMMLAB_CORPUS, else .hmmlab/corpus.
    const byEnv = spawnSync(process.execPath, [bin, 'test', '--corpus'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, HMMLAB_CORPUS: corpus },
    });
    expect(byEnv.stdout).toContain(`1 saved counterexample(s) in ${corpus}: 1 reproduce(s)`);
    expect(byEnv.status).toBe(1);

    driver(true);
    const fixed = hmmlab('test', '--corpus', corpus);
    expect(fixed.stdout).toBe(
      `fixed       ${saved}: missed-flush of racy no longer happens\n1 saved counterexample(s) in ${corpus}: none reproduces\n`,
    );
    expect(fixed.status).toBe(0);
  });

  it('should refuse a folder that does not exist, and a file that is not a counterexample, in one line (exit 2)', () => {
    const none = hmmlab('test', '--corpus', join(dir, 'nothing'));
    expect(none.status).toBe(2);
    expect(none.stderr).toBe(`hmmlab: --corpus ${join(dir, 'nothing')}: no such folder\n`);
    const bad = join(dir, 'bad', 'd', 'counterexamples');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'x.json'), '{}');
    const r = hmmlab('test', '--corpus', join(dir, 'bad'));
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`hmmlab: ${join(bad, 'x.json')}: not a counterexample (no "format": "hmmlab-counterexample-1")\n`);
  });
});
