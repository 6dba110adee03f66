/**
 * The SRCU domain of classic mmu notifiers (mm/mmu_notifier.c: `DEFINE_STATIC_SRCU(srcu)`): every
 * walk of an mm's subscription list runs in a read-side section, and `synchronize_srcu` waits for
 * the sections begun before it, so `mmu_notifier_unregister` returns only after every method
 * call in flight, `->release` run by `exit_mmap` included, has returned.
 */
import type { Kernel } from '../kernel.js';
import { WaitQueue } from '../sched/wait-queue.js';

/** A `struct srcu_struct`. */
export class Srcu {
  private next = 0;
  private readonly active = new Set<number>();
  private readonly wq: WaitQueue;

  constructor(kernel: Kernel, name: string) {
    this.wq = new WaitQueue(kernel.sched, name);
  }

  /** `srcu_read_lock`: returns the section's index for {@link readUnlock}. */
  readLock(): number {
    const id = this.next++;
    this.active.add(id);
    return id;
  }

  /** `srcu_read_unlock`. */
  readUnlock(id: number): void {
    this.active.delete(id);
    this.wq.wakeUpAll();
  }

  /** Runs `f` in a read-side section. */
  async read<T>(f: () => Promise<T>): Promise<T> {
    const id = this.readLock();
    try {
      return await f();
    } finally {
      this.readUnlock(id);
    }
  }

  /** Whether a read-side section is in progress (a grace period would have to wait). */
  get busy(): boolean {
    return this.active.size > 0;
  }

  /** `synchronize_srcu`: sleeps until every section begun before the call has ended. */
  async synchronize(): Promise<void> {
    const horizon = this.next;
    await this.wq.waitEvent(() => {
      for (const id of this.active) if (id < horizon) return false;
      return true;
    });
  }
}

/** @internal The kernel's mmu notifier SRCU domain. */
export function mmuNotifierSrcu(kernel: Kernel): Srcu {
  kernel.notifierSrcu ??= new Srcu(kernel, 'mmu_notifier srcu');
  return kernel.notifierSrcu;
}
