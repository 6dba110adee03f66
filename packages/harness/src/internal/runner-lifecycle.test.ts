import { EFAULT, ENODEV, firstRunnable, type Kernel } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device } from './device.js';
import { defineDriver } from './driver.js';
import { runScenario } from './runner.js';
import type { Scenario } from './scenario.js';

/** A driver whose binding prefetches nothing and counts its unbinds. */
function counting(unbinds: number[]) {
  return defineDriver({
    name: 'counting',
    probe(kernel: Kernel) {
      const dev = new Device(kernel, { name: 'dev0' });
      return {
        devices: [dev],
        bind(mm) {
          const vm = dev.createVm(mm, {});
          return Promise.resolve({
            vms: [vm],
            prefetch: () => Promise.resolve(0),
            unbind: () => {
              unbinds.push(kernel.sched.current.id);
              return Promise.resolve();
            },
          });
        },
      };
    },
  });
}

const region = { pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'read' } as const;

describe('runScenario: unbind', () => {
  it('should refuse the binding calls after unbind with -ENODEV and free its address spaces', async () => {
    const unbinds: number[] = [];
    const s: Scenario = {
      regions: [region],
      tasks: [
        {
          kind: 'driver',
          ops: [
            { op: 'prefetch', region: 0, page: 0, pages: 1, write: false },
            { op: 'unbind' },
            { op: 'prefetch', region: 0, page: 0, pages: 1, write: false },
            { op: 'unbind' },
          ],
        },
        { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
      ],
    };
    const r = await runScenario(counting(unbinds), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes.map((o) => [o.op, o.ret, o.status])).toEqual([
      ['prefetch', 0, 'ok'],
      ['unbind', 0, 'ok'],
      ['prefetch', -ENODEV, 'ok'],
      ['unbind', -ENODEV, 'skipped'],
      ['dev-read', -ENODEV, 'skipped'],
    ]);
    expect(unbinds).toHaveLength(1);
    expect(r.world.bindingState).toBe('closed');
    expect(r.world.binding?.vms[0]?.destroyed).toBe(true);
  });

  it("should run the driver's unbind while a device fault is still in its handler", async () => {
    // The file's close waits for the calls that hold it, not for the device's faults: this fault
    // handler sleeps until unbind has run, which only a driver that waits for it itself avoids.
    const log: string[] = [];
    const driver = defineDriver({
      name: 'fault-in-flight',
      probe(kernel: Kernel) {
        const dev = new Device(kernel, { name: 'dev0' });
        const gate = kernel.waitQueue('unbind ran');
        let unbound = false;
        return {
          devices: [dev],
          bind(mm) {
            const vm = dev.createVm(mm, {
              async fault() {
                log.push('fault begins');
                await gate.waitEvent(() => unbound);
                log.push('fault ends');
                return -EFAULT;
              },
            });
            return Promise.resolve({
              vms: [vm],
              unbind: () => {
                log.push('unbind');
                unbound = true;
                gate.wakeUpAll();
                return Promise.resolve();
              },
            });
          },
        };
      },
    });
    const s: Scenario = {
      regions: [region],
      tasks: [
        { kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] },
        { kind: 'driver', ops: [{ op: 'unbind' }] },
      ],
    };
    const r = await runScenario(driver, s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(log).toEqual(['fault begins', 'unbind', 'fault ends']);
    expect(r.outcomes.map((o) => [o.op, o.status])).toEqual([
      ['unbind', 'ok'],
      ['dev-read', 'signal'],
    ]);
  });
});

describe('runScenario: exit', () => {
  it('should close the device file when the main process exits, after its address space', async () => {
    const unbinds: number[] = [];
    const s: Scenario = {
      regions: [region],
      tasks: [
        { kind: 'cpu', ops: [{ op: 'exit' }] },
        { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 1, write: false }] },
      ],
    };
    const r = await runScenario(counting(unbinds), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(unbinds).toHaveLength(1);
    expect(r.world.bindingState).toBe('closed');
    expect(r.world.processes[0]?.dead).toBe(true);
    expect(r.outcomes.find((o) => o.op === 'prefetch')?.status).toBe('skipped');
  });

  it('should leave the file open while a child it forked still holds it', async () => {
    const unbinds: number[] = [];
    const s: Scenario = { regions: [region], tasks: [{ kind: 'cpu', ops: [{ op: 'fork' }, { op: 'exit' }] }] };
    const r = await runScenario(counting(unbinds), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.world.processes).toHaveLength(2);
    expect(unbinds).toEqual([]);
    expect(r.world.bindingState).toBe('open');
  });
});

