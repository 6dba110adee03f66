import { checkScenario } from '@hmmlab/assertions';
import {
  firstRunnable,
  HPAGE_PMD_NR,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  type MigrateVma,
  MMU_NOTIFY_MIGRATE,
  type MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  PROT_READ,
  PROT_WRITE,
  seededDecisions,
  type TraceEvent,
} from '@hmmlab/core';
import { exploreSchedules, replay, runCampaign } from '@hmmlab/fuzz';
import '@hmmlab/assertions/vitest';
import { type DriverDefinition, defineDriver, devPtePfn, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { dmirrorDevmemFaultAllocAndCopy } from '../dmirror/devmem.js';
import { DMIRROR_COMMANDS, type Dmirror } from '../dmirror/dmirror.js';
import dmirror from '../dmirror/driver.js';
import { dmirrorMigrateAllocAndCopy } from '../dmirror/migrate.js';
import { dmirrorProbe } from '../dmirror/probe.js';
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_READ } from '../dmirror/uapi.js';
import fixed, { DmirrorFixed } from './driver.js';

const PS = 4096;
const PAGES = 4;

/**
 * Mirrors PAGES system pages with a READ, migrates them to the device, and returns, for every
 * page the driver copied from system memory, whether its mirror still mapped that page then.
 */
async function mirroredAtCopy(driver: DriverDefinition<Dmirror>): Promise<{ copies: number; mapped: number; data: number[] }> {
  const k = new Kernel({ pageSize: PS, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  const data: number[] = [];
  k.spawn('test', 'cpu', async () => {
    const fd = await instance.bind(mm);
    const a = await mm.mmap(0, PAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    for (let p = 0; p < PAGES; p++) await mm.write(a + p * PS, 100 + p);
    const buf = new Int32Array(PAGES * k.wordsPerPage);
    expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: PAGES, ptr: buf })).ret).toBe(0);
    expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: PAGES, ptr: buf })).ret).toBe(0);
    for (let p = 0; p < PAGES; p++) data.push(await mm.read(a + p * PS));
    await fd.unbind();
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  // Replay the mirror's entries along the trace.
  const mirror = new Map<number, number>();
  let copies = 0;
  let mapped = 0;
  for (const e of k.trace.events() as TraceEvent[]) {
    if (e.type === 'dev-pte') {
      if (e.new === 0) mirror.delete(e.va);
      else mirror.set(e.va, devPtePfn(e.new));
    } else if (e.type === 'page-copy' && e.by === 'hmm_dmirror0' && k.pages.page(e.src).kind === 'system') {
      copies++;
      if ([...mirror.values()].includes(e.src)) mapped++;
    }
  }
  return { copies, mapped, data };
}

