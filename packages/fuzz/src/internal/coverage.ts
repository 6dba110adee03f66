/**
 * Campaign coverage: which (event × owner match × page kind × blockable × device state) cells and
 * which race windows were reached, merged over runs, and which were never reached, so that "no
 * violation" is not mistaken for "safe".
 */
import { type Coverage, type FlushCounts, type FlushMetrics, SHAPE_WINDOWS } from '@hmmlab/assertions';
import { emptyCounts } from './counts.js';

/**
 * Race windows the oracle recognises, then the workload shapes it counts beside them (the zero
 * page mapped by a device and filled under it, a partial migration, one invalidation over several
 * VMAs or notifiers).
 */
export const WINDOWS = [
  'device-access-during-invalidation',
  'invalidation-during-device-fault',
  'copy-during-migration',
  ...SHAPE_WINDOWS,
] as const;

/** Adds `b` into `a`. */
export function mergeCoverage(a: Record<string, Record<string, number>>, b: Coverage): void {
  for (const kind of ['cells', 'windows'] as const) {
    const into = (a[kind] ??= {});
    for (const [k, n] of Object.entries(b[kind])) into[k] = (into[k] ?? 0) + n;
  }
}

/** Adds `b` into `a`. */
export function mergeFlushes(a: { total: FlushCounts; byEvent: Record<string, FlushCounts> }, b: FlushMetrics): void {
  const add = (x: FlushCounts, y: FlushCounts): void => {
    x.needed += y.needed;
    x.performed += y.performed;
    x.missed += y.missed;
    x.unnecessary += y.unnecessary;
    x.legalSkips += y.legalSkips;
  };
  add(a.total, b.total);
  for (const [ev, c] of Object.entries(b.byEvent)) {
    const into = (a.byEvent[ev] ??= emptyCounts());
    add(into, c);
  }
}

/** What a driver can meet: whether it has device memory, coherent memory, several owners. */
export interface CoverageUniverse {
  readonly deviceMemory: boolean;
  readonly coherent: boolean;
  readonly foreignOwners: boolean;
}

/**
 * The cells a campaign should reach for a driver: every event the kernel sends with device
 * translations present, on every page kind the driver can meet, in the blockability and owner
 * variants the kernel uses for that event.
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
    ['MMU_NOTIFY_MIGRATE', 'own', 'blockable'],
  ];
  if (u.foreignOwners) variants.push(['MMU_NOTIFY_MIGRATE', 'foreign', 'blockable']);
  const out: string[] = [];
  for (const [ev, own, blk] of variants) {
    for (const kind of kinds) {
      if (ev === 'MMU_NOTIFY_MIGRATE' && kind === 'zero') continue;
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
