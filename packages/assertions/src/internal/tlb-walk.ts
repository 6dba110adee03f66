/**
 * What a device TLB may hold beyond what the model's accesses put there. The device's page-table
 * walker runs on the device, not on the scheduler: while the device runs, any entry present in its
 * page table may be walked and cached at any moment, by an access in flight or a prefetch. A
 * completed flush drops what was cached before it, but an entry still present after that flush
 * may be cached again right away. So an entry that leaves the page table (cleared, replaced,
 * write-protected) after the last completed flush covering its address may still be in the TLB,
 * whether or not a model access happened to walk it: clearing a PTE and then flushing revokes the
 * translation; flushing and then clearing leaves it. (nouveau's `NVIF_VMM_V0_PFNCLR` and xe's
 * `xe_pt_zap_ptes` followed by `xe_gt_tlb_invalidation_range` both clear before they invalidate.)
 */
import type { DeviceVm } from '@hmmlab/harness';

/**
 * What {@link StaleEntries.of} returns for a page with none (shared: nothing is made per call).
 * Not frozen: loops over a frozen array do not take the fast path for ordinary arrays.
 */
const NONE: readonly number[] = [];

/**
 * Per device address space of a run (by id): virtual page number → entries that left the page
 * table since the last completed flush covering it.
 */
export class StaleEntries {
  private readonly byVm = new Map<number, Map<number, number[]>>();
  /** Per address space and page, the scheduler step at which each entry of `byVm`'s list left. */
  private readonly stepsByVm = new Map<number, Map<number, number[]>>();

  /**
   * A device entry changed from `old` to `now` at scheduler step `step`: `old` may stay cached
   * until a flush of `vpn` completes.
   */
  entryLeft(vm: DeviceVm, vpn: number, old: number, now: number, step: number): void {
    if (old === 0 || old === now || !vm.device.hasTlb) return;
    let m = this.byVm.get(vm.id);
    let steps = this.stepsByVm.get(vm.id);
    if (m === undefined || steps === undefined) {
      m = new Map();
      steps = new Map();
      this.byVm.set(vm.id, m);
      this.stepsByVm.set(vm.id, steps);
    }
    const list = m.get(vpn);
    if (list === undefined) {
      m.set(vpn, [old]);
      steps.set(vpn, [step]);
    } else if (!list.includes(old)) {
      list.push(old);
      steps.get(vpn)?.push(step);
    }
  }

  /** The step at which `entry` left the page table at `vpn`, if it is one of {@link of}'s entries. */
  leftAt(vm: DeviceVm, vpn: number, entry: number): number | undefined {
    const i = this.of(vm, vpn).indexOf(entry);
    return i < 0 ? undefined : this.stepsByVm.get(vm.id)?.get(vpn)?.[i];
  }

  /**
   * A flush of `[start, end)` completed: nothing that left the page table before it is cached any
   * more, in every device granule the range overlaps (a flush evicts whole TLB entries).
   */
  flushCompleted(vm: DeviceVm, start: number, end: number): void {
    const m = this.byVm.get(vm.id);
    if (m === undefined || m.size === 0 || end <= start) return;
    const ps = vm.device.kernel.pageSize;
    const first = Math.floor(vm.granuleOf(start).start / ps);
    const last = Math.ceil(vm.granuleOf(end - 1).end / ps);
    const steps = this.stepsByVm.get(vm.id);
    for (const vpn of [...m.keys()]) {
      if (vpn < first || vpn >= last) continue;
      m.delete(vpn);
      steps?.delete(vpn);
    }
  }

  /** Entries of `vpn` that left the page table after the last completed flush covering it. */
  of(vm: DeviceVm, vpn: number): readonly number[] {
    return this.byVm.get(vm.id)?.get(vpn) ?? NONE;
  }

  /**
   * The entries of `vm` that left its page table after the last completed flush covering them, by
   * page number (undefined: none); read it, do not keep it.
   */
  all(vm: DeviceVm): ReadonlyMap<number, readonly number[]> | undefined {
    return this.byVm.get(vm.id);
  }
}
