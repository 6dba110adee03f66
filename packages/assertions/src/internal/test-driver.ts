/**
 * A small mirror driver with switchable bugs, for the oracle's own tests: every rule has a knob
 * that breaks it and a default that keeps it. Not exported from the package.
 */
import {
  EBUSY,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  HmmlabError,
  type HmmRange,
  hmmPfnToPage,
  hmmRangeFault,
  type Kernel,
  MADV_DONTNEED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  MMU_NOTIFY_MIGRATE,
  MmuIntervalNotifier,
  type Mutex,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  ULONG_MAX,
  type VmFault,
} from '@hmmlab/core';
import { type Binding, Device, type DeviceVm, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';

/** Bug switches; every default is the correct behaviour. */
export interface Knobs {
  /** Clear device entries in the callback. */
  zap?: boolean;
  /**
   * How the TLB is flushed: synchronously, fenced and waited for, fenced and not waited for, fenced
   * with a wait whose promise is dropped (`void fence.wait()`), fenced and waited for only after the
   * DMA mappings were torn down, or not at all.
   */
  flush?: 'sync' | 'fence-wait' | 'fence-nowait' | 'fence-wait-dropped' | 'fence-wait-after-dma-unmap' | 'none';
  /** The callback flushes the TLB before it clears the entries, instead of after. */
  flushBeforeClear?: boolean;
  /** The callback tears the DMA mappings down before it clears the entries and flushes, instead of after. */
  dmaUnmapFirst?: boolean;
  /** The callback clears and flushes only the first page of the invalidated range. */
  firstPageOnly?: boolean;
  /** Call mmuIntervalSetSeq. */
  setSeq?: boolean;
  /** Skip own MIGRATE (`checked`), any range with own owner (`any-event`), or never. */
  ownerSkip?: 'never' | 'checked' | 'any-event';
  /** sys→dev migration revokes own translations of source pages before copying. */
  revokeBeforeCopy?: boolean;
  /** Non-blockable ranges: trylock and return false (`correct`), sleep on the lock, or return true untouched. */
  nonBlockable?: 'correct' | 'sleep' | 'true';
  /** The fault path checks read_retry under the lock before programming. */
  retryUnderLock?: boolean;
  /** The callback forgets to unlock. */
  leakLock?: boolean;
  /** The interval callback returns false even for blockable ranges. */
  falseWhenBlockable?: boolean;
  /** The callback throws. */
  throwInInvalidate?: boolean;
  /** The model breaks one of its own invariants inside the callback (`ERR_INTERNAL`). */
  internalErrorInInvalidate?: boolean;
  /** The callback awaits a promise that never settles. */
  hangInInvalidate?: boolean;
  /**
   * A fault path with a window (a yield point) between `hmm_range_fault` and the driver lock, and
   * what it does with the pfns: take a page reference, DMA-map and install them only after
   * `mmu_interval_read_retry` passed under the lock (`after-retry`), install them before checking
   * (`install-before-retry`), DMA-map them before taking the lock (`dma-before-retry`, as xe did
   * before 0a98219bcc96), or take a page reference (`get_page`) before taking the lock
   * (`get-before-retry`). Unset: the canonical loop without a window.
   */
  pfnUse?: 'after-retry' | 'install-before-retry' | 'dma-before-retry' | 'get-before-retry';
  /** Called in that window: tests steer the schedule with it. */
  onWindow?: () => void;
  /**
   * The fault path zaps the faulting page itself (`MADV_DONTNEED`) inside its read section, before
   * it takes the lock for `read_retry`: on every pass (`always`: the loop collides with itself
   * until its timeout), or on the first pass only (`once`: it collides once and then maps).
   */
  selfInvalidate?: 'always' | 'once';
  /** The callback marks dirty (`set_page_dirty`) the pages the device maps writable before it revokes them. */
  dirtyOnRevoke?: boolean;
}

/** Builds the driver with `knobs`. */
export function knobDriver(knobs: Knobs = {}) {
  const kn = {
    zap: true,
    flush: 'sync',
    setSeq: true,
    ownerSkip: 'never',
    revokeBeforeCopy: true,
    nonBlockable: 'correct',
    retryUnderLock: true,
    ...knobs,
  } as const;
  return defineDriver({
    name: 'knob-mirror',
    probe(kernel: Kernel) {
      const dev: Device = new Device(kernel, {
        name: 'knob0',
        memory: {
          type: 'private',
          pages: 16,
          migrateToRam: (vmf: VmFault) => binding?.toRam(vmf) ?? Promise.resolve(0),
        },
      });
      let binding: (Binding & { toRam(vmf: VmFault): Promise<number> }) | null = null;
      return {
        devices: [dev],
        async bind(mm) {
          const lock: Mutex = kernel.mutex('knob.lock');
          const mni = new MmuIntervalNotifier('knob');
          const ps = kernel.pageSize;
          let vm: DeviceVm;
          /** System pages DMA-mapped by the fault path, by virtual page number. */
          const dmaMapped = new Map<number, Page>();
          const dmaUnmapRange = (start: number, end: number): void => {
            for (const [vpn, p] of dmaMapped) {
              if (vpn * ps < start || vpn * ps >= end) continue;
              dev.dmaUnmap(p);
              dmaMapped.delete(vpn);
            }
          };
          const dmaMapAt = (va: number, p: Page, write: boolean): void => {
            dmaUnmapRange(va, va + ps);
            dev.dmaMap(p, write);
            dmaMapped.set(va / ps, p);
          };
          // The DMA mappings go last: the device must reach no page through them any more.
          const unmapRange = async (start: number, end: number): Promise<void> => {
            if (kn.zap && kn.dirtyOnRevoke === true) vm.dirtyWritable(start, end);
            if (kn.zap && kn.dmaUnmapFirst === true) dmaUnmapRange(start, end);
            if (kn.zap && kn.flushBeforeClear !== true) vm.clearRange(start, end);
            if (kn.flush === 'sync') vm.flushTlb(start, end);
            else if (kn.flush === 'fence-wait') await vm.flushTlbAsync(start, end).wait();
            else if (kn.flush === 'fence-nowait') vm.flushTlbAsync(start, end);
            else if (kn.flush === 'fence-wait-dropped') void vm.flushTlbAsync(start, end).wait();
            if (kn.zap && kn.flushBeforeClear === true) vm.clearRange(start, end);
            if (kn.flush === 'fence-wait-after-dma-unmap') {
              const fence = vm.flushTlbAsync(start, end);
              if (kn.zap) dmaUnmapRange(start, end);
              await fence.wait();
              return;
            }
            if (kn.zap) dmaUnmapRange(start, end);
          };
          /** read_begin → hmm_range_fault → (window) → lock → read_retry → program, with the pfns used as `kn.pfnUse` says. */
          const faultWithWindow = async (v: DeviceVm, range: HmmRange, write: boolean): Promise<number> => {
            for (;;) {
              range.notifierSeq = await mmuIntervalReadBegin(mni);
              await mm.mmapLock.downRead();
              const ret = await hmmRangeFault(range);
              mm.mmapLock.upRead();
              if (ret === -EBUSY) continue;
              if (ret !== 0) return ret;
              kn.onWindow?.();
              await kernel.yieldPoint();
              const e = range.hmmPfns[0] as number;
              if (write && (e & HMM_PFN_WRITE) === 0) return -14;
              const page = hmmPfnToPage(kernel, e);
              const system = !page.isZoneDevice && !page.isZero;
              const perm = { write: (e & HMM_PFN_WRITE) !== 0 };
              if (kn.pfnUse === 'dma-before-retry' && system) dmaMapAt(range.start, page, perm.write);
              if (kn.pfnUse === 'get-before-retry' && system) kernel.pages.getPage(page);
              await lock.lock();
              if (kn.pfnUse === 'install-before-retry') v.setPte(range.start, page, perm);
              if (mmuIntervalReadRetry(mni, range.notifierSeq)) {
                if (kn.pfnUse === 'dma-before-retry') dmaUnmapRange(range.start, range.end);
                if (kn.pfnUse === 'get-before-retry' && system) kernel.pages.putPage(page);
                lock.unlock();
                continue;
              }
              if (kn.pfnUse === 'after-retry' && system) {
                kernel.pages.getPage(page);
                dmaMapAt(range.start, page, perm.write);
              }
              v.setPte(range.start, page, perm);
              if ((kn.pfnUse === 'after-retry' || kn.pfnUse === 'get-before-retry') && system) kernel.pages.putPage(page);
              lock.unlock();
              return 0;
            }
          };
          vm = dev.createVm(mm, {
            fault(v, f) {
              const base = f.va - (f.va % ps);
              const range = {
                notifier: mni,
                notifierSeq: 0,
                start: base,
                end: base + ps,
                hmmPfns: [0],
                defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
                pfnFlagsMask: 0,
                devPrivateOwner: dev.owner,
              };
              const program = (): number => {
                const e = range.hmmPfns[0] as number;
                // An own device-private page comes back as it is: a write fault may get a read-only pfn.
                if (f.kind !== 'read' && (e & HMM_PFN_WRITE) === 0) return -14;
                v.setPte(base, hmmPfnToPage(kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 });
                return 0;
              };
              if (kn.pfnUse !== undefined) return faultWithWindow(v, range, f.kind !== 'read');
              if (kn.retryUnderLock) {
                let zaps = 0;
                const lockAfterZap = async (): Promise<void> => {
                  if (kn.selfInvalidate === 'always' || (kn.selfInvalidate === 'once' && zaps === 0)) {
                    zaps++;
                    await mm.madvise(base, ps, MADV_DONTNEED);
                  }
                  await lock.lock();
                };
                return hmmRangeFaultLoop({ mm, range, lock: lockAfterZap, unlock: () => lock.unlock(), commit: program });
              }
              // Buggy: checks the seq, drops the lock, then programs (S17).
              return hmmRangeFaultLoop({
                mm,
                range,
                lock: () => lock.lock(),
                unlock: () => {
                  lock.unlock();
                },
                commit: async () => {
                  lock.unlock();
                  await kernel.yieldPoint();
                  const r = program();
                  await lock.lock();
                  return r;
                },
              });
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              if (kn.throwInInvalidate) throw new Error('knob: invalidate exploded');
              if (kn.internalErrorInInvalidate) throw new HmmlabError('ERR_INTERNAL', 'knob: the model broke an invariant');
              if (kn.hangInInvalidate) await new Promise(() => {});
              if (kn.falseWhenBlockable === true) return false;
              const own = range.owner !== undefined && range.owner === dev.owner;
              if (kn.ownerSkip === 'checked' && range.event === MMU_NOTIFY_MIGRATE && own) return true;
              if (kn.ownerSkip === 'any-event' && own) return true;
              if (!mmuNotifierRangeBlockable(range)) {
                if (kn.nonBlockable === 'true') return true;
                if (kn.nonBlockable === 'correct' && !lock.tryLock()) return false;
                if (kn.nonBlockable === 'sleep') await lock.lock();
              } else {
                await lock.lock();
              }
              if (kn.setSeq) mmuIntervalSetSeq(sub, curSeq);
              await unmapRange(range.start, kn.firstPageOnly === true ? range.start + ps : range.end);
              if (!kn.leakLock) lock.unlock();
              return true;
            },
          });
          const b = {
            vms: [vm],
            async migrateToDevice(start: number, end: number): Promise<number> {
              const n = (end - start) / ps;
              const seq = await mmuIntervalReadBegin(mni);
              await mm.mmapLock.downRead();
              try {
                const vma = mm.findVma(start);
                if (vma === undefined) return -22;
                const args = new MigrateVma({
                  vma,
                  start,
                  end,
                  src: new Array(n).fill(0),
                  dst: new Array(n).fill(0),
                  pgmapOwner: dev.owner,
                  flags: MIGRATE_VMA_SELECT_SYSTEM,
                });
                const r = await migrateVmaSetup(args);
                if (r !== 0) return r;
                for (let i = 0; i < args.npages; i++) {
                  const s = args.src[i] as number;
                  if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
                  const dpage = dev.allocPage();
                  if (dpage === null) continue;
                  const spage = migratePfnToPage(kernel, s);
                  if (kn.revokeBeforeCopy) {
                    await lock.lock();
                    await unmapRange(start + i * ps, start + (i + 1) * ps);
                    lock.unlock();
                  }
                  if (spage !== null) dev.copyPage(dpage, spage);
                  else dpage.words.fill(0);
                  args.dst[i] = migratePfn(dpage.pfn) | (s & MIGRATE_PFN_WRITE);
                }
                await migrateVmaPages(args);
                await lock.lock();
                // Map the new pages only if nothing invalidated the range meanwhile (the OOM
                // reaper can, despite the mmap lock); otherwise the device faults them in later.
                if (!mmuIntervalReadRetry(mni, seq)) {
                  for (let i = 0; i < args.npages; i++) {
                    const d = migratePfnToPage(kernel, args.dst[i] as number);
                    if (d !== null && ((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0)
                      vm.setPte(start + i * ps, d, { write: vma.writable });
                  }
                }
                lock.unlock();
                migrateVmaFinalize(args);
                return 0;
              } finally {
                mm.mmapLock.upRead();
              }
            },
            async toRam(vmf: VmFault): Promise<number> {
              const start = vmf.address;
              const args = new MigrateVma({
                vma: vmf.vma,
                start,
                end: start + ps,
                src: [0],
                dst: [0],
                pgmapOwner: dev.owner,
                flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
                faultPage: vmf.page,
              });
              if ((await migrateVmaSetup(args)) !== 0 || args.cpages === 0) return 0;
              const s = args.src[0] as number;
              const spage = migratePfnToPage(kernel, s) as Page;
              await lock.lock();
              vm.clearRange(start, start + ps);
              vm.flushTlb(start, start + ps);
              lock.unlock();
              const p = kernel.pages.allocPage();
              kernel.pages.trylockPage(p);
              dev.copyPage(p, spage);
              args.dst[0] = migratePfn(p.pfn) | (s & MIGRATE_PFN_WRITE);
              await migrateVmaPages(args);
              migrateVmaFinalize(args);
              return 0;
            },
          };
          binding = b;
          return b;
        },
      };
    },
  });
}
