import {
  EFAULT,
  firstRunnable,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  type Kernel,
  type Mm,
  MmuIntervalNotifier,
  MmuNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
  mmuNotifierPut,
  mmuNotifierRegister,
  mmuNotifierUnregister,
  seededDecisions,
  ULONG_MAX,
} from '@hmmlab/core';
import { type Binding, Device, defineDriver, hmmRangeFaultLoop, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { checkScenario } from '../check.js';

/** How the mini mirror's unbind goes. */
type Unbind = 'correct' | 'keeps-translations' | 'frees-before-remove';

/** One interval notifier over the whole space; the callback clears and flushes under a lock. */
function mirror(unbind: Unbind) {
  return defineDriver({
    name: `mirror-${unbind}`,
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm): Promise<Binding> {
          const lock = kernel.mutex('mirror lock');
          const mni = new MmuIntervalNotifier('mirror');
          const ps = kernel.pageSize;
          // The device's faults: taken while bound, and waited for by unbind before it tears down.
          const faults = { open: true, inFlight: 0, done: kernel.waitQueue('mirror faults') };
          const vm = dev.createVm(mm, {
            fault: async (v, f) => {
              if (!faults.open) return -EFAULT;
              faults.inFlight++;
              const start = f.va - (f.va % ps);
              try {
                return await hmmRangeFaultLoop({
                  mm,
                  range: {
                    notifier: mni,
                    notifierSeq: 0,
                    start,
                    end: start + ps,
                    hmmPfns: [0],
                    defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
                    pfnFlagsMask: 0,
                    devPrivateOwner: dev.owner,
                  },
                  lock: () => lock.lock(),
                  unlock: () => lock.unlock(),
                  commit(r) {
                    const e = r.hmmPfns[0] as number;
                    v.setPte(r.start, hmmPfnToPage(kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 });
                  },
                });
              } finally {
                if (--faults.inFlight === 0) faults.done.wakeUpAll();
              }
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % ps), {
            async invalidate(sub, range, curSeq) {
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              vm.flushTlb(range.start, range.end);
              lock.unlock();
              return true;
            },
          });
          return {
            vms: [vm],
            async unbind() {
              faults.open = false;
              await faults.done.waitEvent(() => faults.inFlight === 0);
              await lock.lock();
              if (unbind !== 'keeps-translations') {
                vm.clearRange(0, ULONG_MAX);
                vm.flushTlb(0, ULONG_MAX);
              }
              if (unbind === 'frees-before-remove') vm.destroy('page table freed');
              lock.unlock();
              await mmuIntervalNotifierRemove(mni);
            },
          };
        },
      };
    },
  });
}

const region = { pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' } as const;

/** A device write, then unbind, then munmap of the page: in that order. */
const inOrder: Scenario = {
  regions: [region],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 3 }] },
    { kind: 'driver', ops: [{ op: 'unbind' }] },
    { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 1 }] },
  ],
};

describe('lifecycle rules', () => {
  it('should report translation-after-unbind when unbind leaves a device translation', async () => {
    const r = await checkScenario(mirror('keeps-translations'), inOrder, { decisions: firstRunnable });
    const v = r.violations.find((x) => x.rule === 'translation-after-unbind');
    expect(v?.explanation).toMatch(/gpu0 vm \d+ still translates 1 page\(s\) when unbind returns/);
    expect(v?.translations).toHaveLength(2);
  });

  it('should report vm-use-after-free when a callback walks a page table unbind freed', async () => {
    // Unbind frees the page table, then the munmap's callback runs before the removal (schedule of seed 1).
    const r = await checkScenario(mirror('frees-before-remove'), inOrder, { decisions: seededDecisions(1) });
    const v = r.violations.find((x) => x.rule === 'vm-use-after-free');
    expect(v?.explanation).toMatch(
      /clearRange .* freed at step \d+ \(page table freed\); a callback of the invalidation #\d+ still reaches it/,
    );
    expect(v?.invalidation?.event).toBe('MMU_NOTIFY_UNMAP');
  });

  it.each([
    ['in order', () => firstRunnable],
    ['on the schedule of seed 1', () => seededDecisions(1)],
  ])('should pass the same scenario with a correct unbind, %s', async (_name, decisions) => {
    const r = await checkScenario(mirror('correct'), inOrder, { decisions: decisions() });
    expect(r.violations).toEqual([]);
    expect(r.run.status).toBe('done');
  });
});

