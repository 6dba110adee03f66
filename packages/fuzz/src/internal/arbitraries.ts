/**
 * fast-check arbitraries for scenarios: layouts, CPU programs, device work, driver actions, kernel
 * background work, profiles, and the schedule itself. Small by default, because small scenarios
 * shrink to counterexamples a person can read in a minute; every size is an option. Each is
 * written once as a generator (gen.ts), which gives the arbitrary and a draw of the same values
 * without fast-check's value tree, as a campaign draws its runs.
 */
import { HmmlabError, type KernelProfile, kernelProfile, PROFILE_NAMES, type ProfileName } from '@hmmlab/core';
import type { MemoryHold, OpSpec, RegionSpec, Scenario, TaskSpec } from '@hmmlab/harness';
import type fc from 'fast-check';
import * as g from './gen.js';

/** Sizes and mixes of generated scenarios. */
export interface ScenarioShape {
  /**
   * Regions in the layout. @defaultValue 1 to 2
   * @prop __type.min - fewest regions
   * @prop __type.max - most regions
   */
  readonly regions?: { min: number; max: number };
  /**
   * Pages per region. @defaultValue 1 to 4
   * @prop __type.min - fewest pages
   * @prop __type.max - most pages
   */
  readonly pages?: { min: number; max: number };
  /**
   * Ops per task. @defaultValue 1 to 4
   * @prop __type.min - fewest ops
   * @prop __type.max - most ops
   */
  readonly ops?: { min: number; max: number };
  /**
   * The driver's extra commands (`DriverDefinition.commands`) driver programs may call; with none,
   * scenarios are drawn exactly as before commands existed. @defaultValue []
   */
  readonly commands?: readonly string[];
  /**
   * Devices of the driver one process uses at once (`DriverDefinition.bindDevices`): above 1,
   * about half of the migrations, prefetches and exclusive takes go through a binding of device 1
   * to n - 1; at 1, scenarios are drawn exactly as before. @defaultValue 1
   */
  readonly bindDevices?: number;
  /**
   * Device address spaces of a binding that device work may use: in a campaign, at most the
   * driver's `vmsPerBinding` (a larger number is refused, as device work beyond the binding's
   * address spaces would do nothing). @defaultValue 1; a campaign's: the driver's vmsPerBinding
   */
  readonly devices?: number;
  /** Profiles to draw from. @defaultValue ['latest'] */
  readonly profiles?: readonly ProfileName[];
  /** Words per page. @defaultValue 2 */
  readonly wordsPerPage?: number;
  /** Include kernel background work (reclaim, compaction, the OOM reaper). @defaultValue true */
  readonly kernelWork?: boolean;
  /** Include fork. @defaultValue true */
  readonly fork?: boolean;
  /**
   * Include process exit: `exit_mmap` while other programs run, then the device file's last close
   * (the driver's `unbind`) when no forked child holds it. @defaultValue true
   */
  readonly exit?: boolean;
  /**
   * Number of CPU programs. @defaultValue 0 to 1
   * @prop __type.min - fewest CPU programs
   * @prop __type.max - most CPU programs
   */
  readonly cpuPrograms?: { min: number; max: number };
  /**
   * Number of driver programs: threads of the process that make the driver's ioctls concurrently,
   * so that two migrations, evictions or releases of one device can overlap. @defaultValue 0 to 1
   * @prop __type.min - fewest driver programs
   * @prop __type.max - most driver programs
   */
  readonly driverPrograms?: { min: number; max: number };
  /** What-if changes to every scenario's kernel profile (see `Scenario.profileOverrides`). @defaultValue none */
  readonly profileOverrides?: Partial<Omit<KernelProfile, 'name'>>;
  /**
   * Swarm testing: half of the scenarios leave out a random subset of op kinds (each kind with
   * probability 1/2, keeping at least one per program kind), so rare combinations of the kinds
   * left in come up far more often than in one fixed mix. @defaultValue true
   */
  readonly swarm?: boolean;
  /**
   * Each scenario picks a hot page that about half of its addresses and ranges land on, so device
   * work, CPU ops, migrations and kernel work meet on the same page. @defaultValue true
   */
  readonly hotPage?: boolean;
  /**
   * Layouts that start with a transparent-huge-page region (`RegionSpec.thp`): 512 pages of
   * private anonymous read-write memory, populated by writes so each is under one PMD mapping
   * when the programs start; the other regions are drawn as usual after it. `true`: every
   * layout; `false`: none. Left out, one layout in 16: a scenario over a huge page costs about
   * ten times one without, and splits, PMD-wide invalidations and huge migrations are paths of
   * their own in a driver. @defaultValue one layout in 16
   */
  readonly thp?: boolean;
  /**
   * Layouts whose devices start with part of their memory held by other users
   * (`Scenario.deviceMemory`): nearly full (0 to 16 pages free) or in pieces (one page in every 2
   * to 512 held, so no huge device page). Migrations then run out of destinations or fall back
   * from huge pages to base pages: allocation-failure paths of their own in a driver. `true`:
   * every layout; `false`: none. Left out, one layout in 8. @defaultValue one layout in 8
   */
  readonly deviceMemory?: boolean;
  /**
   * End every run as a program ends (`Scenario.exitAtEnd`): the processes exit and the device
   * files close once the programs are done, so device memory or work a driver leaks shows at its
   * release. `false`: runs end with the programs. @defaultValue true
   */
  readonly exitAtEnd?: boolean;
}

