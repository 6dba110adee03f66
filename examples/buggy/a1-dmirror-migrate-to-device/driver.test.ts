/**
 * A1 on test_hmm's own ioctls: `HMM_DMIRROR_MIGRATE_TO_DEV` in one thread and `HMM_DMIRROR_WRITE`
 * (or a fault of the mirror) in another, of one open /dev/hmm_dmirror0, scheduled so that the
 * second lands between `dmirror_migrate_alloc_and_copy` and `dmirror_migrate_finalize_and_map`.
 * The write goes to the system page that was already copied, and is lost; examples/dmirror-fixed
 * and examples/dmirror/patched (the kernel patch) lose nothing on the same schedule
 * (docs/findings/a1-dmirror-migrate-to-device.md).
 */
import { FlushOracle, formatViolation, type Violation } from '@hmmlab/assertions';
import {
  type DecisionSource,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  type TaskKind,
  type TraceEvent,
} from '@hmmlab/core';
import type { DriverDefinition, World } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import type { Dmirror } from '../../dmirror/dmirror.js';
import dmirrorPatched from '../../dmirror/patched/driver.js';
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_READ, HMM_DMIRROR_WRITE } from '../../dmirror/uapi.js';
import dmirrorFixed from '../../dmirror-fixed/driver.js';
import a1 from './driver.js';

const PS = 4096;

/** One phase of a schedule: run tasks of kind `prefer` until one of them emits an event `until` accepts. */
interface Phase {
  readonly prefer: TaskKind;
  readonly until: (e: TraceEvent) => boolean;
}

/** Plays `phases` in order, then runs whatever is runnable. */
function phased(k: Kernel, phases: readonly Phase[]): { decisions: DecisionSource; watch(e: TraceEvent): void } {
  let i = 0;
  return {
    watch(e) {
      const p = phases[i];
      if (p !== undefined && k.sched.current.kind === p.prefer && p.until(e)) i++;
    },
    decisions: {
      pick(c) {
        return Math.max(
          0,
          c.findIndex((t) => t.kind === phases[i]?.prefer),
        );
      },
    },
  };
}

interface Outcome {
  /** Word 0 of the page as READ returns it after both threads are done. */
  readonly after: number;
  readonly writeRet: number;
  readonly violations: readonly Violation[];
}

/**
 * Opens dmirror0 on a page holding 1 (mirrored writable by a first WRITE if `mirrored`), then in
 * parallel: thread "migrate" (a driver task) migrates the page to the device, thread "writer" (a
 * CPU task) WRITEs 2 through the mirror, scheduled by `phases`.
 */
async function race(driver: DriverDefinition<Dmirror>, mirrored: boolean, phases: readonly Phase[]): Promise<Outcome> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: 4, trace: 'all' });
  const mm = k.createMm();
  const instance = await driver.probe(k);
  const world: World = {
    kernel: k,
    scenario: { regions: [{ pages: 1, prot: 'rw', share: 'private', backing: 'anon' }], tasks: [] },
    processes: [mm],
    dead: new Set(),
    driver: instance,
    binding: null,
    devices: instance.devices,
    regionBase: [0],
  };
  const oracle = new FlushOracle();
  oracle.attach(world);
  const schedule = phased(k, phases);
  k.trace.subscribe((e) => schedule.watch(e));
  const buf = (v: number) => Int32Array.from({ length: k.wordsPerPage }, () => v);
  let writeRet = 1;
  let after = -1;
  k.spawn('setup', 'kernel', async () => {
    const fd = await instance.bind(mm);
    world.binding = fd;
    const a = await mm.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (mirrored) expect((await fd.cmd(HMM_DMIRROR_WRITE, { addr: a, npages: 1, ptr: buf(1) })).ret).toBe(0);
    else for (let w = 0; w < k.wordsPerPage; w++) await mm.write(a + w * k.wordSize, 1);
    const done = k.completion('both threads');
    k.spawn('migrate', 'driver', async () => {
      await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: 1, ptr: buf(0) });
      done.complete();
    });
    k.spawn('writer', 'cpu', async () => {
      writeRet = (await fd.cmd(HMM_DMIRROR_WRITE, { addr: a, npages: 1, ptr: buf(2) })).ret;
      done.complete();
    });
    await done.waitForCompletion();
    await done.waitForCompletion();
    const out = buf(-1);
    expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: 1, ptr: out })).ret).toBe(0);
    after = out[0] as number;
  });
  const r = await k.run(schedule.decisions);
  expect(r.status, r.message).toBe('done');
  return { after, writeRet, violations: oracle.finish(r).violations };
}