describe('dmirror-fixed', () => {
  it('should hold no mirror entry of a system page when it copies it to the device', async () => {
    const r = await mirroredAtCopy(fixed);
    expect(r.copies).toBe(PAGES);
    expect(r.mapped).toBe(0);
    expect(r.data).toEqual([100, 101, 102, 103]);
  });

  it('should differ from dmirror, which copies system pages its mirror still maps writable (A1)', async () => {
    const r = await mirroredAtCopy(dmirror);
    expect(r.copies).toBe(PAGES);
    expect(r.mapped).toBe(PAGES);
    expect(r.data).toEqual([100, 101, 102, 103]);
  });

  // A device write, a migration of that page to the device, and MADV_DONTNEED of it, on every
  // schedule with up to two preemptions. MADV_DONTNEED zaps under the mmap read lock, as the
  // migration runs, so its zap may clear the migration entry after migrate_vma_setup collected it:
  // finalize must not map the new page then. With the foreign-invalidation count snapshotted after
  // mmu_interval_read_begin instead of before, this search fails with missed-flush.
  it('should map no migrated page that MADV_DONTNEED zapped, on any schedule with two preemptions', async () => {
    const racing: Scenario = {
      profile: 'latest',
      regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, word: 0, value: 3 }] },
        { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1 }] },
        { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'dontneed' }] },
      ],
    };
    const x = await exploreSchedules(fixed, racing, { maxPreemptions: 2, maxSchedules: 30_000 });
    expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(x.complete).toBe(true);
    expect(x.schedules).toBeGreaterThan(100);
    const late = await exploreSchedules(variant('dmirror-counts-after-read-begin', CountsAfterReadBegin), racing, {
      maxPreemptions: 2,
      maxSchedules: 30_000,
    });
    expect(late.failure?.violations.map((v) => v.rule)).toContain('missed-flush');
  });

  // MADV_DONTNEED of part of a THP shared with a forked child starts __split_huge_pmd's CLEAR;
  // while its notifiers run, the migration replaces the THP by a PMD migration entry and then a
  // device-private PMD. The split must split what is there then, or the zap leaves a PMD over
  // entries it cleared, and the next fault's migration back collects pages mapped nowhere.
  it('should split whatever PMD a migration left while a partial MADV_DONTNEED split it, and zap under no PMD', async () => {
    const splitDuringMigration: Scenario = {
      profile: 'latest',
      regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
      tasks: [
        { kind: 'cpu', ops: [{ op: 'fork' }, { op: 'madvise', region: 0, page: 1, pages: 44, advice: 'dontneed' }] },
        { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 512, device: 1 }] },
        { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, word: 0, value: 1, device: 0 }] },
      ],
    };
    let replaced = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = await checkScenario(fixed, splitDuringMigration, { decisions: seededDecisions(seed), trace: 'all' });
      expect(r.run.status, `seed ${seed}: ${r.run.message}`).toBe('done');
      expect(
        r.violations.map((v) => v.explanation),
        `seed ${seed}`,
      ).toEqual([]);
      const splits = r.result.world.kernel.trace.events().filter((e) => e.type === 'vma' && e.op === 'split-huge-pmd');
      if (splits.some((e) => e.type === 'vma' && e.detail !== 'thp')) replaced++;
    }
    // Some of the schedules do split a PMD the migration replaced during the split's notifiers.
    expect(replaced).toBeGreaterThan(0);
  });

  // A shared file page cannot become device-private: migrate_vma_pages gives it up after the copy,
  // and finalize restores the source. The copy of that rolled-back migration must not make a later
  // device write to the source count as lost while the page migrates again. The schedule is the
  // one a campaign found when the oracle still remembered such copies.
  it('should lose no write to a page whose earlier migration was rolled back', async () => {
    const rolledBack: Scenario = {
      profile: 'latest',
      regions: [
        { pages: 4, prot: 'rw', share: 'shared', backing: 'file', populate: 'write' },
        { pages: 2, prot: 'rw', share: 'shared', backing: 'anon', populate: 'read' },
      ],
      tasks: [
        { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 1, word: 0, value: 1, device: 0 }] },
        {
          kind: 'driver',
          ops: [
            { op: 'migrate-to-device', region: 0, page: 0, pages: 2 },
            { op: 'prefetch', region: 0, page: 0, pages: 2, write: false },
            { op: 'migrate-to-device', region: 0, page: 0, pages: 2 },
          ],
        },
      ],
    };
    const r = await replay(fixed, rolledBack, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const copies = (r.result.world.kernel.trace.events() as TraceEvent[]).filter((e) => e.type === 'page-copy' && e.by === 'hmm_dmirror0');
    expect(copies.length).toBeGreaterThan(2);
    expect(r.run.status, r.run.message).toBe('done');
    expect(r).toKeepFlushContract();
  });
});

