/**
 * The device model: a device with an owner (its pgmap owner), a TLB that keeps serving a
 * translation after its page-table entry is cleared until a flush completes, DMA mappings of
 * system pages, queues that can be quiesced, a fault mode, and optional device memory. A device
 * mirrors address spaces through {@link DeviceVm}s.
 */
import {
  checkOptionNames,
  type DevPagemap,
  type DevPagemapOps,
  HmmlabError,
  type Kernel,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  type Mm,
  memremapPages,
  type Page,
  type Task,
  type WaitQueue,
  zoneDevicePageInit,
} from '@hmmlab/core';
import './events.js';
import { DeviceVm, type DeviceVmOps } from './device-vm.js';

/** What happens when a device access misses. */
export type FaultMode = 'replayable' | 'fatal';

/**
 * Device memory that other users hold (see `Device.holdMemory`): `free` leaves only that many
 * pages free (memory nearly full); `every` holds one page in every `every` (memory in pieces: no
 * run of `every` free pages, so no huge page when `every` is at most 512).
 */
export type MemoryHold =
  | {
      /** Pages of each device's memory left free: those handed out first. */
      readonly free: number;
    }
  | {
      /** One page in every `every` is held, counted from the start of the memory. */
      readonly every: number;
    };

/** Options of a {@link Device}. */
export interface DeviceOptions {
  /** Unique name, used in traces and reports. */
  name: string;
  /**
   * The pgmap owner. Devices that share memory (an XGMI hive) share one owner.
   * @defaultValue a fresh object unique to this device
   */
  owner?: unknown;
  /** `replayable` faults call the driver's fault handler; `fatal` ones fail the access. @defaultValue 'replayable' */
  faultMode?: FaultMode;
  /**
   * Whether the device caches translations. Without a TLB every access walks the page table, as
   * test_hmm's CPU-emulated device does. @defaultValue true
   */
  tlb?: boolean;
  /**
   * The device's page size: the granule its TLB caches and its flushes evict, a power-of-two
   * multiple of the kernel's page size (4 KiB, 64 KiB, 2 MiB). One TLB entry holds the
   * translation of a whole granule, every page-table entry inside it, as hardware that caches
   * 64 KiB fragments (amdgpu's `AMDGPU_PTE_FRAG`, amdgpu_vm.h) or 2 MiB blocks does; a flush evicts every
   * granule it overlaps, and an access that misses or faults on one page of a granule drops and
   * refills the whole entry. The page table keeps one entry per CPU page, since the CPU pages of a
   * granule need not be contiguous. @defaultValue the kernel's page size (one page per TLB entry)
   */
  pageSize?: number;
  /**
   * A second TLB level: a page-walk cache that keeps, for each leaf page-table page the device has
   * walked (a table mapping `span` bytes of address space), where that table is, as IOMMU and GPU
   * walk caches keep non-leaf entries. Entries the driver clears inside a table are seen at once
   * through it; a table the driver frees ({@link DeviceVm.freeTables}) stays reachable, with the
   * leaf entries it held, until a flush that is not leaf-only evicts it (the Arm SMMU's
   * `tlb_flush_walk` beside `tlb_add_page`, include/linux/io-pgtable.h). `span` is a power-of-two
   * multiple of {@link DeviceOptions.pageSize}. @defaultValue none (one level)
   * @prop __type.span - bytes of address space one leaf page-table page maps
   */
  walkCache?: { span: number };
  /**
   * What a device atomic needs: a writable entry (PCIe atomics, the common case), or an entry
   * tagged atomic, which a driver installs only for a page the CPU holds device-exclusive for it
   * (test_hmm, nouveau). @defaultValue 'write'
   */
  atomics?: 'write' | 'exclusive';
  /**
   * Device memory: a private or coherent pgmap of `pages` pages with this device's owner.
   * @prop __type.type - `'private'` (`MEMORY_DEVICE_PRIVATE`) or `'coherent'` (`MEMORY_DEVICE_COHERENT`)
   * @prop __type.pages - number of device pages
   * @prop __type.migrateToRam - the pagemap's `migrate_to_ram`, for device-private memory
   */
  memory?: { type: 'private' | 'coherent'; pages: number; migrateToRam?: DevPagemapOps['migrateToRam'] };
}