describe('runScenario: exitAtEnd', () => {
  /** A two-device driver whose bindings hold an mm reference from bind to unbind, and log their unbinds. */
  function holding(log: string[]) {
    return defineDriver({
      name: 'holding',
      probe(kernel: Kernel) {
        const devs = [new Device(kernel, { name: 'dev0' }), new Device(kernel, { name: 'dev1' })];
        return {
          devices: devs,
          bind(mm, options) {
            const dev = devs[options?.device ?? 0] as Device;
            if (!mm.mmgetNotZero()) return Promise.reject(new Error('bind: mm is gone'));
            return Promise.resolve({
              vms: [dev.createVm(mm, {})],
              prefetch: () => Promise.resolve(0),
              migrateToDevice: () => Promise.resolve(0),
              unbind: async () => {
                log.push(`unbind ${dev.name} (mm ${mm.dead ? 'torn down' : 'up'})`);
                await mm.mmput();
              },
            });
          },
        };
      },
    });
  }

  const twoDevices: Scenario = {
    regions: [region],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'fork' }] },
      { kind: 'driver', ops: [{ op: 'migrate-to-device', region: 0, page: 0, pages: 1, device: 1 }] },
    ],
  };

  it('should exit every process and close every device file once the programs are done', async () => {
    const log: string[] = [];
    const r = await runScenario(holding(log), { ...twoDevices, exitAtEnd: true }, { decisions: firstRunnable, trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.world.processes).toHaveLength(2);
    // The bindings' references keep the main address space up until the files close.
    expect(log).toEqual(['unbind dev0 (mm up)', 'unbind dev1 (mm up)']);
    expect(r.world.processes.map((p) => p.dead)).toEqual([true, true]);
    expect(r.world.bindingState).toBe('closed');
    const exits = r.world.kernel.trace.events().filter((e) => e.type === 'vma' && e.op === 'exit');
    // Children first.
    expect(exits.map((e) => (e as { mm: number }).mm)).toEqual([r.world.processes[1]?.id, r.world.processes[0]?.id]);
  });

  it('should leave processes and files as the programs left them without it', async () => {
    const log: string[] = [];
    const r = await runScenario(holding(log), twoDevices, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(log).toEqual([]);
    expect(r.world.processes.map((p) => p.dead)).toEqual([false, false]);
    expect(r.world.bindingState).toBe('open');
  });

  it('should not exit a process a second time, nor close a file a program closed', async () => {
    const log: string[] = [];
    const s: Scenario = {
      regions: [region],
      tasks: [{ kind: 'cpu', ops: [{ op: 'exit' }] }],
      exitAtEnd: true,
    };
    const r = await runScenario(holding(log), s, { decisions: firstRunnable });
    // A second mmput of the exited process would underflow mm_users and throw.
    expect(r.run.status, r.run.message).toBe('done');
    expect(log).toEqual(['unbind dev0 (mm up)']);
    expect(r.world.processes[0]?.dead).toBe(true);
  });

  it('should exit an OOM-killed process, whose address space the reaper left', async () => {
    const log: string[] = [];
    const s: Scenario = { regions: [region], tasks: [{ kind: 'kernel', ops: [{ op: 'oom-reap' }] }], exitAtEnd: true };
    const r = await runScenario(holding(log), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(log).toEqual(['unbind dev0 (mm up)']);
    expect(r.world.processes[0]?.dead).toBe(true);
    const without = await runScenario(holding([]), { ...s, exitAtEnd: false }, { decisions: firstRunnable });
    expect(without.world.processes[0]?.dead).toBe(false);
  });

  it('should reject an exitAtEnd that is not a boolean', async () => {
    await expect(
      runScenario(holding([]), { ...twoDevices, exitAtEnd: 'yes' } as unknown as Scenario, { decisions: firstRunnable }),
    ).rejects.toThrow(/scenario: exitAtEnd: "yes"; expected true or false/);
  });
});

describe('runScenario: madvise', () => {
  it('should split the VMA with MADV_NOHUGEPAGE and send no invalidation', async () => {
    const s: Scenario = {
      regions: [{ ...region, pages: 4 }],
      tasks: [{ kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 1, pages: 2, advice: 'nohugepage' }] }],
    };
    const r = await runScenario(counting([]), s, { decisions: firstRunnable, trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.outcomes.map((o) => [o.op, o.ret])).toEqual([['madvise', 0]]);
    const mm = r.world.processes[0];
    const base = r.world.regionBase[0] as number;
    expect(mm?.vmas.map((v) => [v.start - base, v.end - base])).toEqual([
      [0, 4096],
      [4096, 3 * 4096],
      [3 * 4096, 4 * 4096],
    ]);
    expect(r.world.kernel.trace.events().filter((e) => e.type === 'inv-start')).toEqual([]);
  });
});