/** An interval notifier over the first GiB of `mm` whose callback only moves the sequence. */
async function seqOnlyNotifier(mm: Mm, name: string): Promise<MmuIntervalNotifier> {
  const mni = new MmuIntervalNotifier(name);
  await mmuIntervalNotifierInsert(mni, mm, 0, 1 << 30, {
    invalidate(sub, _range, curSeq) {
      mmuIntervalSetSeq(sub, curSeq);
      return Promise.resolve(true);
    },
  });
  return mni;
}

/**
 * What the leaky driver keeps after its work: nothing, a device page it allocated, an mm
 * reference, its interval notifier or its classic notifier's registration.
 */
type Keeps = 'nothing' | 'device-page' | 'mm-reference' | 'interval-notifier' | 'classic-notifier';

/**
 * A driver whose `migrateToDevice` allocates a device page for a copy that then fails, and whose
 * `prefetch` takes an mm reference for its walk; it inserts an interval notifier and registers a
 * classic one at bind, which its unbind removes; `keeps` is what it forgets to give back.
 */
function leaky(keeps: Keeps) {
  return defineDriver({
    name: `leaky-${keeps}`,
    probe(kernel: Kernel) {
      // No page of it is ever mapped, so no CPU fault reaches migrateToRam.
      const dev = new Device(kernel, { name: 'gpu0', memory: { type: 'private', pages: 4, migrateToRam: () => Promise.resolve(0) } });
      return {
        devices: [dev],
        async bind(mm): Promise<Binding> {
          const mni = await seqOnlyNotifier(mm, 'leaky interval');
          const mn = new MmuNotifier({ invalidateRangeStart: () => Promise.resolve(0) }, 'leaky classic');
          await mmuNotifierRegister(mn, mm);
          return {
            vms: [dev.createVm(mm, {})],
            migrateToDevice() {
              const page = dev.allocPage();
              if (page === null) return Promise.resolve(-12);
              if (keeps !== 'device-page') {
                kernel.pages.unlockPage(page);
                kernel.pages.putPage(page);
              }
              return Promise.resolve(-11);
            },
            async prefetch() {
              if (!mm.mmgetNotZero()) return -14;
              if (keeps !== 'mm-reference') await mm.mmput();
              return 0;
            },
            async unbind() {
              if (keeps !== 'interval-notifier') await mmuIntervalNotifierRemove(mni);
              if (keeps !== 'classic-notifier') await mmuNotifierUnregister(mn, mm);
            },
          };
        },
      };
    },
  });
}

const work: Scenario = {
  regions: [region],
  tasks: [
    {
      kind: 'driver',
      ops: [
        { op: 'migrate-to-device', region: 0, page: 0, pages: 1 },
        { op: 'prefetch', region: 0, page: 0, pages: 1, write: false },
      ],
    },
  ],
  exitAtEnd: true,
};

/**
 * A driver with no unbind that lives as long as the mm, as amdkfd's process does: its classic
 * notifier's `release` is its teardown, which has a work item remove its interval notifier and, when `put`, drops
 * the registration (`mmu_notifier_put`, as `kfd_process_notifier_release_internal` ends).
 * `hook: false`: no classic notifier at all, so the driver has no teardown.
 */
