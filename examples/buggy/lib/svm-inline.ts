/**
 * NVIDIA UVM's design (uvm_hmm.c): its own migrations and exclusive conversions run under the
 * block lock, which the initiator takes before `migrate_vma_setup` and holds while it updates its
 * mappings inline; the callback returns at once for them, and for any invalidation the initiator
 * raises inside `migrate_vma_setup` (`setupTask`; taking the lock would deadlock), and returns
 * false for a non-blockable range (bug-classes N8). A skip without `set_seq` hides the
 * migration from a fault that read its pfns just before it, so the mirror keeps a change count of
 * its own, bumped under `L` when a migration revokes and when it ends, and checked together with
 * read_retry.
 */
import {
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuNotifierRangeBlockable,
} from '@hmmlab/core';
import { SharedCell } from '@hmmlab/harness';
import type { ToRamCaller } from './svm-migrate.js';
import { SvmMirror } from './svm-mirror.js';

/** A mirror whose migrations update its mappings inline under the block lock. */
export class InlineMirror extends SvmMirror {
  /**
   * Inline revocations so far: counted by the migration paths under `L`; the fault path takes a
   * snapshot without `L` before `hmm_range_fault` and compares it under `L` in the commit. A value
   * read without the lock is a `READ_ONCE`/`WRITE_ONCE` pair in C (a stale snapshot only costs a
   * retry), so its accesses are atomic.
   */
  readonly changes = new SharedCell(this.kernel, `${this.device.name} svm inline changes`, 0, { atomic: true });

  override invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    // The initiator holds the block lock and updates the mapping inline. That covers whatever it
    // raises inside migrate_vma_setup: try_to_migrate_one (mm/rmap.c) sends MMU_NOTIFY_CLEAR, with
    // no owner, to every VMA its rmap walk visits, the initiator's own first, when another process
    // still maps a collected page; taking the block lock for it would deadlock (uvm_hmm.c
    // hmm_invalidate skips it through ignore_hmm_invalidate_va_block).
    const setup = this.setupTask.get();
    if (setup !== null && setup === this.kernel.sched.currentTaskId()) return Promise.resolve(true);
    if (this.isOwn(range, MMU_NOTIFY_MIGRATE) || this.isOwn(range, MMU_NOTIFY_EXCLUSIVE)) return Promise.resolve(true);
    if (!mmuNotifierRangeBlockable(range)) return Promise.resolve(false);
    return super.invalidate(mni, range, curSeq);
  }

  /** The ioctl paths hold the block lock across the migration; a CPU fault takes it after `migrate_vma_setup`. */
  override lockAcross(caller: ToRamCaller | 'to-device'): boolean {
    return caller !== 'cpu-fault';
  }

  override revokeMigrating(start: number, end: number, caller: ToRamCaller | 'to-device'): void {
    this.changes.update((n) => n + 1);
    super.revokeMigrating(start, end, caller);
  }

  /** Entries changed after the revocation too (a hole filled, the sources freed): a fault that read them before retries. */
  override migrated(_caller: ToRamCaller | 'to-device'): void {
    this.changes.update((n) => n + 1);
  }

  /** The fault loop, started again when an inline revocation came between `hmm_range_fault` and the commit. */
  override async faultRange(start: number, end: number, write: boolean): Promise<number> {
    for (;;) {
      const before = this.changes.get();
      let moved = false;
      const range = this.rangeFor(start, end, write);
      const r = await this.faultLoop(range, () => {
        moved = this.changes.get() !== before;
        return moved ? 0 : this.commit({ range, write });
      });
      if (!moved) return r;
    }
  }
}
