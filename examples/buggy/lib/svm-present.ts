/**
 * xe's presence bitmap (xe_svm.c: `range->tile_present`, tested in xe_svm_invalidate): the GPU
 * binds memory in ranges of several pages, remembers which are bound, and its invalidation skips a
 * range that is not bound and zaps a bound one whole. The skip is legal only when the bit is set
 * under the notifier lock, after `mmu_interval_read_retry` (the N4 control); the bitmap is a
 * `SharedMap` so that the oracle sees every task that touches it.
 */
import { type Mm, type MmuNotifierRange, ULONG_MAX } from '@hmmlab/core';
import { type Device, SharedMap } from '@hmmlab/harness';
import { type SvmCommit, SvmMirror, type SvmPolicy } from './svm-mirror.js';

/** Pages per GPU range. */
const RANGE_PAGES = 4;

/** A mirror that binds ranges of {@link RANGE_PAGES} pages and tracks which are bound (`tile_present`). */
export class TilePresent extends SvmMirror {
  /** Ranges bound on the GPU, by range index; read and changed only under `L`. */
  readonly present: SharedMap<number, true>;

  constructor(device: Device, mm: Mm, policy: Partial<SvmPolicy> = {}) {
    super(device, mm, policy);
    this.present = new SharedMap(this.kernel, `${device.name} tile_present`);
  }

  get rangeBytes(): number {
    return RANGE_PAGES * this.kernel.pageSize;
  }

  /** With `L` held and the sequence valid: programs the entries and marks their ranges bound. */
  override commit(c: SvmCommit): number {
    const r = this.program(c);
    if (r === 0) this.markPresent(c);
    return r;
  }

  /** Programs the device entries of a commit (the base mirror's commit). */
  program(c: SvmCommit): number {
    return super.commit(c);
  }

  /** Marks the ranges of a commit bound (`range->tile_present |= BIT(tile->id)`). */
  markPresent(c: SvmCommit): void {
    for (let va = c.range.start; va < c.range.end; va += this.kernel.pageSize) this.present.set(Math.floor(va / this.rangeBytes), true);
  }

  /** With `L` held: a range not bound is skipped, a bound one is zapped whole and marked unbound. */
  override invalidateLocked(range: MmuNotifierRange): void {
    for (const [i] of this.present.entries()) {
      const start = i * this.rangeBytes;
      if (start + this.rangeBytes <= range.start || start >= range.end) continue;
      this.revoke(start, Math.min(start + this.rangeBytes, ULONG_MAX));
      this.present.delete(i);
    }
  }
}