/** Validates {@link DeviceOptions.pageSize}. */
function devicePageSize(kernel: Kernel, options: DeviceOptions): number {
  const ps = options.pageSize ?? kernel.pageSize;
  if (!Number.isInteger(ps) || ps < kernel.pageSize || (ps & (ps - 1)) !== 0) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `Device ${options.name}: pageSize ${String(ps)} is not a power-of-two multiple of the kernel page size ${kernel.pageSize}; use ${kernel.pageSize}, 65536 or 2097152`,
    );
  }
  return ps;
}

/** Validates {@link DeviceOptions.walkCache}. */
/** Every field of {@link DeviceOptions}: a field the interface gains must be added here. */
const DEVICE_FIELDS = {
  name: true,
  owner: true,
  faultMode: true,
  tlb: true,
  pageSize: true,
  walkCache: true,
  atomics: true,
  memory: true,
} as const satisfies Record<keyof DeviceOptions, true>;

/**
 * Refuses device options that would model another device than the one described: a misspelt
 * field (`walkCach`: no walk cache, and the bugs of one go unseen), and a fault mode, atomics
 * mode, TLB flag or memory type that is not one of the documented values.
 */
function checkDeviceOptions(o: DeviceOptions): void {
  const bad = (what: string): never => {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `Device ${o.name}: ${what}`);
  };
  checkOptionNames(`Device ${o.name}`, o, DEVICE_FIELDS);
  if (o.faultMode !== undefined && o.faultMode !== 'replayable' && o.faultMode !== 'fatal')
    bad(`faultMode ${JSON.stringify(o.faultMode)}: expected "replayable" or "fatal"`);
  if (o.tlb !== undefined && typeof o.tlb !== 'boolean') bad(`tlb ${JSON.stringify(o.tlb)}: expected true or false`);
  if (o.atomics !== undefined && o.atomics !== 'write' && o.atomics !== 'exclusive')
    bad(`atomics ${JSON.stringify(o.atomics)}: expected "write" or "exclusive"`);
  const m = o.memory;
  if (m !== undefined) {
    for (const k of Object.keys(m))
      if (k !== 'type' && k !== 'pages' && k !== 'migrateToRam')
        bad(`memory: unknown field "${k}"; the fields are type, pages, migrateToRam`);
    if (m.type !== 'private' && m.type !== 'coherent') bad(`memory.type ${JSON.stringify(m.type)}: expected "private" or "coherent"`);
  }
}

function walkSpan(pageSize: number, options: DeviceOptions): number {
  const w = options.walkCache;
  if (w === undefined) return 0;
  const span = w.span;
  if (!Number.isInteger(span) || span < pageSize || (span & (span - 1)) !== 0) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `Device ${options.name}: walkCache.span ${String(span)} is not a power-of-two multiple of the device page size ${pageSize}; use 2097152 for a table of 512 entries of 4 KiB`,
    );
  }
  return span;
}

/** A fence: completes when the device finishes the work it stands for. */
export class Fence {
  /** Unique id, as in traces. */
  readonly id: number;
  /** Set when the device finished the work: the flush it stands for has completed. */
  signaled = false;
  /** @internal */
  readonly vm: DeviceVm;
  /** @internal */
  readonly start: number;
  /** @internal */
  readonly end: number;
  /** @internal The flush evicts the leaf TLB only, not the walk cache. */
  readonly leafOnly: boolean;
  private readonly wq: WaitQueue;

  constructor(id: number, vm: DeviceVm, start: number, end: number, wq: WaitQueue, leafOnly = false) {
    this.id = id;
    this.vm = vm;
    this.start = start;
    this.end = end;
    this.wq = wq;
    this.leafOnly = leafOnly;
  }

  /** `dma_fence_wait`: sleeps until the fence signals. */
  async wait(): Promise<void> {
    await this.wq.waitEvent(() => this.signaled);
  }
}

