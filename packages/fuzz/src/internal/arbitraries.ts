/**
 * fast-check arbitraries for scenarios: layouts, CPU programs, device work, driver actions, kernel
 * background work, profiles, and the schedule itself. Small by default, because small scenarios
 * shrink to counterexamples a person can read in a minute; every size is an option.
 */
import type { KernelProfile, ProfileName } from '@hmmlab/core';
import type { OpSpec, RegionSpec, Scenario, TaskSpec } from '@hmmlab/harness';
import fc from 'fast-check';

/** Sizes and mixes of generated scenarios. */
export interface ScenarioShape {
  /** Regions in the layout. @defaultValue 1 to 2 */
  readonly regions?: { min: number; max: number };
  /** Pages per region. @defaultValue 1 to 4 */
  readonly pages?: { min: number; max: number };
  /** Ops per task. @defaultValue 1 to 4 */
  readonly ops?: { min: number; max: number };
  /** Devices of the driver that device work may use. @defaultValue 1 */
  readonly devices?: number;
  /** Profiles to draw from. @defaultValue ['latest'] */
  readonly profiles?: readonly ProfileName[];
  /** Words per page. @defaultValue 2 */
  readonly wordsPerPage?: number;
  /** Include kernel background work (reclaim, compaction, the OOM reaper). @defaultValue true */
  readonly kernelWork?: boolean;
  /** Include fork. @defaultValue true */
  readonly fork?: boolean;
  /** Include process exit (`exit_mmap` while other programs run). @defaultValue false */
  readonly exit?: boolean;
  /** Number of CPU programs. @defaultValue 0 to 1 */
  readonly cpuPrograms?: { min: number; max: number };
  /** What-if changes to every scenario's kernel profile (see `Scenario.profileOverrides`). @defaultValue none */
  readonly profileOverrides?: Partial<Omit<KernelProfile, 'name'>>;
}

/** A region of the layout: mostly private anonymous read-write memory, populated. */
export function regionArb(pages: { min: number; max: number } = { min: 1, max: 4 }): fc.Arbitrary<RegionSpec> {
  return fc.record({
    pages: fc.integer(pages),
    prot: fc.constantFrom('rw', 'rw', 'rw', 'r'),
    share: fc.constantFrom('private', 'private', 'private', 'shared'),
    backing: fc.constantFrom('anon', 'anon', 'anon', 'file'),
    populate: fc.constantFrom('write', 'write', 'read', 'none'),
  }) as fc.Arbitrary<RegionSpec>;
}

/** A page of one of `regions`: `{ region, page }`. */
function atArb(regions: readonly RegionSpec[]): fc.Arbitrary<{ region: number; page: number; word: number }> {
  return fc.integer({ min: 0, max: regions.length - 1 }).chain((region) =>
    fc.record({
      region: fc.constant(region),
      page: fc.integer({ min: 0, max: (regions[region] as RegionSpec).pages - 1 }),
      word: fc.nat(3),
    }),
  );
}

/** A page range of one region. */
function rangeArb(regions: readonly RegionSpec[]): fc.Arbitrary<{ region: number; page: number; pages: number }> {
  return fc.integer({ min: 0, max: regions.length - 1 }).chain((region) => {
    const n = (regions[region] as RegionSpec).pages;
    return fc
      .integer({ min: 0, max: n - 1 })
      .chain((page) => fc.record({ region: fc.constant(region), page: fc.constant(page), pages: fc.integer({ min: 1, max: n - page }) }));
  });
}

const valueArb = fc.integer({ min: 1, max: 999 });

/** Types an op literal. */
const op = (o: OpSpec): OpSpec => o;

/** One CPU op: loads and stores most of the time, and every syscall that changes mappings. */
export function cpuOpArb(regions: readonly RegionSpec[], options: { fork?: boolean; exit?: boolean } = {}): fc.Arbitrary<OpSpec> {
  const at = atArb(regions);
  const range = rangeArb(regions);
  const ops: fc.WeightedArbitrary<OpSpec>[] = [
    { weight: 4, arbitrary: at.map((a) => op({ op: 'read', ...a })) },
    { weight: 5, arbitrary: fc.tuple(at, valueArb).map(([a, value]) => op({ op: 'write', ...a, value })) },
    { weight: 2, arbitrary: range.map((r) => op({ op: 'munmap', ...r })) },
    { weight: 2, arbitrary: fc.tuple(range, fc.constantFrom('r', 'none', 'rw')).map(([r, prot]) => op({ op: 'mprotect', ...r, prot })) },
    {
      weight: 2,
      arbitrary: fc.tuple(range, fc.constantFrom('dontneed', 'free')).map(([r, advice]) => op({ op: 'madvise', ...r, advice })),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'clear-refs' }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: regions.length - 1 }).map((region) => op({ op: 'mremap', region })) },
  ];
  if (options.fork ?? true) ops.push({ weight: 2, arbitrary: fc.constant({ op: 'fork' }) });
  if (options.exit ?? false) ops.push({ weight: 1, arbitrary: fc.constant({ op: 'exit' }) });
  return fc.oneof(...ops);
}

