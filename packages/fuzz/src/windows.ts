/**
 * The race windows a campaign can require (`--require-window`), in a module of their own so that
 * the command line can list them without loading the fuzzer.
 */

/** Race windows the oracle recognises. */
export const WINDOWS = ['device-access-during-invalidation', 'invalidation-during-device-fault', 'copy-during-migration'] as const;