/** Takes every migration for its own: keeps its entries when another device migrates the pages. */
class SkipsEveryMigration extends DmirrorFixed {
  override async intervalInvalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {
    if (range.event !== MMU_NOTIFY_MIGRATE) return super.intervalInvalidate(mni, range, curSeq);
    if (mmuNotifierRangeBlockable(range)) await this.mutex.lock();
    else if (!this.mutex.tryLock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    this.mutex.unlock();
    return true;
  }
}

const skipsEveryMigration = (bindDevices: number) =>
  defineDriver({
    name: `dmirror-skips-every-migration-${bindDevices}`,
    profiles: ['latest'],
    commands: DMIRROR_COMMANDS,
    bindDevices,
    probe: (kernel) => dmirrorProbe(kernel, SkipsEveryMigration),
  });

/**
 * Fix 7: the device writes a page MADV_FREE left lazily freeable, reclaim runs, the CPU reads it.
 * test_hmm erases the mirror entry without marking the page dirty, so reclaim discards the
 * device's write with the page; dmirror-fixed marks it dirty and reclaim keeps it.
 */
describe('a device write to a page MADV_FREE left lazily freeable', () => {
  const scenario: Scenario = {
    regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'free' }] },
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 7 }] },
      { kind: 'kernel', ops: [{ op: 'reclaim', region: 0, page: 0 }] },
      { kind: 'cpu', ops: [{ op: 'read', region: 0, page: 0 }] },
    ],
  };

  it('should report the write dmirror loses, as test_hmm does', async () => {
    const r = await checkScenario(dmirror, scenario, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['lost-write']);
    expect(r.violations[0]?.explanation).toMatch(/^reclaim discarded pfn \d+ of 0x[0-9a-f]+ as a clean MADV_FREE page/);
  });

  it('should keep the page dmirror-fixed marks dirty', async () => {
    const r = await checkScenario(fixed, scenario, { decisions: firstRunnable });
    expect(r).toKeepFlushContract();
  });
});

describe('a process using two dmirror devices', () => {
  const campaign = (driver: DriverDefinition) => runCampaign(driver, { runs: 300, seed: 1, shrink: false });

  it("should catch a mirror that skips another device's migrations, once the process uses a second device", async () => {
    const two = await campaign(skipsEveryMigration(2));
    expect(two.verdict).toBe('fail');
    expect(two.failure?.violation.rule).toBe('missed-flush');
    // With one device every migration is the mirror's own: the skip is right every time.
    expect((await campaign(skipsEveryMigration(1))).verdict).toBe('pass');
  });

  it('should pass dmirror-fixed, which skips only its own migrations', async () => {
    expect(fixed.bindDevices).toBe(2);
    expect((await campaign(fixed)).verdict).toBe('pass');
  });
});

/** Revokes the entries of the pages it migrates to the device without the mutex (fix 1 unlocked). */
class RevokesUnlocked extends DmirrorFixed {
  override async migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    const ps = this.mdevice.kernel.pageSize;
    for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
      if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) this.pt.clearPte(addr, 'revoke before copy');
    }
    await dmirrorMigrateAllocAndCopy(args, this);
  }
}

/** Revokes the entries of its device pages that migrate back without the mutex (fix 6 unlocked). */
class RevokesDevmemUnlocked extends DmirrorFixed {
  override devmemFaultAllocAndCopy(args: MigrateVma): Promise<number> {
    const ps = this.mdevice.kernel.pageSize;
    for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
      if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) this.pt.clearPte(addr, 'revoke before copy');
    }
    return dmirrorDevmemFaultAllocAndCopy(args, this);
  }
}

/** Leaves the erase of its device pages' entries to the copy step, without the mutex (test_hmm's, without fix 6). */
class ErasesAtCopy extends DmirrorFixed {
  override devmemFaultAllocAndCopy(args: MigrateVma): Promise<number> {
    return dmirrorDevmemFaultAllocAndCopy(args, this);
  }
}

/** Takes the foreign-invalidation count after `mmu_interval_read_begin` rather than before it. */
class CountsAfterReadBegin extends DmirrorFixed {
  override async migrateChunkStart(): Promise<number | null> {
    await mmuIntervalReadBegin(this.notifier);
    await this.mutex.lock();
    const token = this.foreign.get();
    this.mutex.unlock();
    return token;
  }
}

const variant = (name: string, Ctor: typeof DmirrorFixed) =>
  defineDriver({ name, profiles: ['latest'], commands: DMIRROR_COMMANDS, bindDevices: 2, probe: (kernel) => dmirrorProbe(kernel, Ctor) });

