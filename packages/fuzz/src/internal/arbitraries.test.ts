import { type Scenario, validateScenario } from '@hmmlab/harness';
import fc from 'fast-check';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { checkScenarioShape, type ScenarioShape, scenarioArb } from './arbitraries.js';

describe('checkScenarioShape', () => {
  it.each([
    ['a misspelt field', { exitt: true }, /unknown field "exitt"; the fields are regions, pages, ops/],
    [
      'a range whose min is above its max',
      { pages: { min: 5, max: 2 } },
      /pages is \{"min":5,"max":2\}; expected \{ "min": m, "max": n \} with integers 1 <= m <= n <= 1048576/,
    ],
    ['no regions', { regions: { min: 0, max: 0 } }, /regions is .*integers 1 <= m <= n/],
    ['a range with a fraction', { ops: { min: 1, max: 2.5 } }, /ops is/],
    ['a range with a third field', { cpuPrograms: { min: 0, max: 1, mean: 1 } }, /cpuPrograms is/],
    ['a range given as a number', { driverPrograms: 2 }, /driverPrograms is 2/],
    ['no devices', { devices: 0 }, /devices is 0; expected an integer from 1 to 64/],
    ['words that do not divide a page', { wordsPerPage: 3 }, /wordsPerPage is 3; expected a power of two/],
    ['a flag given as a string', { thp: 'yes' }, /thp is "yes"; expected true or false/],
    ['an empty command name', { commands: [''] }, /commands: expected a list of command names/],
    ['no profiles', { profiles: [] }, /profiles: expected at least one/],
    ['an unknown profile', { profiles: ['4.19'] }, /profile "4.19": expected one of/],
    ['an unknown kernel what-if', { profileOverrides: { noSuchField: true } }, /profileOverrides: .*noSuchField/],
  ])('should refuse %s, naming it', (_what, shape, message) => {
    expect(() => checkScenarioShape(shape as ScenarioShape)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
    expect(() => scenarioArb(shape as ScenarioShape)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });

  it('should take every field at the edges of its range', () => {
    const shape: Required<ScenarioShape> = {
      regions: { min: 1, max: 1 },
      pages: { min: 1, max: 1 << 20 },
      ops: { min: 0, max: 0 },
      commands: ['flush'],
      bindDevices: 64,
      devices: 1,
      profiles: ['latest', '5.8'],
      wordsPerPage: 4096,
      kernelWork: false,
      fork: false,
      exit: false,
      cpuPrograms: { min: 0, max: 0 },
      driverPrograms: { min: 0, max: 0 },
      profileOverrides: { exclusiveRestoreOwner: 'caller' },
      swarm: false,
      hotPage: false,
      thp: false,
      deviceMemory: false,
      exitAtEnd: false,
    };
    expect(() => checkScenarioShape(shape)).not.toThrow();
    expect(() => checkScenarioShape({})).not.toThrow();
  });
});

describe('scenarioArb', () => {
  it("should give every scenario the shape's profile overrides", () => {
    const scenarios = fc.sample(scenarioArb({ profiles: ['6.1'], profileOverrides: { exclusiveRestoreOwner: 'caller' } }), {
      seed: 7,
      numRuns: 50,
    });
    for (const s of scenarios) {
      expect(s.profileOverrides).toEqual({ exclusiveRestoreOwner: 'caller' });
      expect(() => validateScenario(s)).not.toThrow();
    }
  });

  it('should leave the profile alone by default', () => {
    const scenarios = fc.sample(scenarioArb(), { seed: 7, numRuns: 50 });
    expect(scenarios.every((s) => !('profileOverrides' in s))).toBe(true);
  });

  it('should make process exits by default, none when the shape leaves them out, and more CPU programs only when asked', () => {
    const cpuOps = (shape: Parameters<typeof scenarioArb>[0]) =>
      fc.sample(scenarioArb(shape), { seed: 3, numRuns: 200 }).map((s) => s.tasks.filter((t) => t.kind === 'cpu'));
    const plain = cpuOps({});
    expect(plain.every((cpus) => cpus.length <= 1)).toBe(true);
    expect(plain.flat().some((t) => t.ops.some((o) => o.op === 'exit'))).toBe(true);
    expect(
      cpuOps({ exit: false })
        .flat()
        .some((t) => t.ops.some((o) => o.op === 'exit')),
    ).toBe(false);
    const wide = cpuOps({ exit: true, cpuPrograms: { min: 2, max: 4 } });
    expect(wide.every((cpus) => cpus.length >= 2 && cpus.length <= 4)).toBe(true);
    expect(wide.flat().some((t) => t.ops.some((o) => o.op === 'exit'))).toBe(true);
  });
});

describe('the arbitraries kept per shape and layout', () => {
  // A shape no other test uses, so the first draws below find nothing kept yet.
  const shape = { pages: { min: 1, max: 5 }, regions: { min: 1, max: 3 }, exit: true };
  const draw = (seed: number) => scenarioArb(shape).generate(new fc.Random(xoroshiro128plus(seed)), undefined);
  const shrinks = (v: fc.Value<Scenario>) => [...scenarioArb(shape).shrink(v.value_, v.context).take(20)].map((s) => s.value_);

  it('should draw and shrink the same scenarios whatever was kept before', () => {
    const seeds = Array.from({ length: 60 }, (_, i) => i * 31 + 1);
    // Cold: each layout's arbitraries are built as the draws meet it; then warm, in the other order.
    const cold = seeds.map((seed) => {
      const v = draw(seed);
      return { value: v.value_, shrinks: seed % 10 === 1 ? shrinks(v) : [] };
    });
    const warm = [...seeds].reverse().map((seed) => {
      const v = draw(seed);
      return { value: v.value_, shrinks: seed % 10 === 1 ? shrinks(v) : [] };
    });
    warm.reverse();
    expect(new Set(cold.map((c) => JSON.stringify(c.value.regions.map((r) => r.pages)))).size).toBeGreaterThan(5);
    expect(warm).toEqual(cold);
  });
});

describe('device ops', () => {
  it('should make some device reads and writes of several pages, some up to the end of their region', () => {
    const ops = fc
      .sample(scenarioArb({ pages: { min: 3, max: 4 } }), { seed: 11, numRuns: 300 })
      .flatMap((s) =>
        s.tasks
          .filter((t) => t.kind === 'device')
          .flatMap((t) => t.ops.map((o) => ({ o, pages: (s.regions[(o as { region: number }).region] as { pages: number }).pages }))),
      );
    const ranged = ops.filter(({ o }) => (o.op === 'dev-read' || o.op === 'dev-write') && (o.pages ?? 1) > 1);
    expect(ranged.length).toBeGreaterThan(0);
    expect(ranged.length).toBeLessThan(ops.length / 2);
    expect(ranged.some(({ o, pages }) => 'page' in o && 'pages' in o && o.page + (o.pages ?? 0) === pages)).toBe(true);
  });
});

describe('op bias', () => {
  const loadsAndStoresOnly = (shape: Parameters<typeof scenarioArb>[0]) =>
    fc
      .sample(scenarioArb({ cpuPrograms: { min: 1, max: 1 }, ops: { min: 4, max: 4 }, ...shape }), { seed: 5, numRuns: 2000 })
      .filter((s) => s.tasks.filter((t) => t.kind === 'cpu').every((t) => t.ops.every((o) => o.op === 'read' || o.op === 'write'))).length;

  it('should leave op kinds out of some scenarios (swarm testing) unless the shape turns it off', () => {
    expect(loadsAndStoresOnly({})).toBeGreaterThan(loadsAndStoresOnly({ swarm: false }));
  });

  it('should keep every scenario valid with and without the bias', () => {
    for (const shape of [{}, { swarm: false, hotPage: false }]) {
      for (const s of fc.sample(scenarioArb({ exit: true, ...shape }), { seed: 9, numRuns: 100 }))
        expect(() => validateScenario(s)).not.toThrow();
    }
  });
});

describe("a driver's extra commands", () => {
  const commandsOf = (shape: Parameters<typeof scenarioArb>[0]) =>
    fc
      .sample(scenarioArb(shape), { seed: 13, numRuns: 300 })
      .flatMap((s) => s.tasks.flatMap((t) => t.ops.flatMap((o) => (o.op === 'command' ? [o.name] : []))));

  it('should call each declared command from driver programs, over valid ranges', () => {
    const names = commandsOf({ commands: ['query', 'map'] });
    expect(new Set(names)).toEqual(new Set(['query', 'map']));
    for (const s of fc.sample(scenarioArb({ commands: ['query'] }), { seed: 13, numRuns: 100 }))
      expect(() => validateScenario(s)).not.toThrow();
  });

  it('should draw the same scenarios as before for a driver that declares none', () => {
    expect(commandsOf({})).toEqual([]);
    expect(fc.sample(scenarioArb({ commands: [] }), { seed: 13, numRuns: 100 })).toEqual(
      fc.sample(scenarioArb({}), { seed: 13, numRuns: 100 }),
    );
  });
});

describe('a process using several devices of the driver', () => {
  const throughDevices = (shape: Parameters<typeof scenarioArb>[0]) =>
    fc
      .sample(scenarioArb(shape), { seed: 17, numRuns: 300 })
      .flatMap((s) => s.tasks.filter((t) => t.kind === 'driver').flatMap((t) => t.ops.map((o) => ('device' in o ? o.device : undefined))));

  it('should send some driver actions through the other devices, and the rest through the first binding', () => {
    const devices = throughDevices({ bindDevices: 3 });
    expect(new Set(devices)).toEqual(new Set([undefined, 1, 2]));
    for (const s of fc.sample(scenarioArb({ bindDevices: 3 }), { seed: 17, numRuns: 100 })) expect(() => validateScenario(s)).not.toThrow();
  });

  it('should name no device when the process uses one', () => {
    expect(throughDevices({}).every((d) => d === undefined)).toBe(true);
  });

  it('should start one layout in about 8 with device memory held, every layout or none when the shape says so', () => {
    const held = (shape: Parameters<typeof scenarioArb>[0]) =>
      fc.sample(scenarioArb(shape), { seed: 5, numRuns: 800 }).map((s) => {
        expect(() => validateScenario(s)).not.toThrow();
        return s.deviceMemory;
      });
    const plain = held({ thp: false });
    const n = plain.filter((h) => h !== undefined).length;
    // Binomial(800, 1/8): mean 100, standard deviation 9.4.
    expect(n).toBeGreaterThan(60);
    expect(n).toBeLessThan(140);
    const all = held({ thp: false, deviceMemory: true });
    expect(all.every((h) => h !== undefined)).toBe(true);
    // Both kinds: nearly full, and in pieces.
    expect(all.some((h) => h !== undefined && 'free' in h && h.free <= 16)).toBe(true);
    expect(all.some((h) => h !== undefined && 'every' in h && h.every >= 2 && h.every <= 512)).toBe(true);
    expect(held({ thp: false, deviceMemory: false }).every((h) => h === undefined)).toBe(true);
  });
});
