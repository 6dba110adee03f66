/**
 * A driver module for the fuzz package's specs: the flushing mirror, whose callback hangs on a
 * soft-dirty invalidation (`clear-refs`), which a campaign seeded 9 first makes in its run 87.
 */
import { MMU_NOTIFY_SOFT_DIRTY } from '@hmmlab/core';
import { mirror } from './test-mirror.js';

export default mirror(true, (range) => range.event === MMU_NOTIFY_SOFT_DIRTY);
