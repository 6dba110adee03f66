/**
 * Campaign coverage: which (event × owner match × page kind × blockable × device state × race
 * window × callback outcome) cells and which race windows were reached, merged over runs, and
 * which expected cells were never reached, so that "no violation" is not mistaken for "safe".
 */
import type { Coverage, FlushCounts, FlushMetrics } from '@hmmlab/assertions';
import { RACE_WINDOWS, WINDOWS } from '../windows.js';
import { emptyCounts } from './counts.js';

export { WINDOWS };

/** Adds `b` into `a`. */
export function mergeCoverage(a: Record<string, Record<string, number>>, b: Coverage): void {
  mergeCounts((a.cells ??= {}), b.cells);
  mergeCounts((a.windows ??= {}), b.windows);
}

/** Adds the counts of `from` into `into`, key by key (no entry pair made per key). */
function mergeCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const k of Object.keys(from)) into[k] = (into[k] ?? 0) + (from[k] as number);
}

/** Adds `b` into `a`. */
export function mergeFlushes(a: { total: FlushCounts; byEvent: Record<string, FlushCounts> }, b: FlushMetrics): void {
  addCounts(a.total, b.total);
  for (const ev of Object.keys(b.byEvent)) addCounts((a.byEvent[ev] ??= emptyCounts()), b.byEvent[ev] as FlushCounts);
}

function addCounts(x: FlushCounts, y: FlushCounts): void {
  x.needed += y.needed;
  x.performed += y.performed;
  x.missed += y.missed;
  x.unnecessary += y.unnecessary;
  x.legalSkips += y.legalSkips;
}

/** What a driver can meet: whether it has device memory, coherent memory, several owners. */
export interface CoverageUniverse {
  /** The driver has device memory (device-private or coherent pages can be met). */
  readonly deviceMemory: boolean;
  /** The device memory is coherent (`MEMORY_DEVICE_COHERENT`). */
  readonly coherent: boolean;
  /** Invalidations may carry another owner than the device's own (several owners in play). */
  readonly foreignOwners: boolean;
}

/** Fields of a cell key that {@link expectedCells} lists: event, owner match, page kind, blockable, device state. */
const BASE_FIELDS = 5;

/**
 * The expected-cell part of a reached cell key: its first five fields. The race window and the
 * callback outcome depend on what the driver does, not on what it can meet, so the expected
 * universe leaves them out; campaign feedback uses the whole key.
 */
export function baseCell(key: string): string {
  return key.split('|').slice(0, BASE_FIELDS).join('|');
}

/** How much of its universe a campaign reached, and plain notes when it explored little. */
export interface CoverageSummary {
  /** Expected cells (the driver's universe). */
  readonly expected: number;
  /** Expected cells reached. */
  readonly reached: number;
  /** Distinct cells reached, with race window and callback outcome. */
  readonly distinct: number;
  /** Unreached expected cells grouped compactly: `EVENT owner blockable state: kind, kind`. */
  readonly unreached: readonly string[];
  /** Why this campaign's coverage is thin (empty when it is not). */
  readonly notes: readonly string[];
}

/**
 * Runs from which a campaign in which no invalidation met a device translation says it is the
 * driver's doing: campaigns of the seven example drivers, seeded 1 to 20, met their first device
 * translation by run 33, half of them by run 3.
 */
const TELLING_RUNS = 100;

/** Share of the expected cells below which a campaign says it explored little. */
const THIN_SHARE = 0.5;

/** Summarises a campaign's coverage against the driver's expected cells. */
export function summarizeCoverage(
  u: CoverageUniverse,
  coverage: { cells: Record<string, number>; windows: Record<string, number> },
  runs: number,
  stoppedAtFailure = false,
): CoverageSummary {
  const expected = expectedCells(u);
  const reachedBase = new Set(Object.keys(coverage.cells).map(baseCell));
  const missing = expected.filter((c) => !reachedBase.has(c));
  const reached = expected.length - missing.length;
  const groups = new Map<string, string[]>();
  for (const c of missing) {
    const [ev, own, kind, blk, state] = c.split('|') as [string, string, string, string, string];
    const head = `${ev} ${own} ${blk} ${state}`;
    groups.set(head, [...(groups.get(head) ?? []), kind]);
  }
  return {
    expected: expected.length,
    reached,
    distinct: Object.keys(coverage.cells).length,
    unreached: [...groups].map(([head, kinds]) => `${head}: ${kinds.join(', ')}`),
    notes: coverageNotes(expected.length, reached, coverage, runs, stoppedAtFailure),
  };
}