/** A device. */
export class Device {
  /** Name, for traces and reports. */
  readonly name: string;
  /** Opaque owner: the `pgmap_owner` of its device memory and migrations. */
  readonly owner: unknown;
  /** The kernel the device belongs to. */
  readonly kernel: Kernel;
  /** How the device handles a fault (see {@link FaultMode}). */
  faultMode: FaultMode;
  /** The device caches translations in a TLB. */
  readonly hasTlb: boolean;
  /** The device's page size: the granule of its TLB entries and flushes (see {@link DeviceOptions.pageSize}). */
  readonly pageSize: number;
  /** The span of a leaf page-table page the walk cache caches, or 0 without one (see {@link DeviceOptions.walkCache}). */
  readonly walkSpan: number;
  /** What a device atomic needs (see {@link DeviceOptions.atomics}). */
  readonly atomics: 'write' | 'exclusive';
  /** Address spaces this device mirrors. */
  readonly vms: DeviceVm[] = [];
  /** Queues are stopped: device work waits until they resume. */
  quiesced = false;
  /** DMA mappings: pfn → number of mappings (`dma_map_page`). */
  readonly dma = new Map<number, number>();
  /** Device memory, if any. */
  readonly pgmap: DevPagemap | null;
  /**
   * The free list of device pages (the driver's allocator), in two parts that together act as one
   * stack: on top, the pfns `pageFree` gave back, last in first out; under them, the pfns never
   * handed out, lowest first: `[fresh, freshEnd)` less those `holdEvery` holds. The second part is
   * a range, not a list, so a device memory of a million pages costs what a run uses of it.
   */
  private freeStack: number[] = [];
  private fresh = 0;
  private freshEnd = 0;
  /** One pfn in every `holdEvery` of the memory is held (0: none); see {@link Device.holdMemory}. */
  private holdEvery = 0;
  /** @internal */
  readonly queueWq: WaitQueue;
  /** @internal */
  readonly fenceWq: WaitQueue;
  private readonly pendingFlushes: Fence[] = [];
  private engine: Task | null = null;

  constructor(kernel: Kernel, options: DeviceOptions) {
    if (typeof options.name !== 'string' || options.name === '') {
      throw new HmmlabError('ERR_BAD_ARGUMENT', 'Device: options.name must be a non-empty string');
    }
    checkDeviceOptions(options);
    this.kernel = kernel;
    this.name = options.name;
    this.owner = options.owner ?? { device: options.name };
    this.faultMode = options.faultMode ?? 'replayable';
    this.hasTlb = options.tlb ?? true;
    this.pageSize = devicePageSize(kernel, options);
    this.walkSpan = walkSpan(this.pageSize, options);
    this.atomics = options.atomics ?? 'write';
    this.queueWq = kernel.waitQueue(`${this.name} queues`);
    this.fenceWq = kernel.waitQueue(`${this.name} fences`);
    const mem = options.memory;
    if (mem !== undefined) {
      const device = this;
      const ops: DevPagemapOps = {
        // A method, not an arrow function: from TypeScript sources (tsx), a stored arrow function's
        // name is set by a defineProperty call each time one is made, and a run makes its devices.
        pageFree(page) {
          device.freeStack.push(page.pfn);
        },
      };
      if (mem.migrateToRam !== undefined) ops.migrateToRam = mem.migrateToRam;
      this.pgmap = memremapPages(kernel, {
        type: mem.type === 'private' ? MEMORY_DEVICE_PRIVATE : MEMORY_DEVICE_COHERENT,
        owner: this.owner,
        nrPages: mem.pages,
        ops,
        name: `${this.name} memory`,
      });
      this.fresh = this.pgmap.startPfn;
      this.freshEnd = this.pgmap.startPfn + this.pgmap.nrPages;
    } else {
      this.pgmap = null;
    }
  }

