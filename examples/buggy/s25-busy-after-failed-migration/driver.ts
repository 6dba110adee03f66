/**
 * S25 (synthetic): the mirror marks the range its own migration to device memory moves as busy,
 * and its fault path answers a device fault in a busy range with `-EAGAIN`: the device replays
 * the access later, as a GPU's replayable fault is retried while its driver moves the range. The
 * migration clears the mark once it returns, except on its error path: a range with a hole in
 * it (`migrate_vma_setup` finds no VMA there, `-EINVAL`) returns early and leaves the mark set.
 * From then on every device fault in the range fails, though the process can still use that
 * memory and nothing is moving it.
 */
import { EAGAIN } from '@hmmlab/core';
import type { DeviceFault } from '@hmmlab/harness';
import { svmDriver } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

/** A range `[start, end)` a migration of the mirror is moving. */
export interface BusyRange {
  readonly start: number;
  readonly end: number;
}

export class BusyWhileMigrating extends SvmMirror {
  /** The ranges its migrations are moving. */
  readonly busy: BusyRange[] = [];

  /** A fault in a range being moved: replay later. */
  override fault(f: DeviceFault): Promise<number> {
    return this.busy.some((b) => f.va >= b.start && f.va < b.end) ? Promise.resolve(-EAGAIN) : super.fault(f);
  }

  override async migrateToDevice(start: number, end: number): Promise<number> {
    const mark: BusyRange = { start, end };
    this.busy.push(mark);
    return this.moved(mark, await super.migrateToDevice(start, end));
  }

  /** The migration of `mark` returned `r`. */
  moved(mark: BusyRange, r: number): number {
    // S25: the error path returns before the mark is cleared.
    if (r < 0) return r;
    this.unmark(mark);
    return r;
  }

  unmark(mark: BusyRange): void {
    this.busy.splice(this.busy.indexOf(mark), 1);
  }
}

export default svmDriver({
  name: 's25-busy-after-failed-migration',
  description: 'S25: a migration that fails leaves its range marked busy, and the fault path fails every device fault there',
  mirror: BusyWhileMigrating,
});