/**
 * Why a campaign's coverage is thin, one sentence each: `reached` of `expected` expected cells
 * and the cells and windows of `coverage`, over `runs` runs. None for a campaign that stopped at a
 * violation: it was cut short on purpose, its coverage is not a claim.
 */
export function coverageNotes(
  expected: number,
  reached: number,
  coverage: { cells: Record<string, number>; windows: Record<string, number> },
  runs: number,
  stoppedAtFailure: boolean,
): string[] {
  const notes: string[] = [];
  const windows = RACE_WINDOWS.filter((w) => (coverage.windows[w] ?? 0) > 0).length;
  // A cell records whether the device translated the page (`|mapped|`) or not (`|unmapped|`).
  const mapped = Object.keys(coverage.cells).some((c) => c.includes('|mapped|'));
  if (!stoppedAtFailure && Object.keys(coverage.cells).length === 0) {
    notes.push(`no invalidation met a device translation in ${runs} run(s): the campaign did not exercise the driver's callbacks`);
  } else if (!stoppedAtFailure && !mapped && runs < TELLING_RUNS) {
    notes.push(
      `no invalidation met a device translation in only ${runs} run(s): too few to tell whether the device ever has a page mapped when one comes (more --runs)`,
    );
  } else if (!stoppedAtFailure && !mapped) {
    notes.push(
      `no invalidation met a device translation in ${runs} run(s): the device never had a page mapped when one came (do its faults fail, or does it make no access?), so the callbacks' flushes were never needed; more runs will not change that`,
    );
  } else if (!stoppedAtFailure && reached < expected * THIN_SHARE) {
    notes.push(`only ${reached} of ${expected} expected cells reached: the campaign explored little (more --runs, or another --seed)`);
  }
  if (!stoppedAtFailure && windows === 0)
    notes.push('no race window reached: no interleaving of device work with an invalidation or a migration was tried');
  return notes;
}

/**
 * The cells a campaign should reach for a driver: every event the kernel sends with device
 * translations present, on every page kind the driver can meet, in the blockability and owner
 * variants the kernel uses for that event (its own migrations only with device memory).
 */
export function expectedCells(u: CoverageUniverse): string[] {
  const kinds = ['system', 'zero'];
  if (u.deviceMemory) kinds.push('own-device-private');
  if (u.deviceMemory && u.foreignOwners) kinds.push('foreign-device-private');
  if (u.coherent) kinds.push('coherent');
  const variants: [string, string, string][] = [
    ['MMU_NOTIFY_UNMAP', 'none', 'blockable'],
    ['MMU_NOTIFY_CLEAR', 'none', 'blockable'],
    ['MMU_NOTIFY_UNMAP', 'none', 'nonblockable'],
    ['MMU_NOTIFY_PROTECTION_VMA', 'none', 'blockable'],
    ['MMU_NOTIFY_PROTECTION_PAGE', 'none', 'blockable'],
    ['MMU_NOTIFY_SOFT_DIRTY', 'none', 'blockable'],
  ];
  // Its own migrations move pages to or from its own memory: none without device memory.
  if (u.deviceMemory) variants.push(['MMU_NOTIFY_MIGRATE', 'own', 'blockable']);
  if (u.foreignOwners) variants.push(['MMU_NOTIFY_MIGRATE', 'foreign', 'blockable']);
  const out: string[] = [];
  for (const [ev, own, blk] of variants) {
    for (const kind of kinds) {
      if (ev === 'MMU_NOTIFY_MIGRATE' && kind === 'zero') continue;
      // The zero page's entry is read-only and clean: fork's write-protect (mm/memory.c
      // copy_present_pte) and clear_refs' soft-dirty pass (fs/proc/task_mmu.c clear_soft_dirty)
      // leave it as it was, so no entry changes under those events.
      if ((ev === 'MMU_NOTIFY_PROTECTION_PAGE' || ev === 'MMU_NOTIFY_SOFT_DIRTY') && kind === 'zero') continue;
      if (
        ev !== 'MMU_NOTIFY_MIGRATE' &&
        kind.includes('device-private') &&
        ev !== 'MMU_NOTIFY_UNMAP' &&
        ev !== 'MMU_NOTIFY_CLEAR' &&
        ev !== 'MMU_NOTIFY_PROTECTION_VMA'
      )
        continue;
      out.push(`${ev}|${own}|${kind}|${blk}|mapped`);
    }
  }
  return out;
}