describe('runScenario: pin', () => {
  it('should pin a present page for a while, and nothing for the zero page', async () => {
    const s: Scenario = {
      regions: [region],
      tasks: [
        {
          kind: 'cpu',
          ops: [
            { op: 'pin', region: 0, page: 0, write: false },
            { op: 'write', region: 0, page: 1, value: 5 },
            { op: 'pin', region: 0, page: 1, write: true },
          ],
        },
      ],
    };
    const r = await runScenario(counting([]), s, { decisions: firstRunnable });
    expect(r.outcomes.map((o) => o.ret)).toEqual([-EFAULT, 0, 0]);
    const page = r.world.processes[0]?.pageAt((r.world.regionBase[0] as number) + r.world.kernel.pageSize);
    expect(page?.kind).toBe('system');
    expect(page?.pins, 'the pin is dropped when the op ends').toBe(0);
  });
});

describe('runScenario: the devices a probe returns', () => {
  /** A driver whose binding makes its address space on a device the probe returns, or does not. */
  const binding = (declare: boolean) =>
    defineDriver({
      name: 'declares',
      probe(kernel: Kernel) {
        const dev = new Device(kernel, { name: 'gpu0' });
        return {
          devices: declare ? [dev] : [],
          bind(mm) {
            return Promise.resolve({ vms: [dev.createVm(mm, {})] });
          },
        };
      },
    });
  const s: Scenario = { regions: [region], tasks: [] };

  it('should end the run with an error when a binding uses a device the probe did not return', async () => {
    const r = await runScenario(binding(false), s, { decisions: firstRunnable });
    expect(r.run.status).toBe('error');
    expect(r.run.message).toContain(
      "bind made an address space on device gpu0, which the driver's probe did not return in devices (it returned none)",
    );
  });

  it('should run when the probe returns it', async () => {
    const r = await runScenario(binding(true), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
  });
});

describe('runScenario: what bind returns', () => {
  const binding = (withVms: boolean) =>
    defineDriver({
      name: 'binds',
      probe() {
        return { devices: [], bind: () => Promise.resolve((withVms ? { vms: [] } : {}) as { vms: [] }) };
      },
    });
  const s: Scenario = { regions: [region], tasks: [{ kind: 'device', ops: [{ op: 'dev-read', region: 0, page: 0 }] }] };

  it('should end the run with an error that says what is missing when the binding has no vms', async () => {
    const r = await runScenario(binding(false), s, { decisions: firstRunnable });
    expect(r.run.status).toBe('error');
    expect(r.run.message).toContain('driver "binds": bind(mm) must return a binding with vms');
  });

  it('should run a binding with no address space', async () => {
    const r = await runScenario(binding(true), s, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
  });
});

describe('runScenario: device names', () => {
  const twoGpus = (second: string, vmsPerBinding: number | null = 2) =>
    defineDriver({
      name: 'two-gpus',
      ...(vmsPerBinding !== null ? { vmsPerBinding } : {}),
      probe(kernel: Kernel) {
        const devices = [new Device(kernel, { name: 'gpu0' }), new Device(kernel, { name: second })];
        return { devices, bind: (mm) => Promise.resolve({ vms: devices.map((d) => d.createVm(mm, {})) }) };
      },
    });
  const s: Scenario = { regions: [region], tasks: [] };

  it('should refuse a probe that returns two devices of one name, which the trace could not tell apart', async () => {
    await expect(runScenario(twoGpus('gpu0'), s, { decisions: firstRunnable })).rejects.toThrow(/probe returned two devices named "gpu0"/);
  });

  it('should run two devices of different names', async () => {
    expect((await runScenario(twoGpus('gpu1'), s, { decisions: firstRunnable })).run.status).toBe('done');
  });

  it('should fail a run whose binding mirrors the process on more devices than the driver declares', async () => {
    const r = await runScenario(twoGpus('gpu1', null), s, { decisions: firstRunnable });
    expect(r.run.status).not.toBe('done');
    expect(r.run.message).toMatch(
      /bind made 2 device address spaces \(gpu0, gpu1\), and driver "two-gpus" declares vmsPerBinding 1: device work would reach only the first one; declare defineDriver\(\{ vmsPerBinding: 2 \}\)/,
    );
    expect((await runScenario(twoGpus('gpu1', 3), s, { decisions: firstRunnable })).run.status).toBe('done');
  });
});