const copied = (e: TraceEvent) => e.type === 'page-copy';
const wrote = (e: TraceEvent) => e.type === 'dev-access';
/** The migration runs until it has copied the page; then the WRITE runs. */
const writeAfterCopy: Phase[] = [
  { prefer: 'driver', until: copied },
  { prefer: 'cpu', until: wrote },
];
/** The WRITE's fault runs `hmm_range_fault` (and drops the mmap lock); the migration copies; the fault stores its pfn. */
const faultAcrossCopy: Phase[] = [
  { prefer: 'cpu', until: (e) => e.type === 'lock' && e.lock.includes('mmap_lock') && e.op === 'release' },
  { prefer: 'driver', until: copied },
  { prefer: 'cpu', until: wrote },
];

describe('A1: HMM_DMIRROR_WRITE racing HMM_DMIRROR_MIGRATE_TO_DEV', () => {
  it('should lose a WRITE that lands between the copy and dmirror_migrate_finalize_and_map', async () => {
    const r = await race(a1 as DriverDefinition<Dmirror>, true, writeAfterCopy);
    // The ioctl succeeded, and its data is gone.
    expect(r.writeRet).toBe(0);
    expect(r.after).toBe(1);
    expect(r.violations[0]?.rule).toBe('own-migration-unrevoked');
    const lost = r.violations.find((v) => v.rule === 'lost-write');
    expect(lost?.explanation, r.violations.map((v) => formatViolation(v)).join('\n')).toMatch(
      /already copied to its migration destination/,
    );
    expect(lost?.page?.kind).toBe('system');
  });

  it('should lose a WRITE whose fault read the pfn before the migration and stored it after the copy', async () => {
    const r = await race(a1 as DriverDefinition<Dmirror>, false, faultAcrossCopy);
    expect(r.writeRet).toBe(0);
    expect(r.after).toBe(1);
    // The skipped MIGRATE moved no sequence, so mmu_interval_read_retry let dmirror_do_fault store it.
    const stale = r.violations.find((v) => v.rule === 'stale-install');
    expect(stale?.explanation).toMatch(/CPU entry is migration/);
    expect(r.violations.map((v) => v.rule)).toContain('lost-write');
  });

  it.each<[string, string, boolean, Phase[], DriverDefinition]>([
    ['after the copy', 'dmirror-fixed', true, writeAfterCopy, dmirrorFixed],
    ['with a fault across the copy', 'dmirror-fixed', false, faultAcrossCopy, dmirrorFixed],
    ['after the copy', 'dmirror-patched', true, writeAfterCopy, dmirrorPatched],
    ['with a fault across the copy', 'dmirror-patched', false, faultAcrossCopy, dmirrorPatched],
  ])('should keep the WRITE %s with %s', async (_when, _name, mirrored, phases, driver) => {
    const r = await race(driver as DriverDefinition<Dmirror>, mirrored, phases);
    expect(r.writeRet).toBe(0);
    expect(r.after).toBe(2);
    expect(r.violations).toEqual([]);
  });

  it('should keep a WRITE that lands before the migration collects the page', async () => {
    const r = await race(a1 as DriverDefinition<Dmirror>, true, [
      { prefer: 'driver', until: (e) => e.type === 'lock' && e.op === 'acquire' && e.lock.includes('mmap_lock') },
      { prefer: 'cpu', until: wrote },
    ]);
    expect(r.after).toBe(2);
  });
});