// HMM_DMIRROR_WRITE of two pages (dmirror_do_write: xa_load of each entry, then memcpy into its
// page, holding only the mutex) while the pages migrate. A migration that revokes the entries and
// copies the pages between one write's lookup and its copy loses that write.
describe('a write command racing a migration that revokes the entries it copies through', () => {
  const region = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' } as const;
  const toDevice: Scenario = {
    profile: 'latest',
    regions: [region],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, pages: 2, value: 3 }] },
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 2 }] },
    ],
  };
  const toRam: Scenario = {
    profile: 'latest',
    regions: [region],
    tasks: [
      {
        kind: 'driver',
        ops: [
          { op: 'migrate-to-device', region: 0, page: 0, pages: 2 },
          { op: 'migrate-to-ram', region: 0, page: 0, pages: 2 },
        ],
      },
      {
        kind: 'device',
        ops: [
          { op: 'dev-write', region: 0, page: 0, pages: 2, value: 3 },
          { op: 'dev-write', region: 0, page: 0, pages: 2, value: 4 },
        ],
      },
    ],
  };

  it('should lose a write when the sys→dev revoke skips the mutex, and none with it', async () => {
    const bug = await exploreSchedules(variant('dmirror-revokes-unlocked', RevokesUnlocked), toDevice, {
      maxPreemptions: 3,
      maxSchedules: 20_000,
    });
    expect(bug.failure?.violations[0]?.rule ?? 'none').toBe('lost-write');
    const ok = await exploreSchedules(fixed, toDevice, { maxPreemptions: 3, maxSchedules: 20_000 });
    expect(ok.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(ok.complete).toBe(true);
  });

  it('should lose a write when the dev→sys path revokes or erases the entries without the mutex, and none with fix 6', async () => {
    const bug = await exploreSchedules(variant('dmirror-erases-at-copy', ErasesAtCopy), toRam, { maxPreemptions: 2, maxSchedules: 20_000 });
    expect(bug.failure?.violations[0]?.rule ?? 'none').toBe('lost-write');
    const unlocked = await exploreSchedules(variant('dmirror-revokes-devmem-unlocked', RevokesDevmemUnlocked), toRam, {
      maxPreemptions: 2,
      maxSchedules: 20_000,
    });
    expect(unlocked.failure?.violations[0]?.rule ?? 'none').toBe('lost-write');
    // test_hmm itself: its callback returns before taking the mutex for its own migrations
    // (dmirror_interval_invalidate), so nothing orders the erase with the write either.
    const port = await exploreSchedules(dmirror, toRam, { maxPreemptions: 2, maxSchedules: 20_000 });
    expect(port.failure?.violations[0]?.rule ?? 'none').toBe('lost-write');
    const ok = await exploreSchedules(fixed, toRam, { maxPreemptions: 2, maxSchedules: 20_000 });
    expect(ok.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(ok.complete).toBe(true);
  });
});

/** Fix 1 as it was first written: revokes only the entries that carry `MIGRATE_PFN_MIGRATE`. */
class RevokesFirstOfHuge extends DmirrorFixed {
  override async migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    const ps = this.mdevice.kernel.pageSize;
    await this.mutex.lock();
    for (let i = 0, addr = args.start; addr < args.end; i++, addr += ps) {
      if (((args.src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0) this.pt.clearPte(addr, 'revoke before copy');
    }
    this.mutex.unlock();
    await dmirrorMigrateAllocAndCopy(args, this);
  }
}

// A THP migrated whole has one compound entry for its 512 pages (MIGRATE_PFN_COMPOUND on the
// first, 0 after it): a revoke that looks only for MIGRATE_PFN_MIGRATE leaves the mirror's entry
// of every other page of it, which the device read before, mapped through the copy.
describe('the revoke before the copy of a THP that migrates to the device whole', () => {
  const thp: Scenario = {
    profile: 'latest',
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 1 }] },
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 512 }] },
    ],
  };

  it('should report the pages after the compound entry left mapped, and nothing when fix 1 revokes the whole folio', async () => {
    const bug = await replay(variant('dmirror-revokes-first-of-huge', RevokesFirstOfHuge), thp, []);
    expect(bug.violations[0]?.rule ?? 'none').toBe('own-migration-unrevoked');
    const ok = await exploreSchedules(fixed, thp, { maxPreemptions: 1, maxSchedules: 40 });
    expect(ok.failure?.violations[0]?.rule ?? 'none').toBe('none');
  });
});

/**
 * A fallback to base pages that gives a huge page up whole when device memory runs out before
 * every entry has a page, and forgets to free the pages it got for the first ones: a cleanup
 * missed on an error path. Those pages stay in use, pointing to the mirror.
 */
