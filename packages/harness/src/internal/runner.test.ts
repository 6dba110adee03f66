import {
  type DecisionSource,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  hmmPfnToPage,
  Kernel,
  MmuIntervalNotifier,
  type Mutex,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  seededDecisions,
  type TaskInfo,
  ULONG_MAX,
} from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device } from './device.js';
import type { DeviceVm } from './device-vm.js';
import { defineDriver } from './driver.js';
import { hmmRangeFaultLoop } from './helpers/range-fault.js';
import { runScenario } from './runner.js';
import type { Scenario } from './scenario.js';

/** A minimal mirror: one interval notifier over the whole address space, zap + flush on every invalidation. */
function mirrorDriver(opts: { flush: boolean }) {
  return defineDriver({
    name: 'mini-mirror',
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'mini0' });
      return {
        devices: [dev],
        async bind(mm) {
          const lock: Mutex = kernel.mutex('mini.lock');
          const mni = new MmuIntervalNotifier('mini');
          const vm: DeviceVm = dev.createVm(mm, {
            async fault(v, f) {
              const pfns = [0];
              return hmmRangeFaultLoop({
                mm,
                range: {
                  notifier: mni,
                  notifierSeq: 0,
                  start: f.va - (f.va % kernel.pageSize),
                  end: f.va - (f.va % kernel.pageSize) + kernel.pageSize,
                  hmmPfns: pfns,
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
            },
          });
          await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % kernel.pageSize), {
            async invalidate(sub, range, curSeq) {
              if (!mmuNotifierRangeBlockable(range)) return false;
              await lock.lock();
              mmuIntervalSetSeq(sub, curSeq);
              vm.clearRange(range.start, range.end);
              if (opts.flush) vm.flushTlb(range.start, range.end);
              lock.unlock();
              return true;
            },
          });
          return { vms: [vm] };
        },
      };
    },
  });
}

const scenario: Scenario = {
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, value: 7 },
        { op: 'dev-read', region: 0, page: 1 },
      ],
    },
    {
      kind: 'cpu',
      ops: [
        { op: 'read', region: 0, page: 0 },
        { op: 'munmap', region: 0, page: 1, pages: 1 },
      ],
    },
  ],
};

