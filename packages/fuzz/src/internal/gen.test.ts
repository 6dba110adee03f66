import type { DriverDefinition } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { afterEach, describe, expect, it } from 'vitest';
import { type ScenarioShape, scenarioGen } from './arbitraries.js';
import { runGen } from './campaign.js';
import * as g from './gen.js';

const random = (seed: number): fc.Random => new fc.Random(xoroshiro128plus(seed));

/**
 * The seeds below `seeds` whose draw differs from the arbitrary's unbiased generation from the
 * same seed, or whose draw leaves the random stream elsewhere (the next integer differs).
 */
function divergences<T>(gen: g.Gen<T>, seeds: number): number[] {
  const bad: number[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const a = random(seed);
    const b = random(seed);
    const generated = gen.arb.generate(a, undefined).value;
    const drawn = gen.draw(b);
    if (JSON.stringify(drawn) !== JSON.stringify(generated) || a.nextInt(0, 1 << 30) !== b.nextInt(0, 1 << 30)) bad.push(seed);
  }
  return bad;
}

/** A record generator whose draw forgets the boolean `fc.record` draws after the fields. */
class RecordWithoutItsFlag extends g.Gen<{ a: number; b: number }> {
  protected build(): fc.Arbitrary<{ a: number; b: number }> {
    return fc.record({ a: fc.nat(9), b: fc.nat(9) });
  }
  draw(r: fc.Random): { a: number; b: number } {
    return { a: r.nextInt(0, 9), b: r.nextInt(0, 9) };
  }
}

const noop: DriverDefinition = { name: 'noop', probe: () => Promise.reject(new Error('not run')) } as unknown as DriverDefinition;

describe('Gen', () => {
  afterEach(() => fc.resetConfigureGlobal());

  it.each<[string, g.Gen<unknown>]>([
    ['integer', g.integer({ min: -5, max: 70 })],
    ['nat', g.nat(3)],
    ['boolean', g.boolean()],
    ['constant', g.constant({ op: 'evict' })],
    ['constantFrom', g.constantFrom('r', 'none', 'rw')],
    ['tuple', g.tuple(g.nat(9), g.boolean(), g.constant(1))],
    ['record', g.record({ region: g.constant(0), page: g.nat(511), word: g.nat(3) })],
    ['oneof', g.oneof(g.nat(3), g.constant(-1))],
    ['weighted oneof', g.oneof({ weight: 3, gen: g.nat(3) }, { weight: 1, gen: g.constant(-1) }, { weight: 5, gen: g.boolean() })],
    ['array', g.array(g.nat(7), { maxLength: 200 })],
    ['array of a fixed length', g.array(g.nat(1000), { minLength: 8, maxLength: 8 })],
    ['array with a least length', g.array(g.boolean(), { minLength: 2, maxLength: 5 })],
    ['option', g.option(g.nat(32), { nil: undefined, freq: 2 })],
    ['map', g.tuple(g.nat(9), g.nat(9)).map(([a, b]) => ({ sum: a + b }))],
    ['chain', g.nat(3).chain((n) => g.array(g.integer({ min: n, max: n + 4 }), { minLength: n, maxLength: n + 1 }))],
  ])('should draw what the arbitrary of %s generates from the same seed, leaving the stream where it does', (_what, gen) => {
    expect(divergences(gen, 300)).toEqual([]);
  });

  it('should catch a draw that takes one integer fewer than the arbitrary', () => {
    expect(divergences(new RecordWithoutItsFlag(), 50).length).toBeGreaterThan(0);
  });

  it('should make plain objects where fast-check records sometimes have no prototype', () => {
    const gen = g.record({ a: g.nat(9) });
    const drawn = Array.from({ length: 40 }, (_, seed) => gen.draw(random(seed)));
    const generated = Array.from({ length: 40 }, (_, seed) => gen.arb.generate(random(seed), undefined).value);
    expect(drawn.every((o) => Object.getPrototypeOf(o) === Object.prototype)).toBe(true);
    expect(generated.some((o) => Object.getPrototypeOf(o) === null)).toBe(true);
  });

  it('should size arrays as the arbitrary does under other global settings', () => {
    fc.configureGlobal({ baseSize: 'medium' });
    const long = g.array(g.nat(7), { maxLength: 200 });
    expect(divergences(long, 100)).toEqual([]);
    expect(Math.max(...Array.from({ length: 100 }, (_, seed) => long.draw(random(seed)).length))).toBeGreaterThan(10);
  });

  it.each<[string, ScenarioShape]>([
    ['the default shape', {}],
    ['THP layouts', { thp: true }],
    ['no THP layouts and held device memory', { thp: false, deviceMemory: true }],
    ['commands and two bound devices', { commands: ['flush', 'trim'], bindDevices: 2, devices: 2 }],
    ['no swarm and no hot page', { swarm: false, hotPage: false }],
    ['more regions, pages and ops', { regions: { min: 1, max: 3 }, pages: { min: 1, max: 8 }, ops: { min: 0, max: 8 } }],
    ['several programs of each kind', { cpuPrograms: { min: 1, max: 2 }, driverPrograms: { min: 1, max: 3 }, kernelWork: false }],
  ])('should draw the scenarios the arbitrary generates, for %s', (_what, shape) => {
    expect(divergences(scenarioGen(shape), 400)).toEqual([]);
  });

  it.each(['pct', 'random', 'exhaustive'] as const)('should draw the runs the arbitrary generates, with strategy %s', (strategy) => {
    expect(divergences(runGen(noop, { strategy, profiles: ['latest', '6.1'] }), 200)).toEqual([]);
  });
});
