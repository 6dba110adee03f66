/**
 * A one-device mirror with device-private memory for the fuzz package's device-THP specs (profile
 * `latest`). It migrates whole PMD-aligned blocks with `MIGRATE_VMA_SELECT_COMPOUND`, so a THP
 * becomes one device-private folio under a device-private PMD; a device fault that
 * `hmm_range_fault` reports with map order 9, and the migration itself (as test_hmm's
 * `dmirror_migrate_finalize_and_map`, with the check examples/dmirror-fixed adds: no invalidation
 * but its own since before the setup), map all 512 pages of the huge page as small device
 * entries. `zapFirstOnly` is the bug: an invalidation of a block it mapped that way clears only
 * the first page of the range, as if one entry covered the whole huge page.
 */
import {
  EFAULT,
  HMM_PFN_WRITE,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
  type Kernel,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  MMU_NOTIFY_MIGRATE,
  type Mm,
  MmuIntervalNotifier,
  migratePfn,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  type Page,
  ULONG_MAX,
  VM_FAULT_SIGBUS,
  type Vma,
  type VmFault,
  zoneDeviceFolioInit,
  zoneDevicePageInit,
} from '@hmmlab/core';
import { Device, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';
import { onePageRange } from './test-mirror.js';

/** What a migration to the device maps of its new pages: `begin` before the setup, `map` before the finalize. */
interface MapMigrated {
  begin(): Promise<number>;
  map(args: MigrateVma, seen: number): Promise<void>;
}

/** The mirror; `zapFirstOnly` is the bug described above. */
export function devThpMirror(zapFirstOnly: boolean) {
  return defineDriver({
    name: zapFirstOnly ? 'dev-thp-first-page-zap' : 'dev-thp-mirror',
    profiles: ['latest'],
    probe(kernel: Kernel) {
      const ps = kernel.pageSize;
      const pmd = HPAGE_PMD_NR * ps;
      let toRam: (vmf: VmFault) => Promise<number> = async () => VM_FAULT_SIGBUS;
      const gpu = new Device(kernel, {
        name: 'gpu0',
        memory: { type: 'private', pages: 3 * HPAGE_PMD_NR, migrateToRam: (vmf) => toRam(vmf) },
      });

      /** A locked device folio at an aligned run of free pages, or a locked base page. */
      function allocDevice(huge: boolean): Page | null {
        const free = gpu.freePages;
        if (!huge) {
          const pfn = free.pop();
          if (pfn === undefined) return null;
          const p = kernel.pages.page(pfn);
          zoneDevicePageInit(p);
          return p;
        }
        const set = new Set(free);
        for (const pfn of free) {
          if (pfn % HPAGE_PMD_NR !== 0) continue;
          let all = true;
          for (let j = 1; j < HPAGE_PMD_NR && all; j++) all = set.has(pfn + j);
          if (!all) continue;
          const rest = free.filter((f) => f < pfn || f >= pfn + HPAGE_PMD_NR);
          free.length = 0;
          free.push(...rest);
          const head = kernel.pages.page(pfn);
          zoneDeviceFolioInit(head, HPAGE_PMD_ORDER);
          return head;
        }
        return null;
      }

      /** Gives every migrating entry a destination: a folio for a compound entry if `alloc` finds one, else base pages. */
      function fillDst(args: MigrateVma, alloc: (huge: boolean) => Page | null): void {
        for (let i = 0; i < args.npages; i++) {
          const s = args.src[i] as number;
          if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
          const spage = migratePfnToPage(kernel, s);
          const nr = (s & MIGRATE_PFN_COMPOUND) !== 0 ? HPAGE_PMD_NR : 1;
          const write = s & MIGRATE_PFN_WRITE;
          const folio = nr > 1 ? alloc(true) : null;
          for (let j = 0; j < nr; j++) {
            const d = folio !== null ? kernel.pages.page(folio.pfn + j) : alloc(false);
            if (d === null) return;
            if (!d.locked) kernel.pages.trylockPage(d);
            if (spage !== null) kernel.pages.copyPage(d, kernel.pages.page(spage.pfn + j), 'gpu0 migrate');
            else d.words.fill(0);
            if (folio === null) args.dst[i + j] = migratePfn(d.pfn) + write;
          }
          if (folio !== null) args.dst[i] = migratePfn(folio.pfn) + write + MIGRATE_PFN_COMPOUND;
          i += nr - 1;
        }
      }

      async function migrateRange(
        vma: Vma,
        start: number,
        end: number,
        flags: number,
        faultPage: Page | null,
        map: MapMigrated | null = null,
      ): Promise<number> {
        const n = (end - start) / ps;
        const args = new MigrateVma({
          vma,
          start,
          end,
          src: new Array(n).fill(0),
          dst: new Array(n).fill(0),
          pgmapOwner: gpu.owner,
          flags,
        });
        if (faultPage !== null) args.faultPage = faultPage;
        // Before the setup, once no invalidation is in progress: a MADV_DONTNEED whose callback
        // has run may yet zap the entries the setup is about to collect.
        const seen = map === null ? 0 : await map.begin();
        const r = await migrateVmaSetup(args);
        if (r !== 0) return r;
        const toDevice = (flags & MIGRATE_VMA_SELECT_SYSTEM) !== 0;
        fillDst(
          args,
          toDevice ? allocDevice : (huge) => (huge ? kernel.pages.allocFolio(HPAGE_PMD_ORDER) : kernel.pages.allocPage({ zero: false })),
        );
        await migrateVmaPages(args);
        if (map !== null) await map.map(args, seen);
        migrateVmaFinalize(args);
        return 0;
      }

      return {
        devices: [gpu],
        async bind(mm: Mm) {
          const lock = kernel.mutex('gpu0.lock');
          /** PMD indexes of the blocks the device mapped whole from an order-9 fault. */
          const hugeMapped = new Set<number>();
          /** Invalidations other than its own migrations' (under `lock`). */
          let others = 0;
          const mni = new MmuIntervalNotifier('gpu0 mirror');
          const vm = gpu.createVm(mm, {
            fault(_v, f) {
              const start = f.va - (f.va % ps);
              const range = onePageRange(mni, start, ps, f.kind === 'read', gpu.owner);
              return hmmRangeFaultLoop({
                mm,
                range,
                lock: () => lock.lock(),
                unlock: () => lock.unlock(),
                commit: () => {
                  const entry = range.hmmPfns[0] as number;
                  const write = (entry & HMM_PFN_WRITE) !== 0;
                  // A write fault may get a read-only own device-private page (hmm_range_fault
                  // does not fault it): fail rather than map it writable.
                  if (f.kind !== 'read' && !write) return -EFAULT;
                  const page = kernel.pages.page(hmmPfnToPfn(entry));
                  if (hmmPfnToMapOrder(entry) !== HPAGE_PMD_ORDER || !page.isDevicePrivate) {
                    vm.setPte(start, page, { write });
                    return 0;
                  }
                  // Its own device-private THP: the 512 pages, as 512 small device entries.
                  const huge = start - (start % pmd);
                  const first = hmmPfnToPfn(entry) - (start - huge) / ps;
                  for (let i = 0; i < HPAGE_PMD_NR; i++) vm.setPte(huge + i * ps, kernel.pages.page(first + i), { write });
                  hugeMapped.add(huge / pmd);
                  return 0;
                },
              });
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX, {
            async invalidate(sub, range, curSeq) {
              if (mmuNotifierRangeBlockable(range)) await lock.lock();
              else if (!lock.tryLock()) return false;
              mmuIntervalSetSeq(sub, curSeq);
              // Its own migrations revoke what the device maps of the range too, but a migration
              // to the device may then map the new pages it is making; any other invalidation
              // forbids that.
              if (range.event !== MMU_NOTIFY_MIGRATE || range.owner !== gpu.owner) others++;
              let zapEnd = range.end;
              const blk = Math.floor(range.start / pmd);
              if (hugeMapped.has(blk)) {
                // The bug: one entry stands for the huge page (until the block is mapped again),
                // so one page is cleared.
                if (zapFirstOnly) zapEnd = Math.min(range.end, range.start - (range.start % ps) + ps);
                else hugeMapped.delete(blk);
              }
              // What the device may have written is dirty before its entries go (set_page_dirty).
              vm.dirtyWritable(range.start, zapEnd);
              vm.clearRange(range.start, zapEnd);
              vm.flushTlb(range.start, zapEnd);
              lock.unlock();
              return true;
            },
          });
          /**
           * Between `migrate_vma_pages` and `migrate_vma_finalize`, while the new pages are
           * locked (as `dmirror_migrate_finalize_and_map`): a device folio that moved whole is
           * mapped at once, as 512 small device entries, unless an invalidation other than the
           * migration's own came since before the setup (a concurrent MADV_DONTNEED may zap the
           * migration entries after its callback cleared the range, and the new pages are then
           * mapped by nothing on the CPU side): then the device faults the pages in when it
           * touches them. test_hmm maps without this check.
           */
          const mapMigrated: MapMigrated = {
            async begin() {
              // The count first, then read_begin (as examples/dmirror-fixed does): an
              // invalidation whose callback runs after the count changes it; one whose callback
              // ran before may not have zapped yet, and read_begin sleeps until it has ended.
              await lock.lock();
              const seen = others;
              lock.unlock();
              await mmuIntervalReadBegin(mni);
              return seen;
            },
            map: async (args, seen) => {
              await lock.lock();
              if (others !== seen) {
                lock.unlock();
                return;
              }
              for (let i = 0; i < args.npages; i++) {
                const d = args.dst[i] as number;
                if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) === 0 || (d & MIGRATE_PFN_COMPOUND) === 0) continue;
                const head = migratePfnToPage(kernel, d) as Page;
                const va = args.start + i * ps;
                for (let j = 0; j < HPAGE_PMD_NR; j++)
                  vm.setPte(va + j * ps, kernel.pages.page(head.pfn + j), { write: (d & MIGRATE_PFN_WRITE) !== 0 });
                hugeMapped.add(va / pmd);
                i += HPAGE_PMD_NR - 1;
              }
              lock.unlock();
            },
          };
          /** Migrates the whole PMD-aligned blocks around `[start, end)`, each clipped to its VMA. */
          const migrateBlocks = async (start: number, end: number, select: number, map: MapMigrated | null): Promise<number> => {
            await mm.mmapLock.downRead();
            try {
              for (let b = start - (start % pmd); b < end; b += pmd) {
                const vma = mm.findVma(Math.max(b, start));
                if (vma === undefined || !vma.anonymous) continue;
                const s = Math.max(b, vma.start);
                const e = Math.min(b + pmd, vma.end);
                if (s >= e) continue;
                const r = await migrateRange(vma, s, e, select | MIGRATE_VMA_SELECT_COMPOUND, null, map);
                if (r !== 0) return r;
              }
              return 0;
            } finally {
              mm.mmapLock.upRead();
            }
          };
          toRam = async (vmf) => {
            // A device-private PMD moves back whole; a device-private PTE alone.
            const nr = vmf.pmd === true ? HPAGE_PMD_NR : 1;
            const start = vmf.address - (vmf.address % (nr * ps));
            const r = await migrateRange(
              vmf.vma,
              start,
              start + nr * ps,
              MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_COMPOUND,
              vmf.page,
            );
            return r === 0 ? 0 : VM_FAULT_SIGBUS;
          };
          return {
            vms: [vm],
            migrateToDevice: (start: number, end: number) => migrateBlocks(start, end, MIGRATE_VMA_SELECT_SYSTEM, mapMigrated),
            migrateToRam: (start: number, end: number) => migrateBlocks(start, end, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, null),
          };
        },
      };
    },
  });
}
