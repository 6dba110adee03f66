import type { FlushCounts } from '@hmmlab/assertions';

/** A zeroed {@link FlushCounts}. */
export function emptyCounts(): FlushCounts {
  return { needed: 0, performed: 0, missed: 0, unnecessary: 0, legalSkips: 0 };
}