/** One device access. */
export function deviceOpArb(regions: readonly RegionSpec[], devices = 1): fc.Arbitrary<OpSpec> {
  const at = atArb(regions);
  const device = fc.integer({ min: 0, max: Math.max(0, devices - 1) });
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(at, device).map(([a, d]) => op({ op: 'dev-read', ...a, device: d })) },
    { weight: 4, arbitrary: fc.tuple(at, valueArb, device).map(([a, value, d]) => op({ op: 'dev-write', ...a, value, device: d })) },
    { weight: 1, arbitrary: fc.tuple(at, device).map(([a, d]) => op({ op: 'dev-atomic', ...a, device: d })) },
  );
}

/** One driver action. */
export function driverOpArb(regions: readonly RegionSpec[]): fc.Arbitrary<OpSpec> {
  const range = rangeArb(regions);
  return fc.oneof(
    { weight: 4, arbitrary: range.map((r) => op({ op: 'migrate-to-device', ...r })) },
    { weight: 2, arbitrary: range.map((r) => op({ op: 'migrate-to-ram', ...r })) },
    { weight: 1, arbitrary: fc.constant({ op: 'evict' }) },
    { weight: 2, arbitrary: range.map((r) => op({ op: 'make-exclusive', ...r })) },
    { weight: 2, arbitrary: fc.tuple(range, fc.boolean()).map(([r, write]) => op({ op: 'prefetch', ...r, write })) },
  );
}

/** One piece of kernel background work. */
export function kernelOpArb(regions: readonly RegionSpec[]): fc.Arbitrary<OpSpec> {
  const at = atArb(regions);
  return fc.oneof(
    { weight: 3, arbitrary: at.map((a) => op({ op: 'reclaim', region: a.region, page: a.page })) },
    { weight: 3, arbitrary: at.map((a) => op({ op: 'compact', region: a.region, page: a.page })) },
    { weight: 1, arbitrary: fc.constant({ op: 'oom-reap' }) },
  );
}

function task(kind: TaskSpec['kind'], op: fc.Arbitrary<OpSpec>, ops: { min: number; max: number }): fc.Arbitrary<TaskSpec> {
  return fc.array(op, { minLength: ops.min, maxLength: ops.max }).map((list) => ({ kind, ops: list }));
}

/**
 * A whole scenario: a layout, one or two device programs, a CPU program, and optionally a driver
 * program and kernel background work.
 */
export function scenarioArb(shape: ScenarioShape = {}): fc.Arbitrary<Scenario> {
  const profiles = shape.profiles ?? ['latest'];
  const ops = shape.ops ?? { min: 1, max: 4 };
  return fc
    .tuple(
      fc.array(regionArb(shape.pages), { minLength: shape.regions?.min ?? 1, maxLength: shape.regions?.max ?? 2 }),
      fc.constantFrom(...profiles),
    )
    .chain(([regions, profile]) => {
      const tasks: fc.Arbitrary<TaskSpec[]>[] = [
        fc.array(task('device', deviceOpArb(regions, shape.devices ?? 1), ops), { minLength: 1, maxLength: 2 }),
        fc.array(task('cpu', cpuOpArb(regions, { fork: shape.fork ?? true, exit: shape.exit ?? false }), ops), {
          minLength: shape.cpuPrograms?.min ?? 0,
          maxLength: shape.cpuPrograms?.max ?? 1,
        }),
        fc.array(task('driver', driverOpArb(regions), ops), { minLength: 0, maxLength: 1 }),
      ];
      if (shape.kernelWork ?? true)
        tasks.push(fc.array(task('kernel', kernelOpArb(regions), { min: 1, max: 2 }), { minLength: 0, maxLength: 1 }));
      return fc.tuple(...tasks).map((groups) => ({
        profile,
        ...(shape.profileOverrides !== undefined ? { profileOverrides: shape.profileOverrides } : {}),
        wordsPerPage: shape.wordsPerPage ?? 2,
        regions,
        tasks: groups.flat(),
      }));
    });
}

/** A kernel API profile among `profiles`. */
export function profileArb(profiles: readonly ProfileName[]): fc.Arbitrary<ProfileName> {
  return fc.constantFrom(...profiles);
}