/** What each field of a {@link ScenarioShape} holds, for {@link checkScenarioShape}. */
type ShapeField = 'layouts' | 'regionPages' | 'count' | 'programs' | 'devices' | 'flag' | 'commands' | 'profiles' | 'overrides' | 'words';

/** Every field of {@link ScenarioShape}: a field the interface gains must be added here. */
const SHAPE_FIELDS = {
  regions: 'layouts',
  pages: 'regionPages',
  ops: 'count',
  commands: 'commands',
  bindDevices: 'devices',
  devices: 'devices',
  profiles: 'profiles',
  wordsPerPage: 'words',
  kernelWork: 'flag',
  fork: 'flag',
  exit: 'flag',
  cpuPrograms: 'programs',
  driverPrograms: 'programs',
  profileOverrides: 'overrides',
  swarm: 'flag',
  hotPage: 'flag',
  thp: 'flag',
  deviceMemory: 'flag',
  exitAtEnd: 'flag',
} as const satisfies Record<keyof ScenarioShape, ShapeField>;

/** The least `min` of each kind of range. */
const RANGE_LEAST: Partial<Record<ShapeField, number>> = { layouts: 1, regionPages: 1, count: 0, programs: 0 };

/**
 * Checks a scenario shape, as given by a caller or an expected.json, and throws an error naming
 * the first bad field: an unknown field (a misspelt one would be left out of the campaign without
 * a word), a range that is not `{ min, max }` of integers with `min <= max`, a device count below
 * 1, an unknown profile or kernel what-if.
 */
