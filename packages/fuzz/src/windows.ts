/**
 * The race windows a campaign can require (`--require-window`), in a module of their own so that
 * the command line can list them without loading the fuzzer.
 *
 * @module @hmmlab/fuzz/windows
 */

/** The race windows: device work interleaved with an invalidation or a migration. */
export const RACE_WINDOWS = ['device-access-during-invalidation', 'invalidation-during-device-fault', 'copy-during-migration'] as const;

/**
 * Race windows the oracle recognises, then the workload shapes it counts beside them (the zero
 * page mapped by a device and filled under it, a partial migration, one invalidation over several
 * VMAs or notifiers, two CPU faults on one device page, a device writing a page MADV_FREE left
 * lazily freeable, a device access failed with "try again" made again at rest: `SHAPE_WINDOWS` of
 * @hmmlab/assertions, which a test keeps in step).
 */
export const WINDOWS = [
  ...RACE_WINDOWS,
  'zero-page-mapped-by-device',
  'zero-page-filled-under-device',
  'partial-migration',
  'zap-during-migration-to-device',
  'zap-during-migration-to-ram',
  'huge-page-migrated-whole',
  'huge-page-split-for-migration',
  'multi-vma-invalidation',
  'multi-notifier-invalidation',
  'cpu-faults-on-one-device-page',
  'device-write-to-lazyfree-page',
  'device-fault-retried-at-rest',
] as const;
