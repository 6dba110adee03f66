/**
 * fuzzDriver itself: tests it defines run the same samples on every run unless HMMLAB_SEED
 * changes the seed. Each driver below records the trace of every run it is probed for.
 */
import type { DriverDefinition } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { mirror } from './internal/test-mirror.js';
import { fuzzDriver } from './vitest.js';

/** The flushing mirror, recording the event types of each run into `runs`. */
function recorded(runs: string[]): DriverDefinition {
  const inner = mirror(true);
  return {
    name: inner.name,
    probe(kernel) {
      const types: string[] = [];
      runs.push('');
      const at = runs.length - 1;
      kernel.trace.subscribe((e) => {
        types.push(e.type);
        runs[at] = types.join(' ');
      });
      return inner.probe(kernel);
    },
  };
}

/** Defines a fuzzDriver test with HMMLAB_SEED set to `env` (unset if undefined) while it is defined. */
function defineWithEnv(runs: string[], env: string | undefined, name: string): void {
  const saved = process.env.HMMLAB_SEED;
  if (env === undefined) delete process.env.HMMLAB_SEED;
  else process.env.HMMLAB_SEED = env;
  try {
    fuzzDriver(recorded(runs), { runs: 8, name });
  } finally {
    if (saved === undefined) delete process.env.HMMLAB_SEED;
    else process.env.HMMLAB_SEED = saved;
  }
}

describe('fuzzDriver', () => {
  const first: string[] = [];
  const second: string[] = [];
  const other: string[] = [];
  defineWithEnv(first, undefined, 'fuzz with the default seed');
  defineWithEnv(second, undefined, 'fuzz with the default seed again');
  defineWithEnv(other, '12345', 'fuzz with HMMLAB_SEED=12345');

  it('should run the same samples on every run by default, and others under another HMMLAB_SEED', () => {
    expect(first).toHaveLength(8);
    expect(first.every((r) => r.length > 0)).toBe(true);
    expect(second).toEqual(first);
    expect(other).toHaveLength(8);
    expect(other).not.toEqual(first);
  });
});

describe('fuzzDriver options', () => {
  it.each([
    ['no runs', { runs: 0 }, /runs 0: expected an integer ≥ 1/],
    ['a seed beyond 32 bits', { seed: 2 ** 32 }, /seed 4294967296: expected an integer in \[0, 4294967295\]/],
    ['a misspelt shape field', { shape: { exitt: true } as never }, /scenario shape: unknown field "exitt"/],
    [
      'a misspelt option',
      { timout: 5 } as never,
      /campaign options: unknown option "timout"; the options are runs, .*, name, timeout, module$/,
    ],
  ])('should refuse %s where the test is defined, instead of a test that checks something else', (_what, options, message) => {
    expect(() => fuzzDriver(mirror(true), { ...options, name: 'never defined' })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });
});
