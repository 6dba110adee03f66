/**
 * A device address space mirroring one process (a dmirror, a nouveau svmm, an amdkfd process
 * VM, an xe VM, an ODP MR): its page table and TLB, and device accesses through TLB → page table
 * → fault, so every access is visible in the trace.
 */
import { ENODEV, HmmlabError, hex, invokeDriver, type Mm, type Page, SignalError } from '@hmmlab/core';
import type { Device, Fence } from './device.js';
import { DEV_PTE_ATOMIC, DEV_PTE_WRITE, devPteAllows, devPteFlags, devPtePfn, mkDevPte } from './device-pte.js';

/** Where a device translation lives: its leaf TLB, its page-walk cache (a freed table), or its page table. */
export type TranslationSource = 'tlb' | 'walk' | 'pt';

/** Options of {@link DeviceVm.flushTlb}. */
export interface FlushOptions {
  /** Evict the leaf TLB only, keeping the page-walk cache (Arm's `TLBI VALE`). @defaultValue false */
  readonly leafOnly?: boolean;
}

/** The span of a leaf page-table page when the device has no walk cache: 512 entries of 4 KiB. */
const TABLE_SPAN = 2 * 1024 * 1024;

/** The kind of a device access. */
export type AccessKind = 'read' | 'write' | 'atomic';

/** What the driver's fault handler is told. */
export interface DeviceFault {
  /** The faulting address. */
  readonly va: number;
  /** The kind of access. */
  readonly kind: AccessKind;
}

/** Driver callbacks of a device address space. */
export interface DeviceVmOps {
  /**
   * Replayable fault: make `fault.va` accessible for `fault.kind` (install device entries), then
   * return 0 to replay the access, or a negative errno to fail it.
   */
  fault?(vm: DeviceVm, fault: DeviceFault): number | Promise<number>;
}

/** A failed device access: a fatal fault, or a fault the driver could not resolve. */
export class DeviceFaultError extends SignalError {
  /** The negative errno the access failed with. */
  readonly errno: number;
  constructor(address: number, errno: number, message: string) {
    super('SIGBUS', address, message);
    this.name = 'DeviceFaultError';
    this.errno = errno;
  }
}

/**
 * Result of a `try*` access: `ok` with `value`, the word read (or an atomic's result), or not `ok`
 * with `errno`, the negative errno the access failed with.
 */
export type AccessResult = { ok: true; value: number } | { ok: false; errno: number };

/** Replays of one access before the device gives up on it. */
const MAX_REPLAYS = 64;

/** A device address space. */
export class DeviceVm {
  /** Unique id, as in traces. */
  readonly id: number;
  /** The device. */
  readonly device: Device;
  /** The mirrored address space. */
  readonly mm: Mm;
  /** The driver's callbacks. */
  ops: DeviceVmOps;
  /** Device page table: virtual page number → device entry. */
  readonly pt = new Map<number, number>();
  /**
   * Device TLB: virtual page number → cached entry, served until a flush completes. The pages of
   * one granule ({@link Device.pageSize}) are cached and evicted together, as one TLB entry.
   */
  readonly tlb = new Map<number, number>();
  /**
   * The page-walk cache ({@link DeviceOptions.walkCache}): leaf-table index → `null` while the
   * cached pointer leads to the live table, or the entries a table held when the driver freed it
   * while the device still cached its address. Empty on a device without one.
   */
  readonly walk = new Map<number, Map<number, number> | null>();
  /**
   * Each entry update is atomic on its own: the page table is an XArray whose `xa_store` and
   * `xa_erase` take `xa_lock` (test_hmm's `dmirror->pt`). The oracle's `data-race` rule then does
   * not count two updates of one entry as a race, but for an install outside an invalidation
   * callback and a change inside one that nothing orders: the callback could have run between the
   * install's decision and its store (an install must be stored under the lock the callback takes).
   * @defaultValue false
   */
  atomicEntries = false;
  /** The driver freed this address space (see {@link DeviceVm.destroy}). */
  destroyed = false;
  /**
   * The process whose device work runs in this address space has exited (the harness sets it
   * once its `exit_mmap` is done): its work waiting on stopped queues ends, as the queues of a
   * process that is gone never run it again (amdkfd destroys them at its release).
   */
  processGone = false;