function mmLifetime(put: boolean, hook = true) {
  return defineDriver({
    name: `mm-lifetime-${put ? 'put' : 'kept'}${hook ? '' : '-no-hook'}`,
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'gpu0' });
      return {
        devices: [dev],
        async bind(mm): Promise<Binding> {
          const mni = await seqOnlyNotifier(mm, 'process ranges');
          const mn: MmuNotifier = new MmuNotifier(
            {
              release() {
                // No removal from a callback: a work item does it (kfd_process_wq_release).
                kernel.spawn('process release work', 'kernel', () => mmuIntervalNotifierRemove(mni));
                if (put) mmuNotifierPut(mn);
                return Promise.resolve();
              },
            },
            'process release',
          );
          if (hook) await mmuNotifierRegister(mn, mm);
          return { vms: [dev.createVm(mm, {})] };
        },
      };
    },
  });
}

describe('leak-at-exit', () => {
  it('should report a device page the driver still holds once the process exited and its file closed', async () => {
    const r = await checkScenario(leaky('device-page'), work, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /^gpu0: 1 device page\(s\) still referenced .* memunmap_pages waits for every device page/,
    );
    expect(r.violations[0]?.device).toBe('gpu0');
  });

  it('should report an address space a reference kept from being torn down', async () => {
    const r = await checkScenario(leaky('mm-reference'), work, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(/^mm \d+ was never torn down: .* pair every mmget_not_zero with an mmput$/);
  });

  it('should report an interval notifier unbind never removed, by name and range', async () => {
    const r = await checkScenario(leaky('interval-notifier'), work, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /^mm \d+: every process exited and every device file is closed, yet the driver's notifiers still hold it: 1 interval notifier\(s\) still inserted \("leaky interval" \[0x0, 0x40000000\)\): mmu_interval_notifier_insert took a reference on the mm \(mmgrab\) that only mmu_interval_notifier_remove drops/,
    );
    expect(r.violations[0]?.explanation).not.toMatch(/mmu_notifier registration/);
  });

  it('should report a classic notifier registration never dropped', async () => {
    const r = await checkScenario(leaky('classic-notifier'), work, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /still hold it: 1 mmu_notifier registration\(s\) never dropped: mmu_notifier_register \(or _get\) took a reference on the mm that only mmu_notifier_unregister/,
    );
    expect(r.violations[0]?.explanation).not.toMatch(/interval notifier/);
  });

  it('should judge a driver without unbind once its release notifier ran: a registration it never put', async () => {
    const r = await checkScenario(mmLifetime(false), work, { decisions: firstRunnable });
    expect(r.violations.map((v) => v.rule)).toEqual(['leak-at-exit']);
    expect(r.violations[0]?.explanation).toMatch(
      /^mm \d+: every process exited and the driver's release notifier ran, yet the driver's notifiers still hold it: 1 mmu_notifier registration\(s\) never dropped/,
    );
    const fixed = await checkScenario(mmLifetime(true), work, { decisions: firstRunnable });
    expect(fixed.violations).toEqual([]);
  });

  it('should not judge the notifiers of a driver that has no teardown at all (no unbind, no release notifier)', async () => {
    const r = await checkScenario(mmLifetime(false, false), work, { decisions: firstRunnable });
    expect(r.violations).toEqual([]);
  });

  it.each(['device-page', 'mm-reference', 'interval-notifier', 'classic-notifier'] as const)(
    'should not judge a run that does not end with the exit (%s kept)',
    async (keeps) => {
      const r = await checkScenario(leaky(keeps), { ...work, exitAtEnd: false }, { decisions: firstRunnable });
      expect(r.violations).toEqual([]);
    },
  );

  it.each([
    ['in order', () => firstRunnable],
    ['on the schedule of seed 1', () => seededDecisions(1)],
  ])('should pass a driver that gives everything back, %s', async (_name, decisions) => {
    const r = await checkScenario(leaky('nothing'), work, { decisions: decisions() });
    expect(r.violations).toEqual([]);
    expect(r.run.status).toBe('done');
  });
});