describe('runScenario', () => {
  it('should run a device and a CPU program against a driver to completion', async () => {
    const r = await runScenario(mirrorDriver({ flush: true }), scenario, { decisions: seededDecisions(1), trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes).toHaveLength(4);
    const kinds = new Set(r.world.kernel.trace.events().map((e) => e.type));
    expect(kinds.has('dev-access')).toBe(true);
    expect(kinds.has('inv-start')).toBe(true);
  });

  it('should refuse a misspelt option, naming the options, before the driver is probed', async () => {
    let probes = 0;
    const counted = defineDriver({
      name: 'counted',
      probe(kernel) {
        probes++;
        return mirrorDriver({ flush: true }).probe(kernel);
      },
    });
    await expect(runScenario(counted, scenario, { decisions: seededDecisions(1), maxstep: 10 } as never)).rejects.toThrow(
      'runScenario: unknown option "maxstep"; the options are decisions, observers, maxSteps, trace',
    );
    expect(probes).toBe(0);
  });

  it('should replay the same run from the same decisions', async () => {
    const a = await runScenario(mirrorDriver({ flush: true }), scenario, { decisions: seededDecisions(9), trace: 'all' });
    const { arrayDecisions } = await import('@hmmlab/core');
    const b = await runScenario(mirrorDriver({ flush: true }), scenario, { decisions: arrayDecisions(a.run.decisions), trace: 'all' });
    const strip = (r: typeof a) => JSON.stringify(r.world.kernel.trace.events());
    expect(strip(b)).toBe(strip(a));
  });

  it('should keep serving a stale TLB entry when the driver does not flush', async () => {
    const stale: Scenario = {
      regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        {
          kind: 'device',
          ops: [
            { op: 'dev-read', region: 0, page: 0 },
            { op: 'dev-read', region: 0, page: 0 },
          ],
        },
      ],
    };
    const r = await runScenario(mirrorDriver({ flush: false }), stale, { decisions: seededDecisions(3), trace: 'all' });
    expect(r.run.status).toBe('done');
    const vm = r.world.binding?.vms[0];
    expect(vm?.tlb.size).toBe(1);
  });

  it('should move a region with mremap, its contents with it, and address the new place from then on', async () => {
    const moved: Scenario = {
      regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        {
          kind: 'cpu',
          ops: [
            { op: 'write', region: 0, page: 1, value: 42 },
            { op: 'mremap', region: 0 },
            { op: 'read', region: 0, page: 1 },
          ],
        },
      ],
    };
    const r = await runScenario(mirrorDriver({ flush: true }), moved, { decisions: seededDecisions(1), trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([
      ['write', 'ok', 0],
      ['mremap', 'ok', 0],
      ['read', 'ok', 42],
    ]);
    const base = r.world.regionBase[0] as number;
    expect(r.world.processes[0]?.findVma(base)?.start).toBe(base);
    // The region left its first place: nothing is mapped there any more.
    const first = r.world.kernel.trace.events().find((e) => e.type === 'vma' && e.op === 'mmap');
    expect(first?.type).toBe('vma');
    const was = first?.type === 'vma' ? first.start : -1;
    expect(base).not.toBe(was);
    expect(r.world.processes[0]?.findVma(was)).toBeUndefined();
  });

  it("should build the kernel with the scenario's profile overrides", async () => {
    const r = await runScenario(
      mirrorDriver({ flush: true }),
      { ...scenario, profile: '6.1', profileOverrides: { exclusiveRestoreOwner: 'caller' } },
      { decisions: seededDecisions(1) },
    );
    expect(r.world.kernel.profile.name).toBe('6.1');
    expect(r.world.kernel.profile.exclusiveRestoreOwner).toBe('caller');
    expect(r.world.processes[0]?.profile.exclusiveRestoreOwner).toBe('caller');
  });

  it("should apply the driver's own kernel what-if under the scenario's overrides, and refuse an unknown row", async () => {
    const d = {
      ...mirrorDriver({ flush: true }),
      profileOverrides: { classicFailureItree: 'end' as const, exclusiveRestoreOwner: 'caller' as const },
    };
    const r = await runScenario(
      d,
      { ...scenario, profile: '6.1', profileOverrides: { exclusiveRestoreOwner: 'none' } },
      { decisions: seededDecisions(1) },
    );
    expect(r.world.kernel.profile.classicFailureItree).toBe('end');
    expect(r.world.kernel.profile.exclusiveRestoreOwner).toBe('none');
    expect(() => defineDriver({ ...d, profileOverrides: { noSuchRow: true } as never })).toThrow(
      /profileOverrides: .*"noSuchRow" is not a profile field/,
    );
  });

  it('should run the unmodified profile without overrides', async () => {
    const r = await runScenario(mirrorDriver({ flush: true }), { ...scenario, profile: '6.1' }, { decisions: seededDecisions(1) });
    expect(r.world.kernel.profile.exclusiveRestoreOwner).toBe('none');
  });

  it.each<[string, unknown]>([
    ['an unknown field', { exclusiveRestoreOwnr: 'caller' }],
    ['an array', ['caller']],
  ])('should reject profile overrides with %s', async (_name, profileOverrides) => {
    await expect(
      runScenario(mirrorDriver({ flush: true }), { ...scenario, profileOverrides } as Scenario, { decisions: seededDecisions(1) }),
    ).rejects.toThrow(/scenario: profileOverrides/);
  });

  it.each<[string, 'ok' | 'skipped']>([
    ['while the process exits', 'ok'],
    ['after exit_mmap', 'skipped'],
  ])('should run compaction of a page %s only until exit_mmap has torn the page tables down', async (_when, status) => {
    const racing = status === 'ok';
    let exiting = false;
    const decisions = {
      pick(c: readonly { kind: string }[]) {
        // The CPU program first, and the kernel's once exit_mmap has started (racing) or when the CPU's is done.
        const want = racing && exiting ? 'kernel' : 'cpu';
        return Math.max(
          0,
          c.findIndex((t) => t.kind === want),
        );
      },
    };
    const r = await runScenario(
      mirrorDriver({ flush: true }),
      {
        regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
        tasks: [
          { kind: 'cpu', ops: [{ op: 'exit' }] },
          { kind: 'kernel', ops: [{ op: 'compact', region: 0, page: 0 }] },
        ],
      },
      {
        decisions,
        observers: [
          {
            attach(w) {
              w.kernel.trace.subscribe((e) => {
                if (e.type === 'vma' && e.op === 'exit') exiting = true;
              });
            },
          },
        ],
      },
    );
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes.find((o) => o.op === 'compact')?.status).toBe(status);
  });

  it("should run a driver's extra command over its range, and mark it unsupported for a binding without commands", async () => {
    const calls: string[] = [];
    const inner = mirrorDriver({ flush: true });
    const withCommands = defineDriver({
      name: 'with-commands',
      commands: ['query'],
      async probe(kernel) {
        const i = await inner.probe(kernel);
        return {
          devices: i.devices,
          async bind(mm) {
            const b = await i.bind(mm);
            return {
              ...b,
              async command(name: string, start: number, end: number) {
                calls.push(`${name} ${start}..${end}`);
                return -1;
              },
            };
          },
        };
      },
    });
    const scenario: Scenario = {
      regions: [{ pages: 3, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [{ kind: 'driver', ops: [{ op: 'command', name: 'query', region: 0, page: 1, pages: 2 }] }],
    };
    const r = await runScenario(withCommands, scenario, { decisions: seededDecisions(1) });
    expect(r.run.status, r.run.message).toBe('done');
    const base = r.world.regionBase[0] as number;
    const ps = r.world.kernel.pageSize;
    expect(calls).toEqual([`query ${base + ps}..${base + 3 * ps}`]);
    expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([['command', 'ok', -1]]);
    const plain = await runScenario(inner, scenario, { decisions: seededDecisions(1) });
    expect(plain.outcomes.map((o) => [o.op, o.status])).toEqual([['command', 'unsupported']]);
  });

  describe('device work waiting on stopped queues', () => {
    /** The mini mirror with a `stop` command: the queues of its device stop and never resume. */
    const inner = mirrorDriver({ flush: true });
    const stopper = defineDriver({
      name: 'stopper',
      commands: ['stop'],
      async probe(kernel) {
        const i = await inner.probe(kernel);
        const dev = i.devices[0] as Device;
        return {
          devices: i.devices,
          async bind(mm) {
            const b = await i.bind(mm);
            return {
              ...b,
              async command() {
                dev.quiesce();
                return 0;
              },
            };
          },
        };
      },
    });
    const stopThenRead = (cpu: Scenario['tasks'][number]['ops']): Scenario => ({
      regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        { kind: 'driver', ops: [{ op: 'command', name: 'stop', region: 0, page: 0, pages: 1 }] },
        { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
        { kind: 'cpu', ops: cpu },
      ],
    });
    // In task order: the queues stop, the device read waits on them, then the CPU program runs.
    const inOrder: DecisionSource = { pick: () => 0 };

    it('should end the work once its process has exited: the queues of a process that is gone never run it', async () => {
      const r = await runScenario(stopper, stopThenRead([{ op: 'exit' }]), { decisions: inOrder });
      expect(r.run.status, r.run.message).toBe('done');
      expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([
        ['command', 'ok', 0],
        ['exit', 'ok', 0],
        ['dev-read', 'signal', -19],
      ]);
    });

    it('should keep the work waiting while its process lives: nothing resumes the queues, which is a deadlock', async () => {
      const r = await runScenario(stopper, stopThenRead([{ op: 'read', region: 0, page: 0 }]), { decisions: inOrder });
      expect(r.run.status).toBe('deadlock');
      expect(r.run.message).toContain('mini0 queues');
    });
  });

  it("should send a driver action that names a device through the process's binding of that device, opened once", async () => {
    const opened: number[] = [];
    const calls: string[] = [];
    const inner = mirrorDriver({ flush: true });
    const twoDevices = defineDriver({
      name: 'two-devices',
      bindDevices: 2,
      async probe(kernel) {
        const i = await inner.probe(kernel);
        return {
          devices: [...i.devices, ...i.devices],
          async bind(mm, options) {
            const device = options?.device ?? 0;
            opened.push(device);
            const b = await i.bind(mm);
            return {
              ...b,
              async migrateToDevice() {
                calls.push(`migrate through ${device}`);
                return 0;
              },
            };
          },
        };
      },
    });
    const scenario: Scenario = {
      regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        {
          kind: 'driver',
          ops: [
            { op: 'migrate-to-device', region: 0, page: 0, pages: 1, device: 1 },
            { op: 'migrate-to-device', region: 0, page: 1, pages: 1 },
            { op: 'migrate-to-device', region: 0, page: 0, pages: 2, device: 1 },
            { op: 'migrate-to-device', region: 0, page: 0, pages: 1, device: 2 },
          ],
        },
      ],
    };
    const r = await runScenario(twoDevices, scenario, { decisions: seededDecisions(1) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(opened).toEqual([0, 1]);
    expect(calls).toEqual(['migrate through 1', 'migrate through 0', 'migrate through 1']);
    // The driver has no device 2.
    expect(r.outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'ok', 'unsupported']);
  });

  it('should open a device once when two threads first use it at once, the second waiting for the first', async () => {
    const inner = mirrorDriver({ flush: true });
    const runOnce = async (decisions: DecisionSource) => {
      const opened: number[] = [];
      const closed: number[] = [];
      const twoDevices = defineDriver({
        name: 'two-devices-slow-open',
        bindDevices: 2,
        async probe(kernel) {
          const i = await inner.probe(kernel);
          return {
            devices: [...i.devices, ...i.devices],
            async bind(mm, options) {
              const device = options?.device ?? 0;
              opened.push(device);
              // The open sleeps, as an open that allocates and registers a notifier does.
              await kernel.yieldPoint();
              const b = await i.bind(mm);
              return {
                ...b,
                migrateToDevice: () => Promise.resolve(0),
                unbind() {
                  closed.push(device);
                  return Promise.resolve();
                },
              };
            },
          };
        },
      });
      const migrate = { op: 'migrate-to-device', region: 0, page: 0, pages: 1, device: 1 } as const;
      const r = await runScenario(
        twoDevices,
        {
          exitAtEnd: true,
          regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
          tasks: [
            { kind: 'driver', ops: [migrate] },
            { kind: 'driver', ops: [migrate] },
          ],
        },
        { decisions },
      );
      expect(r.run.status, r.run.message).toBe('done');
      expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([
        ['migrate-to-device', 'ok', 0],
        ['migrate-to-device', 'ok', 0],
      ]);
      return { opened, closed };
    };
    // Round robin: the second thread runs while the first one's open sleeps.
    let last = -1;
    const roundRobin: DecisionSource = {
      pick(candidates) {
        const next = Math.max(
          0,
          candidates.findIndex((t) => t.id > last),
        );
        last = (candidates[next] as TaskInfo).id;
        return next;
      },
    };
    const schedules: [string, DecisionSource][] = [['round robin', roundRobin]];
    for (let seed = 1; seed <= 10; seed++) schedules.push([`seed ${seed}`, seededDecisions(seed)]);
    for (const [name, decisions] of schedules) {
      const { opened, closed } = await runOnce(decisions);
      expect(
        opened.filter((d) => d === 1),
        name,
      ).toEqual([1]);
      expect(closed.sort(), name).toEqual([0, 1]);
    }
  });

  describe('device accesses of several pages', () => {
    const rangeOps: Scenario = {
      regions: [{ pages: 3, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        {
          kind: 'device',
          ops: [
            { op: 'dev-write', region: 0, page: 1, pages: 2, value: 5 },
            { op: 'dev-read', region: 0, page: 0, pages: 3 },
          ],
        },
      ],
    };

    it('should touch the word of each page in turn through the device without a copy command', async () => {
      const r = await runScenario(mirrorDriver({ flush: true }), rangeOps, { decisions: seededDecisions(1), trace: 'all' });
      expect(r.run.status, r.run.message).toBe('done');
      const accesses = r.world.kernel.trace.events().flatMap((e) => (e.type === 'dev-access' ? [[e.kind, e.value]] : []));
      // The populated word 0 of page 0, then the two stores the read sees back.
      expect(accesses).toEqual([
        ['write', 5],
        ['write', 5],
        ['read', 1_000_000],
        ['read', 5],
        ['read', 5],
      ]);
      expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([
        ['dev-write', 'ok', 5],
        ['dev-read', 'ok', 5],
      ]);
    });

    it("should run the binding's copy commands with the range, and report their errors", async () => {
      const calls: string[] = [];
      const inner = mirrorDriver({ flush: true });
      const copier = defineDriver({
        name: 'copier',
        async probe(kernel) {
          const i = await inner.probe(kernel);
          return {
            devices: i.devices,
            async bind(mm) {
              const b = await i.bind(mm);
              const pages = async (start: number, end: number) => {
                await mm.mmapLock.downRead();
                const at = mm.findVma(start)?.start ?? 0;
                mm.mmapLock.upRead();
                return `${(start - at) / kernel.pageSize}..${(end - at) / kernel.pageSize}`;
              };
              return {
                ...b,
                async readRange(start: number, end: number) {
                  calls.push(`read ${await pages(start, end)}`);
                  return -14;
                },
                async writeRange(start: number, end: number, value: number) {
                  calls.push(`write ${await pages(start, end)} = ${value}`);
                  return 0;
                },
              };
            },
          };
        },
      });
      const r = await runScenario(copier, rangeOps, { decisions: seededDecisions(1) });
      expect(r.run.status, r.run.message).toBe('done');
      expect(calls).toEqual(['write 1..3 = 5', 'read 0..3']);
      expect(r.outcomes.map((o) => [o.op, o.status, o.ret])).toEqual([
        ['dev-write', 'ok', 0],
        ['dev-read', 'signal', -14],
      ]);
    });

    it('should keep the address space alive while a copy command runs, as the thread in the syscall holds it', async () => {
      const inner = mirrorDriver({ flush: true });
      const seen: boolean[] = [];
      let copying = false;
      const slowCopier = defineDriver({
        name: 'slow-copier',
        async probe(kernel) {
          const i = await inner.probe(kernel);
          return {
            devices: i.devices,
            async bind(mm) {
              const b = await i.bind(mm);
              return {
                ...b,
                accessesAreSyscalls: true,
                async readRange(start: number) {
                  copying = true;
                  for (let n = 0; n < 3; n++) await kernel.yieldPoint();
                  await mm.mmapLock.downRead();
                  seen.push(mm.findVma(start) !== undefined);
                  mm.mmapLock.upRead();
                  return 0;
                },
              };
            },
          };
        },
      });
      const r = await runScenario(
        slowCopier,
        {
          regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
          tasks: [
            { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0, pages: 2 }] },
            { kind: 'cpu', ops: [{ op: 'exit' }] },
          ],
        },
        {
          // The device program until its command sleeps, then the CPU's exit.
          decisions: {
            pick: (c: readonly { kind: string }[]) =>
              Math.max(
                0,
                c.findIndex((t) => t.kind === (copying ? 'cpu' : 'device')),
              ),
          },
        },
      );
      expect(r.run.status, r.run.message).toBe('done');
      // The exit ran while the command slept; the teardown waited for its end.
      expect([seen, r.outcomes.map((o) => o.op), r.world.processes[0]?.users]).toEqual([[true], ['exit', 'dev-read'], 0]);
    });
  });
});

describe('device memory other users hold (Scenario.deviceMemory)', () => {
  /** A driver with one device of `pages` pages of device-coherent memory, and nothing else. */
  const withMemory = (pages: number) =>
    defineDriver({
      name: 'memory-only',
      probe(kernel: Kernel) {
        const dev = new Device(kernel, { name: 'mem0', memory: { type: 'coherent', pages } });
        return { devices: [dev], bind: async () => ({ vms: [] }) };
      },
    });
  const layout: Scenario = { regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon' }], tasks: [] };

  /** The offsets, from the start of the memory, of the pages the device hands out, in order. */
  async function handedOut(pages: number, deviceMemory?: Scenario['deviceMemory']): Promise<number[]> {
    const r = await runScenario(
      withMemory(pages),
      { ...layout, ...(deviceMemory ? { deviceMemory } : {}) },
      { decisions: seededDecisions(1) },
    );
    const dev = r.world.devices[0] as Device;
    const start = dev.pgmap?.startPfn ?? 0;
    const out: number[] = [];
    for (let p = dev.allocPage(); p !== null; p = dev.allocPage()) out.push(p.pfn - start);
    return out;
  }

  it('should hand out every page, lowest first, when nobody holds any', async () => {
    expect(await handedOut(6)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it.each([
    [{ free: 2 }, [0, 1]],
    [{ free: 0 }, []],
    [{ free: 9 }, [0, 1, 2, 3, 4, 5]],
    [{ every: 2 }, [1, 3, 5]],
    [{ every: 4 }, [1, 2, 3, 5]],
  ] as const)('should leave the driver only what %j does not hold', async (deviceMemory, left) => {
    expect(await handedOut(6, deviceMemory)).toEqual(left);
  });

  it('should leave no run of 512 free pages with one page in every 512 held: no huge device page', () => {
    const k = new Kernel();
    const dev = new Device(k, { name: 'mem1', memory: { type: 'coherent', pages: 1024 } });
    expect(dev.holdMemory({ every: 512 })).toBe(2);
    const free = new Set(dev.freePages);
    let longest = 0;
    for (let run = 0, o = 0; o < 1024; o++) {
      run = free.has((dev.pgmap?.startPfn ?? 0) + o) ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(longest).toBe(511);
  });

  it.each<[string, unknown]>([
    ['both fields', { free: 1, every: 2 }],
    ['an unknown field', { fre: 1 }],
    ['every below 2', { every: 1 }],
    ['a negative free', { free: -1 }],
  ])('should reject a device memory hold with %s', async (_name, deviceMemory) => {
    await expect(runScenario(withMemory(4), { ...layout, deviceMemory } as Scenario, { decisions: seededDecisions(1) })).rejects.toThrow(
      /scenario: deviceMemory/,
    );
  });
});