  constructor(device: Device, mm: Mm, ops: DeviceVmOps) {
    this.id = device.kernel.nextId('device-vm');
    this.device = device;
    this.mm = mm;
    this.ops = ops;
  }

  private get pageSize(): number {
    return this.device.kernel.pageSize;
  }

  /**
   * Frees the address space: its page table and its device context (test_hmm's `xa_destroy` of
   * `dmirror->pt` in `dmirror_fops_release`, `drm_gpuvm_put`). Its entries and cached translations
   * are gone; a later update or walk of its page table is a use after free, reported by the
   * oracle, and a device access through it fails with -ENODEV.
   */
  destroy(why = 'free'): void {
    // Code that went on past a wait it did not await (a removal of the notifier dropped with
    // `void`): that is what gets reported, blaming its task, and the page table stays.
    if (this.device.kernel.sched.strayCode(`DeviceVm.destroy (${why})`)) return;
    if (this.destroyed) {
      this.usedAfterFree(`destroy (${why})`);
      return;
    }
    const tr = this.device.kernel.trace;
    if (tr.on) tr.emit({ type: 'dev-vm', dev: this.device.name, vm: this.id, op: 'destroy', what: why });
    this.destroyed = true;
    this.pt.clear();
    this.tlb.clear();
    this.walk.clear();
  }

