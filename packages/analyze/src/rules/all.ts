/** Every lint rule, in report order. */
import { clearWithoutFlush } from './clear-without-flush.js';
import { dmaUnmapWhileMapped } from './dma-unmap-while-mapped.js';
import { eventFallthrough } from './event-fallthrough.js';
import { lockLeak } from './lock-leak.js';
import { ownerWithoutEvent } from './owner-without-event.js';
import { removeInCallback } from './remove-in-callback.js';
import { retryOutsideLock } from './retry-outside-lock.js';
import { revokeWithoutDirty } from './revoke-without-dirty.js';
import type { Rule } from './rule.js';
import { setSeqOutsideLock } from './set-seq-outside-lock.js';
import { skipAnyOwner } from './skip-any-owner.js';
import { skipBeforeSetSeq } from './skip-before-set-seq.js';
import { sleepWhenNonblockable } from './sleep-when-nonblockable.js';
import { startFailsWithEnd } from './start-fails-with-end.js';
import { trueWhenNonblockable } from './true-when-nonblockable.js';
import { unsharedDriverState } from './unshared-driver-state.js';

/** The rules `lint` runs, in report order. */
export const RULES: readonly Rule[] = [
  ownerWithoutEvent,
  skipBeforeSetSeq,
  skipAnyOwner,
  setSeqOutsideLock,
  retryOutsideLock,
  sleepWhenNonblockable,
  trueWhenNonblockable,
  startFailsWithEnd,
  lockLeak,
  removeInCallback,
  eventFallthrough,
  clearWithoutFlush,
  dmaUnmapWhileMapped,
  revokeWithoutDirty,
  unsharedDriverState,
];