export function checkScenarioShape(shape: ScenarioShape): void {
  const bad = (what: string): never => {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `scenario shape: ${what}`);
  };
  if (typeof shape !== 'object' || shape === null || Array.isArray(shape)) bad('expected an object like { "exit": true }');
  const fields: Readonly<Record<string, ShapeField>> = SHAPE_FIELDS;
  for (const [key, v] of Object.entries(shape)) {
    const kind = fields[key];
    if (kind === undefined) bad(`unknown field "${key}"; the fields are ${Object.keys(SHAPE_FIELDS).join(', ')}`);
    if (v === undefined) continue;
    const least = RANGE_LEAST[kind as ShapeField];
    if (least !== undefined) {
      const r = v as { min?: unknown; max?: unknown };
      const keys = typeof v === 'object' && v !== null ? Object.keys(v) : [];
      const ok =
        keys.length === 2 &&
        Number.isInteger(r.min) &&
        Number.isInteger(r.max) &&
        (r.min as number) >= least &&
        (r.max as number) >= (r.min as number) &&
        (kind !== 'regionPages' || (r.max as number) <= 1 << 20);
      if (!ok)
        bad(
          `${key} is ${JSON.stringify(v)}; expected { "min": m, "max": n } with integers ${least} <= m <= n${kind === 'regionPages' ? ` <= ${1 << 20}` : ''}`,
        );
    } else if (kind === 'devices') {
      if (!(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 64))
        bad(`${key} is ${JSON.stringify(v)}; expected an integer from 1 to 64`);
    } else if (kind === 'words') {
      if (!(Number.isInteger(v) && (v as number) >= 1 && 4096 % (v as number) === 0))
        bad(`${key} is ${JSON.stringify(v)}; expected a power of two from 1 to 4096 (words of a 4 KiB page)`);
    } else if (kind === 'flag') {
      if (typeof v !== 'boolean') bad(`${key} is ${JSON.stringify(v)}; expected true or false`);
    } else if (kind === 'commands') {
      if (!Array.isArray(v) || !v.every((c) => typeof c === 'string' && c !== '')) bad(`${key}: expected a list of command names`);
    } else if (kind === 'profiles') {
      if (!Array.isArray(v) || v.length === 0) bad(`${key}: expected at least one kernel API profile`);
      for (const p of v as unknown[])
        if (!PROFILE_NAMES.includes(p as ProfileName)) bad(`profile ${JSON.stringify(p)}: expected one of ${PROFILE_NAMES.join(', ')}`);
    } else if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      bad(`${key}: expected an object of kernel profile fields, like { "exclusiveRestoreOwner": "caller" }`);
    } else {
      try {
        kernelProfile('latest', v as Partial<Omit<KernelProfile, 'name'>>);
      } catch (e) {
        bad(`${key}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

/**
 * How one scenario biases its ops: a hot page most ops meet on, and op kinds it leaves out (swarm
 * testing). Both are drawn per scenario; neither appears in the scenario itself, which holds only
 * the ops they produced.
 */
export interface OpBias {
  /** The page about half of the addresses and ranges land on. */
  readonly hot?: { readonly region: number; readonly page: number };
  /** Op kinds (`OpSpec['op']`) to leave out; a program kind whose every op is left out keeps them all. */
  readonly omit?: ReadonlySet<string>;
}

/** Every op kind generated programs use, by program kind (the order swarm flags follow). */
const OP_KINDS = {
  cpu: ['read', 'write', 'munmap', 'mprotect', 'madvise', 'clear-refs', 'mremap', 'fork', 'exit', 'pin'],
  device: ['dev-read', 'dev-write', 'dev-atomic'],
  driver: ['migrate-to-device', 'migrate-to-ram', 'evict', 'make-exclusive', 'prefetch', 'unbind'],
  kernel: ['reclaim', 'compact', 'oom-reap'],
} as const;
const ALL_KINDS: readonly string[] = Object.values(OP_KINDS).flat();

/** Weighted op arbitraries, each with its op kind (`OpSpec['op']`). */
type KindedOps = (g.Weighted<OpSpec> & { kind: string })[];

/** Weighted op arbitraries without the kinds `bias.omit` leaves out (all of them if it leaves out every one). */
function pick(ops: KindedOps, bias: OpBias): g.Gen<OpSpec> {
  const kept = ops.filter((o) => !(bias.omit?.has(o.kind) ?? false));
  return g.oneof(...(kept.length > 0 ? kept : ops));
}

/** Layouts of which one, by default, starts with the THP region (`ScenarioShape.thp`). */
const THP_ONE_IN = 16;

/** Layouts of which one, by default, starts with device memory held (`ScenarioShape.deviceMemory`). */
const HELD_ONE_IN = 8;

/** Device memory other users hold: nearly full, or in pieces. */
const memoryHoldGen: g.Gen<MemoryHold> = g.oneof(g.record({ free: g.nat(16) }), g.record({ every: g.integer({ min: 2, max: 512 }) }));

/** The region `ScenarioShape.thp` puts first: one PMD's worth of THP memory, populated. */
const THP_REGION: RegionSpec = { pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true };

/** The generator of {@link regionArb}. */
function regionGen(pages: { min: number; max: number } = { min: 1, max: 4 }): g.Gen<RegionSpec> {
  return g.record({
    pages: g.integer(pages),
    prot: g.constantFrom('rw', 'rw', 'rw', 'r'),
    share: g.constantFrom('private', 'private', 'private', 'shared'),
    backing: g.constantFrom('anon', 'anon', 'anon', 'file'),
    populate: g.constantFrom('write', 'write', 'read', 'none'),
  }) as g.Gen<RegionSpec>;
}

/** A page of one of `regions`: `{ region, page }`, the hot page about half of the time. */
function atGen(regions: readonly RegionSpec[], hot?: OpBias['hot']): g.Gen<{ region: number; page: number; word: number }> {
  const inRegion = regions.map((r, region) =>
    g.record({ region: g.constant(region), page: g.integer({ min: 0, max: r.pages - 1 }), word: g.nat(3) }),
  );
  const any = g.integer({ min: 0, max: regions.length - 1 }).chain((region) => inRegion[region] as (typeof inRegion)[number]);
  if (hot === undefined) return any;
  return g.oneof(any, g.record({ region: g.constant(hot.region), page: g.constant(hot.page), word: g.nat(3) }));
}

/**
 * One of `regions`, the hot page's about half of the time: an op that takes a whole region (a
 * move) lands where the other ops meet, so later ops reach the region in its new place.
 */
function regionOf(regions: readonly RegionSpec[], hot?: OpBias['hot']): g.Gen<number> {
  const any = g.integer({ min: 0, max: regions.length - 1 });
  return hot === undefined ? any : g.oneof(any, g.constant(hot.region));
}

/** A page range of one region; about half of the time one that covers the hot page. */
function rangeGen(regions: readonly RegionSpec[], hot?: OpBias['hot']): g.Gen<{ region: number; page: number; pages: number }> {
  // Built once per region and page rather than inside `chain` for every draw (the draws are the
  // same), and only for the pages drawn: a THP region has 512 of them.
  type FromPage = g.Gen<{ region: number; page: number; pages: number }>;
  const inRegion = regions.map((r, region) => {
    const made: (FromPage | undefined)[] = [];
    return g.integer({ min: 0, max: r.pages - 1 }).chain((page): FromPage => {
      let a = made[page];
      if (a === undefined) {
        a = g.record({ region: g.constant(region), page: g.constant(page), pages: g.integer({ min: 1, max: r.pages - page }) });
        made[page] = a;
      }
      return a;
    });
  });
  // A quarter of the time the whole region, as drivers migrate and prefetch whole allocations: a
  // range that covers a THP region's PMD is what lets a migration move the huge page whole.
  const whole = regions.map((r, region) => g.constant({ region, page: 0, pages: r.pages }));
  const part = g.integer({ min: 0, max: regions.length - 1 }).chain((region) => inRegion[region] as (typeof inRegion)[number]);
  const all = g.integer({ min: 0, max: regions.length - 1 }).chain((region) => whole[region] as (typeof whole)[number]);
  const any = g.oneof({ gen: part, weight: 3 }, { gen: all, weight: 1 });
  if (hot === undefined) return any;
  const n = (regions[hot.region] as RegionSpec).pages;
  const covering = g
    .tuple(g.integer({ min: 0, max: hot.page }), g.integer({ min: hot.page, max: n - 1 }))
    .map(([first, last]) => ({ region: hot.region, page: first, pages: last - first + 1 }));
  return g.oneof(any, covering);
}

/**
 * A range over two regions: from a page of one through a page of another, so one call spans
 * several VMAs (and the driver ranges and notifiers behind them) and the gap between them.
 */
function spanGen(
  regions: readonly RegionSpec[],
): g.Gen<{ region: number; page: number; pages: number; through: { region: number; page: number } }> {
  const page = (region: number) => g.integer({ min: 0, max: (regions[region] as RegionSpec).pages - 1 });
  const maxD = Math.max(1, regions.length - 1);
  // One record per (first region, distance), built once rather than inside `chain` for every draw.
  const spans = regions.map((_, a) =>
    Array.from({ length: maxD }, (_x, i) => {
      const b = (a + i + 1) % regions.length;
      return g.record({
        region: g.constant(a),
        page: page(a),
        pages: g.constant(1),
        through: g.record({ region: g.constant(b), page: page(b) }),
      });
    }),
  );
  return g
    .tuple(g.integer({ min: 0, max: regions.length - 1 }), g.integer({ min: 1, max: maxD }))
    .chain(([a, d]) => (spans[a] as (typeof spans)[number])[d - 1] as (typeof spans)[number][number]);
}

const valueGen = g.integer({ min: 1, max: 999 });

/** Types an op literal. */
const op = (o: OpSpec): OpSpec => o;

/** The generator of {@link cpuOpArb}. */
export function cpuOpGen(regions: readonly RegionSpec[], options: { fork?: boolean; exit?: boolean } & OpBias = {}): g.Gen<OpSpec> {
  return pick(cpuOps(regions, options), options);
}

/** The weighted CPU ops of {@link cpuOpGen}, before the bias leaves kinds out. */
function cpuOps(regions: readonly RegionSpec[], options: { fork?: boolean; exit?: boolean } & OpBias): KindedOps {
  const at = atGen(regions, options.hot);
  const range = rangeGen(regions, options.hot);
  const ops: KindedOps = [
    { kind: 'read', weight: 4, gen: at.map((a) => op({ op: 'read', ...a })) },
    { kind: 'write', weight: 5, gen: g.tuple(at, valueGen).map(([a, value]) => op({ op: 'write', ...a, value })) },
    { kind: 'munmap', weight: 2, gen: range.map((r) => op({ op: 'munmap', ...r })) },
    {
      kind: 'mprotect',
      weight: 2,
      gen: g.tuple(range, g.constantFrom('r', 'none', 'rw')).map(([r, prot]) => op({ op: 'mprotect', ...r, prot })),
    },
    {
      kind: 'madvise',
      weight: 2,
      gen: g.tuple(range, g.constantFrom('dontneed', 'free', 'nohugepage')).map(([r, advice]) => op({ op: 'madvise', ...r, advice })),
    },
    // And MADV_DONTNEED once more: it zaps under mmap_lock held for read (mm/madvise.c
    // madvise_need_mmap_write), so of the CPU's zaps it alone can run inside a device fault or
    // migration, which hold the same lock for read, and clear their migration entries (munmap
    // waits for the lock; MADV_FREE leaves non-present entries, madvise_free_pte_range). The
    // other advice keeps its share: MADV_NOHUGEPAGE splits VMAs under a driver's ranges.
    { kind: 'madvise', weight: 1, gen: range.map((r) => op({ op: 'madvise', ...r, advice: 'dontneed' })) },
    { kind: 'clear-refs', weight: 1, gen: g.constant({ op: 'clear-refs' }) },
    { kind: 'mremap', weight: 1, gen: regionOf(regions, options.hot).map((region) => op({ op: 'mremap', region })) },
    {
      kind: 'pin',
      weight: 1,
      gen: g.tuple(at, g.boolean()).map(([a, write]) => op({ op: 'pin', region: a.region, page: a.page, write })),
    },
  ];
  if (regions.length > 1) {
    const across = spanGen(regions);
    ops.push(
      { kind: 'munmap', weight: 1, gen: across.map((r) => op({ op: 'munmap', ...r })) },
      {
        kind: 'mprotect',
        weight: 1,
        gen: g.tuple(across, g.constantFrom('r', 'none', 'rw')).map(([r, prot]) => op({ op: 'mprotect', ...r, prot })),
      },
    );
  }
  if (options.fork ?? true) ops.push({ kind: 'fork', weight: 2, gen: g.constant({ op: 'fork' }) });
  if (options.exit ?? false) ops.push({ kind: 'exit', weight: 1, gen: g.constant({ op: 'exit' }) });
  return ops;
}

/** The generator of {@link deviceOpArb}. */
export function deviceOpGen(regions: readonly RegionSpec[], devices = 1, bias: OpBias = {}): g.Gen<OpSpec> {
  return pick(deviceOps(regions, devices, bias.hot), bias);
}

/** The weighted device ops of {@link deviceOpGen}, before the bias leaves kinds out. */
function deviceOps(regions: readonly RegionSpec[], devices: number, hot: OpBias['hot']): KindedOps {
  const at = atGen(regions, hot);
  const range = rangeGen(regions, hot);
  const device = g.integer({ min: 0, max: Math.max(0, devices - 1) });
  return [
    {
      kind: 'dev-read',
      weight: 1,
      gen: g.tuple(range, device).map(([r, d]) => op({ op: 'dev-read', ...r, device: d })),
    },
    {
      kind: 'dev-write',
      weight: 1,
      gen: g.tuple(range, valueGen, device).map(([r, value, d]) => op({ op: 'dev-write', ...r, value, device: d })),
    },
    { kind: 'dev-read', weight: 3, gen: g.tuple(at, device).map(([a, d]) => op({ op: 'dev-read', ...a, device: d })) },
    {
      kind: 'dev-write',
      weight: 4,
      gen: g.tuple(at, valueGen, device).map(([a, value, d]) => op({ op: 'dev-write', ...a, value, device: d })),
    },
    { kind: 'dev-atomic', weight: 1, gen: g.tuple(at, device).map(([a, d]) => op({ op: 'dev-atomic', ...a, device: d })) },
  ];
}

/** The generator of {@link driverOpArb}. */
export function driverOpGen(
  regions: readonly RegionSpec[],
  bias: OpBias = {},
  commands: readonly string[] = [],
  bindDevices = 1,
): g.Gen<OpSpec> {
  return pick(driverOps(regions, bias.hot, commands, bindDevices), bias);
}

/** The weighted driver actions of {@link driverOpGen}, before the bias leaves kinds out. */
function driverOps(regions: readonly RegionSpec[], hot: OpBias['hot'], commands: readonly string[], bindDevices: number): KindedOps {
  const plain = rangeGen(regions, hot);
  const range: g.Gen<{ region: number; page: number; pages: number; device?: number }> =
    bindDevices > 1
      ? g
          .tuple(plain, g.oneof(g.constant(0), g.integer({ min: 1, max: bindDevices - 1 })))
          .map(([r, device]) => (device === 0 ? r : { ...r, device }))
      : plain;
  const extra: KindedOps =
    commands.length === 0
      ? []
      : [
          {
            kind: 'command',
            weight: 2,
            gen: g.tuple(plain, g.constantFrom(...commands)).map(([r, name]) => op({ op: 'command', ...r, name })),
          },
        ];
  return [
    { kind: 'migrate-to-device', weight: 4, gen: range.map((r) => op({ op: 'migrate-to-device', ...r })) },
    { kind: 'migrate-to-ram', weight: 2, gen: range.map((r) => op({ op: 'migrate-to-ram', ...r })) },
    { kind: 'evict', weight: 1, gen: g.constant({ op: 'evict' }) },
    { kind: 'make-exclusive', weight: 2, gen: range.map((r) => op({ op: 'make-exclusive', ...r })) },
    { kind: 'prefetch', weight: 2, gen: g.tuple(range, g.boolean()).map(([r, write]) => op({ op: 'prefetch', ...r, write })) },
    { kind: 'unbind', weight: 1, gen: g.constant({ op: 'unbind' }) },
    ...extra,
  ];
}

/** The generator of {@link kernelOpArb}. */
export function kernelOpGen(regions: readonly RegionSpec[], bias: OpBias = {}): g.Gen<OpSpec> {
  return pick(kernelOps(regions, bias.hot), bias);
}

/** The weighted kernel work of {@link kernelOpGen}, before the bias leaves kinds out. */
function kernelOps(regions: readonly RegionSpec[], hot: OpBias['hot']): KindedOps {
  const at = atGen(regions, hot);
  return [
    { kind: 'reclaim', weight: 3, gen: at.map((a) => op({ op: 'reclaim', region: a.region, page: a.page })) },
    { kind: 'compact', weight: 3, gen: at.map((a) => op({ op: 'compact', region: a.region, page: a.page })) },
    { kind: 'oom-reap', weight: 1, gen: g.constant({ op: 'oom-reap' }) },
  ];
}

function task(kind: TaskSpec['kind'], op: g.Gen<OpSpec>, ops: { min: number; max: number }): g.Gen<TaskSpec> {
  return g.array(op, { minLength: ops.min, maxLength: ops.max }).map((list) => ({ kind, ops: list }));
}

/** A scenario's op bias over `regions`: a hot page and the op kinds left out, as the shape asks. */
function biasGen(regions: readonly RegionSpec[], shape: ScenarioShape): g.Gen<OpBias> {
  const hotIn = regions.map((r, region) => g.record({ region: g.constant(region), page: g.integer({ min: 0, max: r.pages - 1 }) }));
  const hot =
    (shape.hotPage ?? true)
      ? g
          .integer({ min: 0, max: regions.length - 1 })
          .chain((region) => hotIn[region] as (typeof hotIn)[number])
          .map((h): { region: number; page: number } | undefined => h)
      : g.constant(undefined);
  // One flag per kind; a flag shrinks to false, "keep", so shrinking goes back to the full mix.
  // Half of the scenarios keep the full mix: bugs that need many op kinds at once stay cheap.
  // A driver with extra commands has one more flag, after the others.
  const kinds = (shape.commands ?? []).length > 0 ? [...ALL_KINDS, 'command'] : ALL_KINDS;
  const flags = g.array(g.boolean(), { minLength: kinds.length, maxLength: kinds.length });
  const omit = (shape.swarm ?? true) ? g.oneof(g.constant([]), flags) : g.constant([]);
  return g.tuple(hot, omit).map(([h, flags]) => ({
    ...(h !== undefined ? { hot: h } : {}),
    omit: new Set(kinds.filter((_, i) => flags[i] === true)),
  }));
}

/** What {@link scenarioGen} keeps per shape (at most {@link CACHE_LIMIT} entries per map). */
interface ShapeCache {
  /** Bias arbitraries, by layout ({@link layoutKey}). */
  readonly bias: Map<string, g.Gen<OpBias>>;
  /** Each program kind's weighted ops, by layout and hot page. */
  readonly ops: Map<string, ProgramOps>;
  /** The programs of a scenario that leaves no op kind out, by layout and hot page. */
  readonly programs: Map<string, g.Gen<TaskSpec[][]>>;
}

/** Each program kind's weighted ops over one layout, with one hot page. */
interface ProgramOps {
  readonly cpu: KindedOps;
  readonly device: KindedOps;
  readonly driver: KindedOps;
  readonly kernel: KindedOps;
}

/** Entries each cache keeps before it starts over (a bound on memory, not on what is drawn). */
const CACHE_LIMIT = 4096;

/** The most pages of the region of a hot page whose arbitraries {@link scenarioGen} keeps. */
const HOT_CACHE_PAGES = 64;

/**
 * The most regions of a layout whose arbitraries {@link scenarioGen} keeps: a shape of many
 * regions rarely draws a layout twice, and each one's op arbitraries are megabytes.
 */
const CACHE_REGIONS = 8;

/** What {@link scenarioGen} keeps, by shape: a campaign builds its arbitrary again for every epoch. */
const byShape = new Map<string, ShapeCache>();

/** `cache`'s entry for `key`, made by `make` if missing. */
function cached<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    v = make();
    cache.set(key, v);
  }
  return v;
}

/** What op arbitraries depend on in a layout: the number of pages of each region. */
function layoutKey(regions: readonly RegionSpec[]): string {
  let key = '';
  for (const r of regions) key += `${r.pages},`;
  return key;
}

/** The generator of {@link scenarioArb}. */
export function scenarioGen(shape: ScenarioShape = {}): g.Gen<Scenario> {
  checkScenarioShape(shape);
  const cache = cached(byShape, JSON.stringify(shape), (): ShapeCache => ({ bias: new Map(), ops: new Map(), programs: new Map() }));
  const profiles = shape.profiles ?? ['latest'];
  const ops = shape.ops ?? { min: 1, max: 4 };
  const drawn = g.array(regionGen(shape.pages), { minLength: shape.regions?.min ?? 1, maxLength: shape.regions?.max ?? 2 });
  const withThp = drawn.map((rs): RegionSpec[] => [THP_REGION, ...rs]);
  const layout =
    shape.thp === true
      ? withThp
      : shape.thp === false
        ? drawn
        : g.oneof({ gen: drawn, weight: THP_ONE_IN - 1 }, { gen: withThp, weight: 1 });
  const held: g.Gen<MemoryHold | undefined> =
    shape.deviceMemory === true
      ? memoryHoldGen
      : shape.deviceMemory === false
        ? g.constant(undefined)
        : g.oneof({ gen: g.constant(undefined), weight: HELD_ONE_IN - 1 }, { gen: memoryHoldGen, weight: 1 });
  const programs = (lists: ProgramOps, bias: OpBias): g.Gen<TaskSpec[][]> => {
    const tasks: g.Gen<TaskSpec[]>[] = [
      g.array(task('device', pick(lists.device, bias), ops), { minLength: 1, maxLength: 2 }),
      g.array(task('cpu', pick(lists.cpu, bias), ops), {
        minLength: shape.cpuPrograms?.min ?? 0,
        maxLength: shape.cpuPrograms?.max ?? 1,
      }),
      g.array(task('driver', pick(lists.driver, bias), ops), {
        minLength: shape.driverPrograms?.min ?? 0,
        maxLength: shape.driverPrograms?.max ?? 1,
      }),
    ];
    if (shape.kernelWork ?? true)
      tasks.push(g.array(task('kernel', pick(lists.kernel, bias), { min: 1, max: 2 }), { minLength: 0, maxLength: 1 }));
    return g.tuple(...tasks);
  };
  return g
    .tuple(layout, g.constantFrom(...profiles), held)
    .chain(([regions, profile, hold]) =>
      (regions.length <= CACHE_REGIONS
        ? cached(cache.bias, layoutKey(regions), () => biasGen(regions, shape))
        : biasGen(regions, shape)
      ).map((bias) => [regions, profile, hold, bias] as const),
    )
    .chain(([regions, profile, hold, bias]) => {
      const where = `${layoutKey(regions)}|${bias.hot === undefined ? '' : `${bias.hot.region}:${bias.hot.page}`}`;
      const make = (): ProgramOps => ({
        device: deviceOps(regions, shape.devices ?? 1, bias.hot),
        cpu: cpuOps(regions, { fork: shape.fork ?? true, exit: shape.exit ?? true, ...(bias.hot !== undefined ? { hot: bias.hot } : {}) }),
        driver: driverOps(regions, bias.hot, shape.commands ?? [], shape.bindDevices ?? 1),
        kernel: kernelOps(regions, bias.hot),
      });
      // A hot page in a large region (the THP region's 512 pages) is rarely drawn twice, nor is a
      // layout of many regions: their arbitraries are made for the one draw and not kept, as kept
      // ones would outlive young collections and push out the layouts that do come back.
      const keep =
        regions.length <= CACHE_REGIONS && (bias.hot === undefined || (regions[bias.hot.region] as RegionSpec).pages <= HOT_CACHE_PAGES);
      const lists = keep ? cached(cache.ops, where, make) : make();
      // A scenario that leaves no kind out (half of them) reuses the whole programs arbitrary.
      const groups =
        keep && (bias.omit === undefined || bias.omit.size === 0)
          ? cached(cache.programs, where, () => programs(lists, bias))
          : programs(lists, bias);
      return groups.map((programs) => ({
        profile,
        ...(shape.profileOverrides !== undefined ? { profileOverrides: shape.profileOverrides } : {}),
        wordsPerPage: shape.wordsPerPage ?? 2,
        ...(hold !== undefined ? { deviceMemory: hold } : {}),
        ...((shape.exitAtEnd ?? true) ? { exitAtEnd: true } : {}),
        regions,
        tasks: programs.flat(),
      }));
    });
}

/** The generator of {@link profileArb}. */
function profileGen(profiles: readonly ProfileName[]): g.Gen<ProfileName> {
  return g.constantFrom(...profiles);
}

/** A region of the layout: mostly private anonymous read-write memory, populated. */
export function regionArb(pages: { min: number; max: number } = { min: 1, max: 4 }): fc.Arbitrary<RegionSpec> {
  return regionGen(pages).arb;
}

/** One CPU op: loads and stores most of the time, and every syscall that changes mappings. */
export function cpuOpArb(regions: readonly RegionSpec[], options: { fork?: boolean; exit?: boolean } & OpBias = {}): fc.Arbitrary<OpSpec> {
  return cpuOpGen(regions, options).arb;
}

/**
 * One device access: mostly of one word; sometimes of a range of pages in one go (a driver's copy
 * command, or a burst over several pages), often up to the region's end, so a loop over the
 * range meets its last page and the VMA boundary after it.
 */
export function deviceOpArb(regions: readonly RegionSpec[], devices = 1, bias: OpBias = {}): fc.Arbitrary<OpSpec> {
  return deviceOpGen(regions, devices, bias).arb;
}

/**
 * One driver action: its migrations, evictions, exclusive access, prefetch and release, and its
 * extra `commands`; with `bindDevices` above 1, a range action goes through another device's
 * binding about half of the time.
 */
export function driverOpArb(
  regions: readonly RegionSpec[],
  bias: OpBias = {},
  commands: readonly string[] = [],
  bindDevices = 1,
): fc.Arbitrary<OpSpec> {
  return driverOpGen(regions, bias, commands, bindDevices).arb;
}

/** One piece of kernel background work. */
export function kernelOpArb(regions: readonly RegionSpec[], bias: OpBias = {}): fc.Arbitrary<OpSpec> {
  return kernelOpGen(regions, bias).arb;
}

/**
 * A whole scenario: a layout, one or two device programs, a CPU program, and optionally a driver
 * program (or as many as `shape.driverPrograms` says) and kernel background work. Each scenario
 * draws its own op bias (a hot page, a swarm subset of op kinds; see {@link ScenarioShape}); the
 * scenario holds only the ops themselves.
 *
 * The generators a layout needs are built once per shape, layout and hot page and kept, each with
 * its arbitrary once built (fast-check arbitraries hold no state), rather than inside `chain` for
 * every scenario: each seed draws, and each shrink tries, exactly what building them afresh would.
 */
export function scenarioArb(shape: ScenarioShape = {}): fc.Arbitrary<Scenario> {
  return scenarioGen(shape).arb;
}

/** A kernel API profile among `profiles`. */
export function profileArb(profiles: readonly ProfileName[]): fc.Arbitrary<ProfileName> {
  return profileGen(profiles).arb;
}