  /** Driver code used this address space after {@link DeviceVm.destroy}: a trace event for the oracle. */
  /**
   * An entry update with an address that is no address (NaN, a fraction, negative: it was stored
   * under a page number no access reaches) or with no page (it failed on reading the page's pfn).
   */
  private badEntry(api: string, va: number, page: Page | null): never {
    const what = !(va >= 0 && Number.isSafeInteger(va))
      ? `va ${String(va)} is not an address (a non-negative integer)`
      : `page ${String(page)} is not a struct page`;
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${this.device.name} vm ${this.id} ${api}: ${what}`);
  }

  private usedAfterFree(what: string): void {
    const tr = this.device.kernel.trace;
    if (tr.on) tr.emit({ type: 'dev-vm', dev: this.device.name, vm: this.id, op: 'use-after-free', what });
  }

  /** The device entry mapping `va` (0: none). */
  pte(va: number): number {
    return this.pt.get(Math.floor(va / this.pageSize)) ?? 0;
  }

  /**
   * Installs a device entry: `va` → `page`. Mapping a page that is not what the CPU maps (even a
   * freed one) is allowed here, as real hardware allows it: that is the bug the oracle reports.
   */
  setPte(va: number, page: Page, perm: { write: boolean; atomic?: boolean }, why = 'map'): void {
    if (!(va >= 0 && Number.isSafeInteger(va)) || typeof page?.pfn !== 'number') this.badEntry('setPte', va, page);
    if (this.destroyed) {
      this.usedAfterFree(`setPte ${hex(va)} (${why})`);
      return;
    }
    const vpn = Math.floor(va / this.pageSize);
    const old = this.pt.get(vpn) ?? 0;
    const e = mkDevPte(page.pfn, perm.write, perm.atomic ?? false);
    this.pt.set(vpn, e);
    const tr = this.device.kernel.trace;
    if (tr.on) tr.emit({ type: 'dev-pte', dev: this.device.name, vm: this.id, va: vpn * this.pageSize, old, new: e, why });
  }

  /** Clears the device entry of `va` (the TLB may still hold it until flushed). */
  clearPte(va: number, why = 'unmap'): void {
    if (!(va >= 0 && Number.isSafeInteger(va))) this.badEntry('clearPte', va, null);
    if (this.destroyed) {
      this.usedAfterFree(`clearPte ${hex(va)} (${why})`);
      return;
    }
    const vpn = Math.floor(va / this.pageSize);
    const old = this.pt.get(vpn);
    if (old === undefined) return;
    this.pt.delete(vpn);
    const tr = this.device.kernel.trace;
    if (tr.on) tr.emit({ type: 'dev-pte', dev: this.device.name, vm: this.id, va: vpn * this.pageSize, old, new: 0, why });
  }

  /** Clears every device entry in `[start, end)`; returns how many were cleared. */
  clearRange(start: number, end: number, why = 'unmap'): number {
    if (this.destroyed) {
      this.usedAfterFree(`clearRange [${hex(start)}, ${hex(end)}) (${why})`);
      return 0;
    }
    let n = 0;
    for (const vpn of this.vpnsIn(this.pt, start, end)) {
      this.clearPte(vpn * this.pageSize, why);
      n++;
    }
    return n;
  }

  /**
   * `set_page_dirty` of the system page of every writable entry in `[start, end)` (device memory
   * pages aside); returns how many. A driver calls it before it revokes writable translations
   * (clears them, write-protects them, or stops the device that holds them): the device may have
   * written those pages, and a device's write leaves the CPU entry clean, so after `MADV_FREE`
   * reclaim would take them for clean and discard the data (`Pages.setPageDirty`).
   */
  dirtyWritable(start: number, end: number): number {
    if (this.destroyed) {
      this.usedAfterFree(`dirtyWritable [${hex(start)}, ${hex(end)})`);
      return 0;
    }
    const pages = this.device.kernel.pages;
    let n = 0;
    for (const vpn of this.vpnsIn(this.pt, start, end)) {
      const e = this.pt.get(vpn) as number;
      if ((devPteFlags(e) & DEV_PTE_WRITE) === 0) continue;
      const page = pages.pfnToPage(devPtePfn(e));
      if (page === undefined || page.isZoneDevice) continue;
      pages.setPageDirty(page);
      n++;
    }
    return n;
  }

  /** Write-protects the device entries of `[start, end)` (and drops atomic permission). */
  writeProtectRange(start: number, end: number, why = 'wrprotect'): number {
    if (this.destroyed) {
      this.usedAfterFree(`writeProtectRange [${hex(start)}, ${hex(end)}) (${why})`);
      return 0;
    }
    let n = 0;
    const tr = this.device.kernel.trace;
    for (const vpn of this.vpnsIn(this.pt, start, end)) {
      const old = this.pt.get(vpn) as number;
      const e = old - (old % 8) + ((old % 8) & ~(DEV_PTE_WRITE | DEV_PTE_ATOMIC));
      if (e === old) continue;
      this.pt.set(vpn, e);
      n++;
      if (tr.on) tr.emit({ type: 'dev-pte', dev: this.device.name, vm: this.id, va: vpn * this.pageSize, old, new: e, why });
    }
    return n;
  }

  /** Virtual page numbers with an entry in `[start, end)`, ascending, in O(entries) for big ranges. */
  private vpnsIn(map: Map<number, number>, start: number, end: number): number[] {
    const ps = this.pageSize;
    const first = Math.floor(start / ps);
    const last = Math.ceil(end / ps);
    const out: number[] = [];
    if (last - first <= map.size * 4) {
      for (let v = first; v < last; v++) if (map.has(v)) out.push(v);
      return out;
    }
    for (const v of map.keys()) if (v >= first && v < last) out.push(v);
    return out.sort((a, b) => a - b);
  }

  /**
   * Flushes the TLB for `[start, end)` and waits for it: no later access hits an old entry. Every
   * granule the range touches is evicted and, unless `options.leafOnly`, every page-walk cache
   * entry of a table the range touches (a leaf-only flush is Arm's `TLBI VALE`, the full one
   * `TLBI VAE`).
   */
  flushTlb(start: number, end: number, options: FlushOptions = {}): void {
    if (this.destroyed) {
      this.usedAfterFree(`flushTlb [${hex(start)}, ${hex(end)})`);
      return;
    }
    const leafOnly = options.leafOnly ?? false;
    const tr = this.device.kernel.trace;
    if (tr.on)
      tr.emit({
        type: 'dev-tlb',
        dev: this.device.name,
        vm: this.id,
        op: 'flush-issue',
        start,
        end,
        fence: 0,
        entry: 0,
        ...(leafOnly ? { leafOnly: true as const } : {}),
      });
    this.completeFlush(start, end, 0, leafOnly);
  }

  /**
   * Issues a TLB flush for `[start, end)` and returns its fence: the TLB keeps serving the old
   * entries until the device completes the flush, at a later step. `await fence.wait()`.
   * `options` as for {@link DeviceVm.flushTlb}.
   */
  flushTlbAsync(start: number, end: number, options: FlushOptions = {}): Fence {
    return this.device.issueFlush(this, start, end, options.leafOnly ?? false);
  }

  /** @internal Drops TLB entries of `[start, end)` (and walk-cache entries unless `leafOnly`): a flush completes. */
  completeFlush(start: number, end: number, fence: number, leafOnly = false): void {
    const g = this.device.pageSize;
    // A TLB entry holds a whole granule: a flush touching any part of it evicts all of it.
    for (const vpn of this.vpnsIn(this.tlb, alignDown(start, g), Math.ceil(end / g) * g)) this.tlb.delete(vpn);
    const span = this.device.walkSpan;
    if (!leafOnly && span > 0) {
      for (const t of [...this.walk.keys()]) if (t * span < end && start < (t + 1) * span) this.walk.delete(t);
    }
    const tr = this.device.kernel.trace;
    if (tr.on)
      tr.emit({
        type: 'dev-tlb',
        dev: this.device.name,
        vm: this.id,
        op: 'flush-complete',
        start,
        end,
        fence,
        entry: 0,
        ...(leafOnly ? { leafOnly: true as const } : {}),
      });
  }

  /**
   * Frees the leaf page-table pages that lie wholly inside `[start, end)`, without clearing their
   * entries one by one: the bulk unmap that drops a table from its directory entry and frees it
   * (io-pgtable-arm.c, `__arm_lpae_unmap` on a table entry). Their entries leave the page table;
   * a walk cache that still holds a freed table's address keeps translating through the entries
   * it held until a flush that is not leaf-only evicts it. Entries of tables the range covers only
   * in part stay: clear them with {@link DeviceVm.clearRange}. On a device without a walk cache the
   * tables are those of {@link DeviceOptions.walkCache}'s default, 2 MiB. Returns the number of
   * entries removed.
   */
  freeTables(start: number, end: number, why = 'free-table'): number {
    if (this.destroyed) {
      this.usedAfterFree(`freeTables [${hex(start)}, ${hex(end)}) (${why})`);
      return 0;
    }
    const ps = this.pageSize;
    const span = this.device.walkSpan > 0 ? this.device.walkSpan : TABLE_SPAN;
    const per = span / ps;
    const tr = this.device.kernel.trace;
    let n = 0;
    const tables = new Set<number>();
    for (const vpn of this.vpnsIn(this.pt, start, end)) tables.add(Math.floor(vpn / per));
    for (const t of this.walk.keys()) tables.add(t);
    for (const t of [...tables].sort((a, b) => a - b)) {
      if (t * span < start || (t + 1) * span > end) continue;
      const held = new Map<number, number>();
      for (const vpn of this.vpnsIn(this.pt, t * span, (t + 1) * span)) {
        const old = this.pt.get(vpn) as number;
        held.set(vpn, old);
        this.pt.delete(vpn);
        n++;
        if (tr.on) tr.emit({ type: 'dev-pte', dev: this.device.name, vm: this.id, va: vpn * ps, old, new: 0, why });
      }
      if (this.walk.get(t) === null) this.walk.set(t, held);
    }
    return n;
  }

  /** Entries the device can still reach through a freed page-table page its walk cache holds: `[vpn, entry]`. */
  freedTableEntries(): [number, number][] {
    const out: [number, number][] = [];
    for (const held of this.walk.values()) if (held !== null) for (const [vpn, e] of held) out.push([vpn, e]);
    return out;
  }

  /** The leaf entry a walk of `vpn` finds: through the walk cache's table if it holds one, else the page table. */
  private walkEntry(vpn: number): number | undefined {
    const span = this.device.walkSpan;
    if (span === 0) return this.pt.get(vpn);
    const t = Math.floor(vpn / (span / this.pageSize));
    const held = this.walk.get(t);
    if (held === undefined) {
      const e = this.pt.get(vpn);
      // Only a walk that reaches a leaf is cached.
      if (e !== undefined && this.device.hasTlb) this.walk.set(t, null);
      return e;
    }
    return held === null ? this.pt.get(vpn) : held.get(vpn);
  }

  /** A walk of `vpn` found no entry: the walk-cache entry that led there is not kept. */
  private dropWalk(vpn: number): void {
    const span = this.device.walkSpan;
    if (span > 0) this.walk.delete(Math.floor(vpn / (span / this.pageSize)));
  }

  /**
   * The device page (TLB granule) holding `va`: `[start, end)`, {@link Device.pageSize} long.
   * @returns the granule's `start` and `end`
   */
  granuleOf(va: number): { start: number; end: number } {
    const g = this.device.pageSize;
    const start = alignDown(va, g);
    return { start, end: start + g };
  }

  /**
   * A TLB miss on virtual page `vpn`: the walk caches the whole granule holding it, one TLB entry
   * replacing whatever the old one held, with every page-table entry inside the granule.
   */
  private fillGranule(vpn: number): void {
    const ps = this.pageSize;
    const per = this.device.pageSize / ps;
    const first = alignDown(vpn, per);
    const tr = this.device.kernel.trace;
    for (let v = first; v < first + per; v++) {
      const e = this.walkEntry(v);
      if (e === undefined) {
        this.tlb.delete(v);
        continue;
      }
      this.tlb.set(v, e);
      if (tr.on)
        tr.emit({ type: 'dev-tlb', dev: this.device.name, vm: this.id, op: 'fill', start: v * ps, end: (v + 1) * ps, fence: 0, entry: e });
    }
  }

  /** The device could not use its cached translation of `vpn`: it drops the TLB entry of the whole granule. */
  private dropGranule(vpn: number): void {
    const per = this.device.pageSize / this.pageSize;
    const first = alignDown(vpn, per);
    for (let v = first; v < first + per; v++) this.tlb.delete(v);
  }

  /**
   * Every translation of `va` the device can still use: its leaf TLB entry, the entry of a freed
   * table its walk cache still reaches, and its page-table entry.
   * @returns each translation's `source` and its device `entry`
   */
  translations(va: number): { source: TranslationSource; entry: number }[] {
    const vpn = Math.floor(va / this.pageSize);
    const out: { source: TranslationSource; entry: number }[] = [];
    const t = this.tlb.get(vpn);
    if (t !== undefined) out.push({ source: 'tlb', entry: t });
    if (this.walk.size > 0) {
      const held = this.walk.get(Math.floor(vpn / (this.device.walkSpan / this.pageSize)));
      const w = held?.get(vpn);
      if (w !== undefined) out.push({ source: 'walk', entry: w });
    }
    const p = this.pt.get(vpn);
    if (p !== undefined) out.push({ source: 'pt', entry: p });
    return out;
  }

  /** Device load of the word at `va`; throws {@link DeviceFaultError} if the access fails. */
  async read(va: number): Promise<number> {
    return this.accessOrThrow(va, 'read', 0, null);
  }

  /** Device store at `va`. */
  async write(va: number, value: number): Promise<void> {
    await this.accessOrThrow(va, 'write', value, null);
  }

  /** Device atomic read-modify-write at `va`: stores `op(old)` and returns `old`. */
  async atomic(va: number, op: (old: number) => number): Promise<number> {
    return this.accessOrThrow(va, 'atomic', 0, op);
  }

  /** Like {@link DeviceVm.read}, but returns the failure instead of throwing. */
  tryRead(va: number): Promise<AccessResult> {
    return this.access(va, 'read', 0, null);
  }

  /** Like {@link DeviceVm.write}, but returns the failure instead of throwing. */
  tryWrite(va: number, value: number): Promise<AccessResult> {
    return this.access(va, 'write', value, null);
  }

  /** Like {@link DeviceVm.atomic}, but returns the failure instead of throwing. */
  tryAtomic(va: number, op: (old: number) => number): Promise<AccessResult> {
    return this.access(va, 'atomic', 0, op);
  }

  /**
   * One access through the page table only, without a step, a TLB or a fault: what a driver does
   * when it touches mirrored memory itself under its lock (test_hmm's `dmirror_do_read` /
   * `dmirror_do_write`). Returns null when no entry allows the access.
   */
  accessMapped(va: number, kind: AccessKind, value = 0, op: ((old: number) => number) | null = null): number | null {
    const k = this.device.kernel;
    const e = this.pt.get(Math.floor(va / k.pageSize));
    if (e === undefined || !devPteAllows(e, kind === 'atomic' && this.device.atomics === 'write' ? 'write' : kind)) return null;
    return this.accessPage(devPtePfn(e), va, kind, value, op);
  }

  /** The word of `va` in page `pfn`, read or written by driver code, with its `dev-access` event. */
  private accessPage(pfn: number, va: number, kind: AccessKind, value: number, op: ((old: number) => number) | null): number {
    const k = this.device.kernel;
    const page = k.pages.page(pfn);
    const w = Math.floor(k.pageOffset(va) / k.wordSize);
    let v = page.words[w] as number;
    if (kind === 'write') {
      page.words[w] = value;
      v = value;
    } else if (kind === 'atomic' && op !== null) {
      page.words[w] = op(v);
    }
    const tr = k.trace;
    if (tr.on)
      tr.emit({
        type: 'dev-access',
        dev: this.device.name,
        vm: this.id,
        va,
        kind,
        value: kind === 'atomic' ? (page.words[w] as number) : v,
        pfn: page.pfn,
        via: 'pt',
        driver: true,
      });
    return v;
  }

  /**
   * The `count` words from `va` (all in one page) copied by driver code through its page table: a
   * read copies them into `buf` from `at`, a write copies them from `buf` at `at` into the page.
   * As test_hmm's `dmirror_do_read` / `dmirror_do_write` do, the entry is looked up first
   * (`xa_load`), then the page it names is copied (`kmap`, `memcpy`): the code holds no lock that
   * keeps the entry, and a preemptible kernel can switch tasks between the two, or another CPU
   * change the entry meanwhile, so the lookup and the copy are separated by a preemption point,
   * and the copy goes to the page looked up even if the entry changed since. The copy is one block
   * when nobody observes accesses; otherwise it makes word-by-word accesses, each a `dev-access`
   * event, as {@link DeviceVm.accessMapped} does. Resolves to false, having copied nothing (and
   * without the preemption point), when no entry allows the access.
   */
  async copyMapped(va: number, kind: 'read' | 'write', buf: Int32Array, at: number, count: number): Promise<boolean> {
    const k = this.device.kernel;
    if (!Number.isInteger(at) || !Number.isInteger(count) || at < 0 || count < 0 || at + count > buf.length) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${this.device.name} copyMapped: words [${at}, ${at + count}) lie outside the buffer's ${buf.length} words`,
      );
    }
    if (count > 0 && Math.floor(va / k.pageSize) !== Math.floor((va + (count - 1) * k.wordSize) / k.pageSize)) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `${this.device.name} copyMapped: ${count} words from ${hex(va)} cross a page boundary`);
    }
    const e = this.pt.get(Math.floor(va / k.pageSize));
    if (e === undefined || !devPteAllows(e, kind)) return false;
    const pfn = devPtePfn(e);
    await k.sched.yield();
    if (k.trace.on) {
      for (let i = 0; i < count; i++) {
        const va1 = va + i * k.wordSize;
        if (kind === 'read') buf[at + i] = this.accessPage(pfn, va1, 'read', 0, null);
        else this.accessPage(pfn, va1, 'write', buf[at + i] as number, null);
      }
      return true;
    }
    const words = k.pages.page(pfn).words;
    const w = Math.floor(k.pageOffset(va) / k.wordSize);
    if (kind === 'read') buf.set(count === words.length ? words : words.subarray(w, w + count), at);
    else words.set(buf.subarray(at, at + count), w);
    return true;
  }

  private async accessOrThrow(va: number, kind: AccessKind, value: number, op: ((old: number) => number) | null): Promise<number> {
    const r = await this.access(va, kind, value, op);
    if (r.ok) return r.value;
    throw new DeviceFaultError(va, r.errno, `${this.device.name}: ${kind} at ${hex(va)} failed with ${r.errno}`);
  }

  /** One device access: a step, then TLB → page table → fault, replaying after each fault. */
  private async access(va: number, kind: AccessKind, value: number, op: ((old: number) => number) | null): Promise<AccessResult> {
    const dev = this.device;
    const k = dev.kernel;
    if (!Number.isInteger(va) || va < 0 || alignDown(va, k.wordSize) !== va) {
      throw new HmmlabError('ERR_UNALIGNED', `${dev.name} ${kind}: address ${String(va)} is not aligned to the word size ${k.wordSize}`);
    }
    const vpn = Math.floor(va / k.pageSize);
    const tr = k.trace;
    await k.sched.yield();
    for (let replay = 0; ; replay++) {
      if (dev.quiesced) await dev.queueWq.waitEvent(() => !dev.quiesced || this.processGone);
      if (this.destroyed || (dev.quiesced && this.processGone)) return { ok: false, errno: -ENODEV };
      let via: 'tlb' | 'pt' = 'tlb';
      let e = this.tlb.get(vpn);
      if (e === undefined) {
        via = 'pt';
        e = this.walkEntry(vpn);
        if (e === undefined) this.dropWalk(vpn);
        else if (dev.hasTlb) this.fillGranule(vpn);
      }
      if (e !== undefined && devPteAllows(e, kind === 'atomic' && dev.atomics === 'write' ? 'write' : kind)) {
        const page = k.pages.page(devPtePfn(e));
        const w = Math.floor(k.pageOffset(va) / k.wordSize);
        let v = page.words[w] as number;
        if (kind === 'write') {
          page.words[w] = value;
          v = value;
        } else if (kind === 'atomic' && op !== null) {
          page.words[w] = op(v);
        }
        if (tr.on)
          tr.emit({
            type: 'dev-access',
            dev: dev.name,
            vm: this.id,
            va,
            kind,
            value: kind === 'atomic' ? (page.words[w] as number) : v,
            pfn: page.pfn,
            via,
          });
        return { ok: true, value: v };
      }
      // A miss or a permission fault: the hardware drops the entry it could not use.
      if (e !== undefined) this.dropGranule(vpn);
      const handler = this.ops.fault;
      if (dev.faultMode === 'fatal' || handler === undefined || replay >= MAX_REPLAYS) {
        const errno = replay >= MAX_REPLAYS ? -16 : -14;
        if (replay >= MAX_REPLAYS)
          k.warn('device-fault-livelock', `${dev.name}: ${kind} at ${hex(va)} still faults after ${MAX_REPLAYS} replays`);
        if (tr.on) tr.emit({ type: 'dev-fault', dev: dev.name, vm: this.id, va, kind, phase: 'end', result: errno, fatal: true });
        return { ok: false, errno };
      }
      if (tr.on) tr.emit({ type: 'dev-fault', dev: dev.name, vm: this.id, va, kind, phase: 'begin', result: 0, fatal: false });
      const r = await invokeDriver(k.sched, `${dev.name} fault handler at ${hex(va)} (${kind})`, false, () =>
        handler.call(this.ops, this, { va, kind }),
      );
      if (typeof r !== 'number') {
        throw new HmmlabError(
          'ERR_BAD_ARGUMENT',
          `${dev.name} fault handler returned ${String(r)}; return 0 to replay the access or a negative errno`,
        );
      }
      if (tr.on) tr.emit({ type: 'dev-fault', dev: dev.name, vm: this.id, va, kind, phase: 'end', result: r, fatal: false });
      if (r < 0) return { ok: false, errno: r };
    }
  }

  /** `<device> vm <id>`, for messages. */
  toString(): string {
    return `${this.device.name} vm ${this.id}`;
  }
}

/**
 * `x - (x % size)` for `x >= 0` and a power-of-two `size` (device page sizes and walk spans are):
 * an address or page number above 2^31 is no small integer, and V8 computes `%` of such a number
 * by a call to a floating-point remainder (see `Kernel.pageOffset`).
 */
function alignDown(x: number, size: number): number {
  return Math.trunc(x / size) * size;
}
