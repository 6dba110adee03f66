/**
 * Fixtures shared by the core's tests (imported only by `*.test.ts`; excluded from the build):
 * running a kernel to completion, a small device-memory driver with `migrateToRam`, migrations
 * to and from it, and trace queries.
 */
import { HmmlabError } from './errors.js';
import type { Kernel } from './kernel.js';
import {
  type DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  type VmFault,
  zoneDevicePageInit,
} from './migrate/memremap.js';
import {
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
} from './migrate/migrate-pfn.js';
import { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from './migrate/migrate-vma.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from './mm/constants.js';
import { VM_FAULT_SIGBUS } from './mm/fault.js';
import type { Mm } from './mm/mm.js';
import type { Page } from './mm/page.js';
import { type DecisionSource, firstRunnable } from './sched/decisions.js';
import type { RunResult } from './sched/scheduler.js';
import type { TraceEvent, TraceEventMap } from './trace.js';

/** Runs the kernel and throws with the run's own message unless it ended `done`. */
export async function runDone(k: Kernel, decisions: DecisionSource = firstRunnable): Promise<RunResult> {
  const r = await k.run(decisions);
  if (r.status !== 'done') throw new Error(`run ended ${r.status}: ${r.message}`);
  return r;
}

/** `mmap` of `pages` private anonymous pages (read-write unless `prot` says otherwise). */
export function mapAnon(mm: Mm, pages: number, prot = PROT_READ | PROT_WRITE): Promise<number> {
  return mm.mmap(0, pages * mm.kernel.pageSize, prot, MAP_PRIVATE | MAP_ANONYMOUS);
}

/** The kept trace events of one type, typed. */
export function eventsOf<K extends keyof TraceEventMap>(k: Kernel, type: K): (TraceEventMap[K] & TraceEvent & { type: K })[] {
  return k.trace.events().filter((e) => e.type === type) as (TraceEventMap[K] & TraceEvent & { type: K })[];
}

/** A test device: a pgmap with a free list and a `migrateToRam` in test_hmm's shape. */
export interface TestDevice {
  readonly kernel: Kernel;
  readonly owner: object;
  readonly pgmap: DevPagemap;
  /** Pages back in the driver's allocator. */
  readonly freeList: Page[];
  /** Every `migrateToRam` call, with its `cpages` after setup. */
  readonly faults: { address: number; cpages: number }[];
  /** Allocates a locked device page with refcount 1 (`zone_device_page_init`), or null. */
  allocPage(): Page | null;
}

/** Options of {@link createDevice}. */
export interface TestDeviceOptions {
  name?: string;
  owner?: object;
  pages?: number;
  coherent?: boolean;
}

/**
 * Creates a device with `pages` pages of device memory. Its `migrateToRam` migrates the faulting
 * page back with `SELECT_DEVICE_PRIVATE` and this device's owner (`srcOwner` on 5.8/seed,
 * `faultPage` from 6.1), as lib/test_hmm.c `dmirror_devmem_fault` does.
 */
export function createDevice(k: Kernel, options: TestDeviceOptions = {}): TestDevice {
  const name = options.name ?? 'dev';
  const owner = options.owner ?? { device: name };
  const freeList: Page[] = [];
  const faults: { address: number; cpages: number }[] = [];
  const pgmap = memremapPages(k, {
    type: options.coherent === true ? MEMORY_DEVICE_COHERENT : MEMORY_DEVICE_PRIVATE,
    owner,
    nrPages: options.pages ?? 16,
    name,
    ops: {
      pageFree(p) {
        freeList.push(p);
      },
      async migrateToRam(vmf: VmFault) {
        const ps = k.pageSize;
        const start = vmf.address - (vmf.address % ps);
        const args = new MigrateVma({ vma: vmf.vma, start, end: start + ps, src: [0], dst: [0] });
        setSelect(vmf.mm, args, owner, 'device');
        if (vmf.mm.profile.faultPage) args.faultPage = vmf.page;
        if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
        faults.push({ address: vmf.address, cpages: args.cpages });
        if (args.cpages === 0) return 0;
        fillDst(vmf.mm, args, () => k.pages.allocPage({ zero: true }), `${name} migrate_to_ram`);
        await migrateVmaPages(args);
        migrateVmaFinalize(args);
        return 0;
      },
    },
  });
  for (let i = pgmap.pages.length - 1; i >= 0; i--) freeList.push(pgmap.pages[i] as Page);
  return {
    kernel: k,
    owner,
    pgmap,
    freeList,
    faults,
    allocPage() {
      const p = freeList.pop();
      if (p === undefined) return null;
      zoneDevicePageInit(p);
      return p;
    },
  };
}

/** Sets the selection of `args` for `mm`'s profile: system pages, or this owner's device pages. */
export function setSelect(mm: Mm, args: MigrateVma, owner: unknown, what: 'system' | 'device' | 'coherent'): void {
  if (mm.profile.migrateSelect === 'src_owner') {
    if (what === 'device') args.srcOwner = owner;
    return;
  }
  args.pgmapOwner = owner;
  args.flags =
    what === 'system'
      ? MIGRATE_VMA_SELECT_SYSTEM
      : what === 'device'
        ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE
        : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/**
 * Fills `args.dst` after setup as test_hmm does: a new page for every MIGRATE entry, with the
 * source copied (or left zero for a hole), writable if the source was or the hole's VMA is.
 * Returns the number of destinations given.
 */
export function fillDst(mm: Mm, args: MigrateVma, alloc: () => Page | null, by: string): number {
  const k = mm.kernel;
  let n = 0;
  for (let i = 0; i < args.npages; i++) {
    const s = args.src[i] as number;
    if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const dpage = alloc();
    if (dpage === null) continue;
    if (!dpage.locked) k.pages.trylockPage(dpage);
    const spage = migratePfnToPage(k, s);
    if (spage !== null) k.pages.copyPage(dpage, spage, by);
    else dpage.words.fill(0);
    const write = (s & MIGRATE_PFN_WRITE) !== 0 || (spage === null && (args.vma?.writable ?? false));
    args.dst[i] = migratePfn(dpage.pfn) | (write ? MIGRATE_PFN_WRITE : 0) | (mm.profile.migratePfnLocked ? MIGRATE_PFN_LOCKED : 0);
    n++;
  }
  return n;
}

/** What a whole migration did. */
export interface MigrationResult {
  /** `migrateVmaSetup`'s return value. */
  ret: number;
  /** `cpages` after setup. */
  cpages: number;
  /** `src` right after setup. */
  src: number[];
  /** Entries that still had MIGRATE after `migrateVmaPages`. */
  migrated: number;
}

/**
 * Migrates `[start, end)` of `mm` with the mmap read lock held: to `dev`'s memory (`to:
 * 'device'`, selecting system pages) or back to system memory (`to: 'ram'`, selecting `dev`'s
 * device-private pages). Call it from a task.
 */
export async function migrate(dev: TestDevice, mm: Mm, start: number, end: number, to: 'device' | 'ram'): Promise<MigrationResult> {
  const k = mm.kernel;
  await mm.mmapLock.downRead();
  try {
    const vma = mm.findVma(start);
    const n = Math.max(0, Math.floor((end - start) / k.pageSize));
    const args = new MigrateVma({ vma: vma ?? null, start, end, src: new Array(n).fill(0), dst: new Array(n).fill(0) });
    setSelect(mm, args, dev.owner, to === 'device' ? 'system' : dev.pgmap.type === 'coherent' ? 'coherent' : 'device');
    const ret = await migrateVmaSetup(args);
    if (ret !== 0) return { ret, cpages: 0, src: [], migrated: 0 };
    const src = Array.from({ length: args.npages }, (_, i) => args.src[i] as number);
    const cpages = args.cpages;
    if (cpages > 0) {
      fillDst(mm, args, to === 'device' ? () => dev.allocPage() : () => k.pages.allocPage({ zero: true }), `${dev.pgmap.name} migrate`);
    }
    await migrateVmaPages(args);
    let migrated = 0;
    for (let i = 0; i < args.npages; i++) if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) migrated++;
    migrateVmaFinalize(args);
    return { ret, cpages, src, migrated };
  } finally {
    mm.mmapLock.upRead();
  }
}

/** Throws unless `v` is a page (not an errno), for APIs returning `Page | number`. */
export function asPage(v: Page | number): Page {
  if (typeof v === 'number') throw new HmmlabError('ERR_STATE', `expected a page, got errno ${v}`);
  return v;
}
