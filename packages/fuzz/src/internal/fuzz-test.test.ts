import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { driverModuleOf } from '@hmmlab/harness';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runArb } from './campaign.js';
import { checkSample, DEFAULT_FUZZ_SEED, defaultExporting, fuzzRuns, fuzzSeed, replayCommand } from './fuzz-test.js';
import { replayToken } from './replay.js';
import { mirror } from './test-mirror.js';
import unflushed from './test-unflushed.js';

describe('fuzzDriver seed and runs', () => {
  it('should default to a fixed seed, which the seed option and then HMMLAB_SEED override', () => {
    expect(fuzzSeed(undefined, undefined)).toBe(DEFAULT_FUZZ_SEED);
    expect(fuzzSeed(undefined, '')).toBe(DEFAULT_FUZZ_SEED);
    expect(fuzzSeed(7, undefined)).toBe(7);
    expect(fuzzSeed(7, '42')).toBe(42);
    expect(fuzzSeed(undefined, '0')).toBe(0);
    expect(() => fuzzSeed(undefined, 'abc')).toThrow('HMMLAB_SEED=abc: expected an integer ≥ 0');
    expect(() => fuzzSeed(undefined, '-3')).toThrow('HMMLAB_SEED=-3');
  });

  it('should take the runs from HMMLAB_FUZZ_RUNS, then the runs option, then 200', () => {
    expect(fuzzRuns(undefined, undefined)).toBe(200);
    expect(fuzzRuns(50, undefined)).toBe(50);
    expect(fuzzRuns(50, '9')).toBe(9);
    expect(() => fuzzRuns(50, '0')).toThrow('HMMLAB_FUZZ_RUNS=0: expected an integer ≥ 1');
  });
});

describe('the replay command of a failing fuzzDriver test', () => {
  const cwd = process.cwd();
  const here = join(cwd, 'packages/fuzz/src/internal');

  it('should name the driver module relative to the working folder, from a path or a file URL', () => {
    const file = join(here, 'test-unflushed.ts');
    expect(replayCommand(file, 'hmmlab2_x', cwd)).toBe('hmmlab replay packages/fuzz/src/internal/test-unflushed.ts hmmlab2_x');
    expect(replayCommand(pathToFileURL(file), 'hmmlab2_x', cwd)).toBe(
      'hmmlab replay packages/fuzz/src/internal/test-unflushed.ts hmmlab2_x',
    );
    expect(replayCommand('/elsewhere/my driver.ts', 't', cwd)).toBe("hmmlab replay '/elsewhere/my driver.ts' t");
    expect(replayCommand(undefined, 't', cwd)).toMatch(/^hmmlab replay <driver module> t {2}\(pass fuzzDriver's `module` option/);
  });

  it('should find the module that default-exports a driver, and not a file that only builds one', () => {
    expect(driverModuleOf(unflushed)).toBe(join(here, 'test-unflushed.ts'));
    expect(defaultExporting(driverModuleOf(unflushed))).toBe(join(here, 'test-unflushed.ts'));
    // Built here, by a factory: this test file has no default export for `hmmlab replay` to load.
    const local = mirror(false);
    expect(driverModuleOf(local)).toBe(join(here, 'fuzz-test.test.ts'));
    expect(defaultExporting(driverModuleOf(local))).toBeUndefined();
  });

  it('should throw the report, the seed and a replay command that reproduces the violation; the fixed twin passes', async () => {
    const samples = fc.sample(runArb(unflushed, {}), { seed: 3, numRuns: 40 });
    const where = { module: driverModuleOf(unflushed), cwd };
    const bad = checkSample(unflushed, { seed: 3 }, where);
    let message: string | undefined;
    for (const s of samples) {
      message = await bad(s).then(
        () => undefined,
        (e: Error) => e.message,
      );
      if (message !== undefined) break;
    }
    expect(message).toMatch(/^✗ missed-flush: /);
    expect(message).toContain('\n\nseed: 3 (HMMLAB_SEED=3 draws the same samples)\n');
    const m = /\nreplay: hmmlab replay packages\/fuzz\/src\/internal\/test-unflushed\.ts (hmmlab2_\S+)$/.exec(message ?? '');
    expect(m).not.toBeNull();
    const replay = await replayToken(unflushed, m?.[1] as string);
    expect(replay.divergence).toBeNull();

    const good = checkSample(mirror(true), { seed: 3 }, where);
    for (const s of samples) await good(s);
  });
});