class DropsPartialFallback extends DmirrorFixed {
  override async migrateAllocAndCopy(args: MigrateVma): Promise<void> {
    await super.migrateAllocAndCopy(args);
    for (let i = 0; i < args.npages; i++) {
      const huge = ((args.src[i] as number) & MIGRATE_PFN_COMPOUND) !== 0;
      if (!huge || ((args.dst[i] as number) & MIGRATE_PFN_COMPOUND) !== 0) continue;
      let partial = false;
      for (let j = 0; j < HPAGE_PMD_NR; j++) partial ||= args.dst[i + j] === 0;
      if (partial) for (let j = 0; j < HPAGE_PMD_NR; j++) args.dst[i + j] = 0;
      i += HPAGE_PMD_NR - 1;
    }
  }
}

// A THP migrated whole needs an aligned run of 512 free device pages (allocHugePage); when other
// users hold part of device memory there is none, and dmirror falls back to one base page per
// entry, as far as the memory goes. A driver's error paths there are reached only when device
// memory is short, as it is on a GPU whose other contexts fill it.
describe('a THP migrated whole into device memory that other users hold part of', () => {
  const thp = (deviceMemory?: Scenario['deviceMemory']): Scenario => ({
    profile: 'latest',
    ...(deviceMemory !== undefined ? { deviceMemory } : {}),
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 1 }] },
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 512 }, { op: 'unbind' }] },
    ],
  });

  it.each([
    ['in pieces (one page in every 64 held)', { every: 64 }],
    ['nearly full (2 pages free)', { free: 2 }],
    ['free', undefined],
  ] as const)('should pass with device memory %s', async (_name, held) => {
    const r = await replay(fixed, thp(held), []);
    expect(r.violations.map((v) => v.rule)).toEqual([]);
  });

  it('should report the release that waits forever for the pages a partial fallback leaked, and only when memory runs out', async () => {
    const drops = variant('dmirror-drops-partial-fallback', DropsPartialFallback);
    // The release's wait loop runs until the step limit: a small one is enough to see it.
    const bug = await checkScenario(drops, thp({ free: 2 }), { decisions: firstRunnable, maxSteps: 20_000 });
    expect(bug.violations[0]?.rule ?? 'none').toBe('livelock');
    const whole = await replay(drops, thp({ every: 64 }), []);
    expect(whole.violations.map((v) => v.rule)).toEqual([]);
  });
});

/** `dmirror_device_remove_chunks` without `devmem_lock`: `HMM_DMIRROR_RELEASE` evicts unlocked. */
const releasesUnlocked = defineDriver({
  name: 'dmirror-releases-unlocked',
  profiles: ['latest'],
  commands: DMIRROR_COMMANDS,
  bindDevices: 2,
  probe(kernel) {
    const instance = dmirrorProbe(kernel, DmirrorFixed);
    for (const m of instance.mdevices) m.removeChunks = () => m.evictChunk();
    return instance;
  },
});

// Two HMM_DMIRROR_RELEASE evictions at once, without devmem_lock, while the CPU and the device
// touch the migrated pages: migrate_device_range takes a page only if it gets a reference
// (get_page_unless_zero: not a freed page) and its lock (trylock_page: not a page the other
// eviction, or a CPU fault, is migrating), mm/migrate_device.c, so each device page is evicted
// once, by whichever gets it first.
describe('two concurrent releases of device memory without devmem_lock', () => {
  const twoReleases: Scenario = {
    profile: 'latest',
    regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
    tasks: [
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 2 }, { op: 'evict' }] },
      { kind: 'driver', ops: [{ op: 'evict' }] },
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, word: 0, value: 3 }] },
    ],
  };

  it('should keep the flush contract and the data on every schedule with one preemption', async () => {
    const x = await exploreSchedules(releasesUnlocked, twoReleases, { maxPreemptions: 1, maxSchedules: 5_000 });
    expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
    expect(x.complete).toBe(true);
    expect(x.schedules).toBeGreaterThan(10);
  });

  it('should pass a campaign whose scenarios all have two driver programs', async () => {
    const r = await runCampaign(releasesUnlocked, { runs: 300, seed: 1, shrink: false, shape: { driverPrograms: { min: 2, max: 2 } } });
    expect(r.failure?.violation.rule ?? 'none').toBe('none');
    expect(r.runs).toBe(300);
  });
});
