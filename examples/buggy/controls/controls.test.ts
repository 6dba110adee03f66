/**
 * The negative controls N1 to N8: each on a scenario where its legal skip happens (the test finds
 * the skipping callback in the trace), then on every schedule of a racing migration; the oracle
 * must report nothing. Their random campaigns are in test/examples/correct-controls-*.test.ts.
 */
import { type CheckedRun, checkScenario } from '@hmmlab/assertions';
import '@hmmlab/assertions/vitest';
import { eventName, firstRunnable, PTE_MIGRATION, pteKindOf, ptePfn, type TraceEvent } from '@hmmlab/core';
import { exploreSchedules, replay } from '@hmmlab/fuzz';
import { type DriverDefinition, devPtePfn, loadDriver, type OpSpec, type Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';

/** What one callback of an invalidation did. */
interface CallbackRecord {
  event: string;
  own: boolean;
  setSeq: boolean;
  cleared: number;
  writeProtected: number;
  quiesced: boolean;
}

/** Every callback of the run and what it did, from the whole trace. */
function callbacks(r: CheckedRun): CallbackRecord[] {
  const world = r.result.world;
  const owners = new Set(world.devices.map((d) => d.owner));
  const invs = new Map<number, { event: string; own: boolean }>();
  const open = new Map<number, CallbackRecord>();
  const out: CallbackRecord[] = [];
  for (const e of world.kernel.trace.events() as TraceEvent[]) {
    const cur = open.get(e.task);
    if (e.type === 'inv-start') invs.set(e.inv, { event: eventName(e.event), own: owners.has(e.owner) });
    else if (e.type === 'inv-callback' && e.phase === 'enter') {
      const inv = invs.get(e.inv) ?? { event: 'release op', own: false };
      open.set(e.task, { ...inv, setSeq: false, cleared: 0, writeProtected: 0, quiesced: false });
    } else if (e.type === 'inv-callback' && cur !== undefined) {
      out.push(cur);
      open.delete(e.task);
    } else if (cur !== undefined && e.type === 'set-seq') cur.setSeq = true;
    else if (cur !== undefined && e.type === 'dev-pte' && e.new === 0) cur.cleared++;
    else if (cur !== undefined && e.type === 'dev-pte' && e.why === 'wrprotect') cur.writeProtected++;
    else if (cur !== undefined && e.type === 'dev-queue' && e.op === 'quiesce') cur.quiesced = true;
  }
  return out;
}

const at = { region: 0, page: 0 };
const page = (n: number) => ({ region: 0, page: n, pages: 1 });
const dev = (...ops: OpSpec[]) => ({ kind: 'device' as const, ops });
const cpu = (...ops: OpSpec[]) => ({ kind: 'cpu' as const, ops });
const drv = (...ops: OpSpec[]) => ({ kind: 'driver' as const, ops });
const scenario = (pages: number, ...tasks: Scenario['tasks']): Scenario => ({
  regions: [{ pages, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks,
});

interface Control {
  readonly dir: string;
  readonly scenario: Scenario;
  /** The callback that makes the legal skip. */
  readonly skip: (c: CallbackRecord) => boolean;
}

const CONTROLS: Control[] = [
  {
    dir: 'n1-own-migrate-revoked',
    scenario: scenario(
      1,
      dev({ op: 'dev-write', ...at, value: 4 }),
      drv({ op: 'migrate-to-device', ...page(0) }),
      cpu({ op: 'read', ...at }),
    ),
    // Its own MIGRATE: the sequence moves, the translations stay.
    skip: (c) => c.event === 'MMU_NOTIFY_MIGRATE' && c.own && c.setSeq && c.cleared === 0,
  },
  {
    dir: 'n2-own-exclusive-skip',
    scenario: scenario(1, dev({ op: 'dev-read', ...at }, { op: 'dev-atomic', ...at }), cpu({ op: 'write', ...at, value: 9 })),
    skip: (c) => c.event === 'MMU_NOTIFY_EXCLUSIVE' && c.own && !c.setSeq && c.cleared === 0,
  },
  {
    dir: 'n3-nothing-mapped',
    scenario: scenario(2, cpu({ op: 'mprotect', ...page(1), prot: 'r' }, { op: 'read', ...at }), dev({ op: 'dev-read', ...at })),
    skip: (c) => c.event === 'MMU_NOTIFY_PROTECTION_VMA' && c.setSeq && c.cleared === 0,
  },
  {
    dir: 'n4-not-present-under-lock',
    scenario: scenario(8, dev({ op: 'dev-write', ...at, value: 1 }), cpu({ op: 'munmap', ...page(5) }, { op: 'munmap', ...page(1) })),
    // The GPU range of pages 4 to 7 is not bound: skipped; page 1 is in the bound range of page 0: zapped whole.
    skip: (c) => c.event === 'MMU_NOTIFY_UNMAP' && c.setSeq && c.cleared === 0,
  },
  {
    dir: 'n5-release-notifier',
    scenario: scenario(1, dev({ op: 'dev-write', ...at, value: 1 }), cpu({ op: 'exit' })),
    skip: (c) => c.event === 'MMU_NOTIFY_RELEASE' && !c.setSeq && c.cleared === 0,
  },
  {
    dir: 'n6-downgrade-own-migrate',
    scenario: scenario(
      1,
      dev({ op: 'dev-write', ...at, value: 2 }),
      drv({ op: 'migrate-to-device', ...page(0) }),
      dev({ op: 'dev-read', ...at }),
    ),
    skip: (c) => c.event === 'MMU_NOTIFY_MIGRATE' && c.own && c.writeProtected > 0 && c.cleared === 0,
  },
  {
    dir: 'n7-quiesce-restore',
    scenario: scenario(
      1,
      dev({ op: 'dev-write', ...at, value: 3 }),
      cpu({ op: 'mprotect', ...page(0), prot: 'r' }),
      dev({ op: 'dev-read', ...at }),
    ),
    skip: (c) => c.event === 'MMU_NOTIFY_PROTECTION_VMA' && c.quiesced && c.cleared === 0,
  },
  {
    dir: 'n8-inline-under-block-lock',
    scenario: scenario(
      1,
      dev({ op: 'dev-write', ...at, value: 5 }),
      drv({ op: 'migrate-to-device', ...page(0) }),
      cpu({ op: 'read', ...at }),
    ),
    skip: (c) => c.event === 'MMU_NOTIFY_MIGRATE' && c.own && !c.setSeq && c.cleared === 0,
  },
];

const load = (dir: string): Promise<DriverDefinition> => loadDriver(new URL(`./${dir}/`, import.meta.url).pathname);

describe('the negative controls', () => {
  it.each(CONTROLS.map((c) => [c.dir, c] as const))('should accept the legal skip of %s', async (_dir, c) => {
    const r = await checkScenario(await load(c.dir), c.scenario, { decisions: firstRunnable, trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(callbacks(r).filter(c.skip)).not.toEqual([]);
    expect(r).toKeepFlushContract();
  });

  // A migration to the device racing MADV_DONTNEED of a page the device maps: every schedule with
  // up to two preemptions (the bound that finds dmirror-fixed's unordered count snapshot).
  const racing = scenario(
    1,
    dev({ op: 'dev-write', ...at, value: 3 }),
    drv({ op: 'migrate-to-device', ...page(0) }),
    cpu({ op: 'madvise', ...page(0), advice: 'dontneed' }),
  );

  it.each(CONTROLS.map((c) => [c.dir] as const))(
    'should keep the flush contract in %s on every schedule of a racing migration',
    async (dir) => {
      const x = await exploreSchedules(await load(dir), racing, { maxPreemptions: 2, maxSchedules: 30_000 });
      expect(x.failure?.violations[0]?.rule ?? 'none').toBe('none');
      expect(x.complete).toBe(true);
    },
  );

  // Random campaigns of every control: test/examples/correct-controls-*.test.ts (10,000 runs each).
});

describe('n6-downgrade-own-migrate', () => {
  // The device reads a source page through its write-protected entry during its own migration, so
  // its TLB holds that page again; mapping the new page must flush it before finalize frees the
  // source. A campaign found this schedule when the migration path replaced the entry unflushed.
  it('should hold no TLB entry of a source page when finalize frees it', async () => {
    const readDuringMigration: Scenario = {
      profile: 'latest',
      regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'file', populate: 'none' }],
      tasks: [
        {
          kind: 'device',
          ops: [
            { op: 'dev-read', region: 0, page: 1, word: 0, device: 0 },
            { op: 'dev-write', region: 0, page: 0, word: 0, value: 1, device: 0 },
          ],
        },
        { kind: 'cpu', ops: [{ op: 'madvise', region: 0, page: 0, pages: 2, advice: 'dontneed' }] },
        {
          kind: 'driver',
          ops: [
            { op: 'prefetch', region: 0, page: 0, pages: 2, write: true },
            { op: 'migrate-to-device', region: 0, page: 0, pages: 2 },
            { op: 'prefetch', region: 0, page: 0, pages: 1, write: false },
          ],
        },
      ],
    };
    const r = await replay(
      await load('n6-downgrade-own-migrate'),
      readDuringMigration,
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    );
    const events = r.result.world.kernel.trace.events() as TraceEvent[];
    expect(events.some((e) => e.type === 'dev-pte' && e.why === 'map migrated' && e.old !== 0)).toBe(true);
    expect(r.run.status, r.run.message).toBe('done');
    expect(r).toKeepFlushContract();
  });
});

describe('n8-inline-under-block-lock', () => {
  // A page a forked child still maps: migrate_vma_setup's try_to_migrate sends MMU_NOTIFY_CLEAR
  // (no owner) to the initiator's own VMA first, from inside the call that holds the block lock.
  // The callback skips what that task raises there, as UVM does; taking the lock would deadlock.
  it('should skip the CLEAR its own migrate_vma_setup raises for a page a forked child shares', async () => {
    const shared = scenario(1, cpu({ op: 'fork' }), drv({ op: 'migrate-to-device', ...page(0) }), cpu({ op: 'read', ...at }));
    const r = await checkScenario(await load('n8-inline-under-block-lock'), shared, { decisions: firstRunnable, trace: 'all' });
    expect(r.run.status, r.run.message).toBe('done');
    expect(callbacks(r).filter((c) => c.event === 'MMU_NOTIFY_CLEAR' && !c.own && !c.setSeq && c.cleared === 0)).not.toEqual([]);
    expect(r).toKeepFlushContract();
  });

  // A device fault maps its own device-private page after its own migration of that page to RAM
  // collected it (the CPU entry is a migration entry), because the callback skipped that MIGRATE.
  // Legal: the initiator revokes the mapping under the block lock before the copy, as it would a
  // kept one. A campaign found this schedule when the oracle called the install stale.
  it('should accept a mapping of its own migration source that is revoked before the copy', async () => {
    const faultDuringOwnMigration: Scenario = {
      profile: 'latest',
      regions: [{ pages: 3, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
      tasks: [
        { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, word: 0, value: 1, device: 0 }] },
        { kind: 'device', ops: [{ op: 'dev-atomic', region: 0, page: 0, word: 0, device: 0 }] },
        {
          kind: 'cpu',
          ops: [
            { op: 'write', region: 0, page: 1, word: 0, value: 1 },
            { op: 'read', region: 0, page: 0, word: 0 },
          ],
        },
        {
          kind: 'driver',
          ops: [
            { op: 'migrate-to-device', region: 0, page: 0, pages: 1 },
            { op: 'migrate-to-device', region: 0, page: 0, pages: 1 },
          ],
        },
      ],
    };
    const decisions = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0];
    const r = await replay(await load('n8-inline-under-block-lock'), faultDuringOwnMigration, decisions);
    // The schedule does reach it: a device entry installed for a page whose CPU entry is a migration entry.
    const migrating = new Set<number>();
    let installedWhileMigrating = 0;
    for (const e of r.result.world.kernel.trace.events() as TraceEvent[]) {
      if (e.type === 'pte' && pteKindOf(e.old) === PTE_MIGRATION) migrating.delete(ptePfn(e.old));
      if (e.type === 'pte' && pteKindOf(e.new) === PTE_MIGRATION) migrating.add(ptePfn(e.new));
      if (e.type === 'dev-pte' && e.new !== 0 && migrating.has(devPtePfn(e.new))) installedWhileMigrating++;
    }
    expect(installedWhileMigrating).toBeGreaterThan(0);
    expect(r.run.status, r.run.message).toBe('done');
    expect(r).toKeepFlushContract();
  });
});

// fork write-protects every page of a THP region for copy-on-write; a prefetch of the whole region
// then faults 512 pages, each under its own invalidation, in one pass of the driver's retry loop
// (about 1,600 steps), where the kernel takes well under HMM_RANGE_DEFAULT_TIMEOUT. The loop's
// bound must not mistake that pass for a livelock.
describe('a prefetch of a whole THP region after fork', () => {
  const scenario: Scenario = {
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'fork' }] },
      { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 512, write: true }] },
    ],
  };

  it('should pass in one retry after the copy-on-write pass', async () => {
    const r = await replay(await load('n8-inline-under-block-lock'), scenario, []);
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations.map((v) => v.rule)).toEqual([]);
    expect(r.run.steps).toBeGreaterThan(1000);
  });
});

// A device write over 374 pages of a THP region that fork write-protected, one fault per page, each
// rechecking the driver's whole range: 76,000 steps of progress. The step limit a
// campaign gives a run grows with the layout's pages, or the run is taken for a livelock.
describe('a device write over most of a THP region after fork', () => {
  const scenario: Scenario = {
    regions: [{ pages: 512, prot: 'rw', share: 'private', backing: 'anon', populate: 'write', thp: true }],
    tasks: [
      { kind: 'cpu', ops: [{ op: 'fork' }] },
      { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, pages: 374, value: 1 }] },
    ],
  };

  it('should finish within the step limit of its layout', async () => {
    const r = await exploreSchedules(await load('n7-quiesce-restore'), scenario, { maxSchedules: 1 });
    expect(r.failure?.violations.map((v) => v.rule) ?? []).toEqual([]);
    expect(r.last.run.steps).toBeGreaterThan(50_000);
  });
});