  /**
   * Pfns of the free device pages, as a stack: the last entry is handed out next (the lowest pfns
   * first, then, last in first out, the pages `pageFree` gives back). The list is the allocator's
   * own: a driver may take pages out of it (a huge page's aligned run). Made on first use, in time
   * proportional to the device's memory; {@link Device.allocPage} and
   * {@link Device.freePageCount} need no list.
   */
  get freePages(): number[] {
    if (this.fresh < this.freshEnd) {
      const list: number[] = [];
      for (let pfn = this.freshEnd - 1; pfn >= this.fresh; pfn--) if (!this.held(pfn)) list.push(pfn);
      for (const pfn of this.freeStack) list.push(pfn);
      this.freeStack = list;
      this.fresh = this.freshEnd;
    }
    return this.freeStack;
  }

  /** Whether {@link Device.holdMemory} holds `pfn`. */
  private held(pfn: number): boolean {
    return this.holdEvery !== 0 && (pfn - (this.pgmap as DevPagemap).startPfn) % this.holdEvery === 0;
  }

  /** Number of the never handed out pfns in `[fresh, end)` that are not held. */
  private freshCount(end = this.freshEnd): number {
    const n = end - this.fresh;
    if (this.holdEvery === 0 || n <= 0) return Math.max(0, n);
    const start = (this.pgmap as DevPagemap).startPfn;
    const e = this.holdEvery;
    // Offsets from the start that are multiples of `e`, in [fresh - start, end - start).
    return n - (Math.ceil((end - start) / e) - Math.ceil((this.fresh - start) / e));
  }

  /** Creates a device address space mirroring `mm`; `ops.fault` handles replayable faults. */
  createVm(mm: Mm, ops: DeviceVmOps = {}): DeviceVm {
    const vm = new DeviceVm(this, mm, ops);
    this.vms.push(vm);
    return vm;
  }

  /**
   * Allocates a free device page (`zone_device_page_init`: refcount 1, locked by the caller).
   * Returns null when device memory is exhausted.
   */
  allocPage(): Page | null {
    let pfn = this.freeStack.pop();
    if (pfn === undefined) {
      while (this.fresh < this.freshEnd && this.held(this.fresh)) this.fresh++;
      if (this.fresh >= this.freshEnd) return null;
      pfn = this.fresh++;
    }
    const p = this.kernel.pages.page(pfn);
    zoneDevicePageInit(p);
    return p;
  }

  /**
   * Takes free pages out of the allocator for good, as other users' buffers hold part of a
   * device's memory (see `Scenario.deviceMemory`): with `free`, every page but the `free` ones
   * handed out first; with `every`, one page in every `every`, counted from the start of the
   * memory, so that no run of `every` free pages is left. The pages stay as they are (free, with
   * no reference): nothing of the driver's reaches them. Returns the number of pages taken.
   */
  holdMemory(hold: MemoryHold): number {
    const pgmap = this.pgmap;
    if (pgmap === null) return 0;
    const before = this.freePageCount;
    if ('free' in hold) {
      // The stack hands out its last entries first: the bottom goes, which is the highest never
      // handed out pfns, then the first pages given back.
      const keepFresh = hold.free - this.freeStack.length;
      if (keepFresh < 0) {
        this.freshEnd = this.fresh;
        this.freeStack.splice(0, -keepFresh);
      } else if (keepFresh < this.freshCount()) {
        let end = this.fresh + keepFresh;
        while (this.freshCount(end) < keepFresh) end++;
        this.freshEnd = end;
      }
    } else if (this.holdEvery === 0 || this.fresh >= this.freshEnd) {
      this.holdEvery = hold.every;
      const kept = this.freeStack.filter((pfn) => (pfn - pgmap.startPfn) % hold.every !== 0);
      this.freeStack.length = 0;
      for (const pfn of kept) this.freeStack.push(pfn);
    } else {
      // A second pattern over the first: as a list.
      const list = this.freePages;
      const kept = list.filter((pfn) => (pfn - pgmap.startPfn) % hold.every !== 0);
      list.length = 0;
      for (const pfn of kept) list.push(pfn);
    }
    return before - this.freePageCount;
  }

  /** Number of free device pages. */
  get freePageCount(): number {
    return this.freeStack.length + this.freshCount();
  }

  /**
   * `dma_map_page`: the device may now read (and write, if `write`) the system page. Mapping a page
   * that is already free is allowed, as `dma_map_page` (kernel/dma/mapping.c) checks nothing of the
   * page's reference count: the device then reaches a free, soon reused page. That is a contract
   * breach the oracle reports (`freed-page-mapped`), not a model error.
   */
  dmaMap(page: Page, write: boolean): void {
    this.dma.set(page.pfn, (this.dma.get(page.pfn) ?? 0) + 1);
    if (this.kernel.trace.on) this.kernel.trace.emit({ type: 'dma', dev: this.name, pfn: page.pfn, op: 'map', write });
  }

  /**
   * `dma_unmap_page`. Of a page the device has no mapping of, the DMA API's debug check WARNs and
   * unmaps nothing (kernel/dma/debug.c, `check_unmap`: "device driver tries to free DMA memory it
   * has not allocated"); without it the IOMMU unmaps whatever the address now stands for.
   */
  dmaUnmap(page: Page): void {
    const n = this.dma.get(page.pfn) ?? 0;
    if (n === 0) {
      this.kernel.warn('dma-unmap-unmapped', `${this.name}: dma_unmap_page of ${String(page)}, which it has not mapped`);
      return;
    }
    if (n === 1) this.dma.delete(page.pfn);
    else this.dma.set(page.pfn, n - 1);
    if (this.kernel.trace.on) this.kernel.trace.emit({ type: 'dma', dev: this.name, pfn: page.pfn, op: 'unmap', write: false });
  }

  /**
   * Stops the device's queues: no device access happens until {@link Device.resume}. Takes effect
   * at once. Work waiting on them when its process has exited ends with -ENODEV instead: a
   * process's queues that stay stopped past its exit are destroyed with it, not run.
   */
  quiesce(): void {
    if (this.quiesced) return;
    this.quiesced = true;
    if (this.kernel.trace.on) this.kernel.trace.emit({ type: 'dev-queue', dev: this.name, op: 'quiesce' });
  }

  /** Restarts the device's queues. */
  resume(): void {
    if (!this.quiesced) return;
    this.quiesced = false;
    if (this.kernel.trace.on) this.kernel.trace.emit({ type: 'dev-queue', dev: this.name, op: 'resume' });
    this.queueWq.wakeUpAll();
  }

  /** Copies a page with the device's copy engine (synchronous): the copy the oracle checks. */
  copyPage(dst: Page, src: Page): void {
    this.kernel.pages.copyPage(dst, src, this.name);
  }

  /** @internal Queues a TLB invalidation that the device completes later. */
  issueFlush(vm: DeviceVm, start: number, end: number, leafOnly = false): Fence {
    const f = new Fence(this.kernel.nextId('fence'), vm, start, end, this.fenceWq, leafOnly);
    this.pendingFlushes.push(f);
    if (this.kernel.trace.on) {
      this.kernel.trace.emit({
        type: 'dev-tlb',
        dev: this.name,
        vm: vm.id,
        op: 'flush-issue',
        start,
        end,
        fence: f.id,
        entry: 0,
        ...(leafOnly ? { leafOnly: true as const } : {}),
      });
    }
    if (this.engine === null) this.engine = this.kernel.sched.spawn(`${this.name} tlb-inval`, 'device', () => this.flushEngine(), true);
    else this.kernel.sched.wake(this.engine);
    return f;
  }

  /** The device's TLB invalidation engine: completes queued flushes, one per step. */
  private async flushEngine(): Promise<void> {
    const s = this.kernel.sched;
    for (;;) {
      const f = this.pendingFlushes.shift();
      if (f === undefined) {
        await s.park('idle', null);
        continue;
      }
      await s.yield();
      f.vm.completeFlush(f.start, f.end, f.id, f.leafOnly);
      f.signaled = true;
      this.fenceWq.wakeUpAll();
    }
  }

  /** The device's name, for messages. */
  toString(): string {
    return this.name;
  }
}
