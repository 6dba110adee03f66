import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  fatalMessage,
  hostExecArgv,
  hostFlags,
  hostsFromBuild,
  ownModule,
  WatchedWorker,
  WorkerJobError,
  WorkerStallError,
  withoutSources,
} from './watchdog.js';

// The worker's loader is tsx's, as the CLI's is. Its host runs hmmlab's build when the suite's
// setup built it (`hostsFromBuild`), the sources otherwise; the jobs that beat are given the
// heartbeat module that host's thread has.
const loader = import.meta.resolve('tsx/esm/api');
const jobs = new URL('./watchdog-jobs.test-fixture.mjs', import.meta.url).href;
const build = hostsFromBuild();
const heartbeat = ownModule('heartbeat', build);

describe('WatchedWorker', () => {
  it('should return what the job returns', async () => {
    const w = new WatchedWorker({ loader, build, hangTimeoutMs: 1000 });
    try {
      expect(await w.call(jobs, 'echo', { n: 3 })).toEqual({ n: 3 });
    } finally {
      await w.stop();
    }
  });

  it('should reject with what the job threw', async () => {
    const w = new WatchedWorker({ loader, build, hangTimeoutMs: 1000 });
    try {
      const e = await w.call(jobs, 'fail', null).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerJobError);
      expect((e as WorkerJobError).errorName).toBe('RangeError');
      expect((e as WorkerJobError).message).toBe('bad job');
    } finally {
      await w.stop();
    }
  });

  it.each([
    ['hung', 'spin', { hangTimeoutMs: 300 }],
    ['out-of-memory', 'hoard', { heapMb: 32 }],
  ] as const)('should stop a job that never returns control and report it as %s', async (kind, fn, bound) => {
    const w = new WatchedWorker({ loader, build, ...bound });
    try {
      const e = await w.call(jobs, fn, heartbeat).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerStallError);
      expect((e as WorkerStallError).stall.kind).toBe(kind);
      expect(w.alive).toBe(false);
    } finally {
      await w.stop();
    }
  });
});

describe('a watched worker drawing scenarios', () => {
  it.each([
    ['drawForever', 'drawing', -1, "drawing the campaign's scenarios did not return control"],
    ['drawThenSpin', 'probing', 7, 'driver code did not return control'],
  ] as const)(
    'should tell a stall while drawing (hmmlab work) from one in the run it interrupted (%s)',
    async (fn, phase, run, message) => {
      const w = new WatchedWorker({ loader, build, hangTimeoutMs: 300 });
      try {
        const e = await w.call(jobs, fn, heartbeat).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(WorkerStallError);
        expect((e as WorkerStallError).stall).toMatchObject({ kind: 'hung', phase, run });
        expect((e as WorkerStallError).message).toContain(message);
      } finally {
        await w.stop();
      }
    },
  );
});

describe('a stopped watched worker', () => {
  // `grow` grows one array without bound: V8 ends the whole host process, not the thread.
  it.each([
    ['spin', '300', { kind: 'hung', phase: 'probing', run: -1, decisions: [], message: null }],
    ['grow', '60000', { kind: 'aborted', phase: 'probing', run: -1, decisions: [], message: expect.stringMatching(/heap limit/) }],
  ])('should report where the job was and not keep its caller alive once the watchdog stopped it (%s)', (job, hangMs, stall) => {
    const fixture = fileURLToPath(new URL('./watchdog-exit.test-fixture.mjs', import.meta.url));
    const r = spawnSync(process.execPath, ['--conditions=@hmmlab/source', '--import', 'tsx', fixture, job, hangMs], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(stall);
  });
});

describe('hostExecArgv', () => {
  it("should keep the caller's conditions and loaders, and leave out its inspector and profilers", () => {
    expect(
      hostExecArgv([
        '--conditions=@hmmlab/source',
        '--inspect-brk',
        '--import',
        'tsx',
        '--inspect-port',
        '9230',
        '--cpu-prof',
        '--cpu-prof-dir=/tmp/p',
        '--heap-prof-dir',
        '/tmp/h',
        '--max-old-space-size=4096',
      ]),
    ).toEqual(['--conditions=@hmmlab/source', '--import', 'tsx', '--max-old-space-size=4096']);
  });
});

describe('hosts of hmmlab from the build', () => {
  it("should take out of a source caller's flags the source condition and tsx, in each spelling, and nothing else", () => {
    expect(
      withoutSources([
        '--conditions=@hmmlab/source',
        '--import',
        'tsx',
        '--conditions',
        '@hmmlab/source',
        '-C',
        '@hmmlab/source',
        '--import=tsx',
        '--conditions=other',
        '--import',
        './mine.js',
        '--max-semi-space-size=32',
      ]),
    ).toEqual(['--conditions=other', '--import', './mine.js', '--max-semi-space-size=32']);
  });

  it('should find the host, the jobs and the heartbeat beside this module, or in the bundles of the build', () => {
    // This file runs from the sources: the modules beside it are TypeScript.
    expect(ownModule('host')).toBe(new URL('./host.ts', import.meta.url).href);
    expect(ownModule('jobs')).toBe(new URL('./jobs.ts', import.meta.url).href);
    expect(ownModule('heartbeat')).toBe(new URL('./heartbeat.ts', import.meta.url).href);
    for (const name of ['host', 'jobs', 'heartbeat'] as const) {
      const built = ownModule(name, true);
      expect(built).toBe(new URL(`../../lib/internal/${name}.js`, import.meta.url).href);
      // The test suite's setup says so once it has built them (test/setup/build.js).
      if (hostsFromBuild()) expect(existsSync(fileURLToPath(built)), built).toBe(true);
    }
  });

  it('should start hosts from the build only when HMMLAB_HOSTS_FROM_BUILD is 1', () => {
    const was = process.env.HMMLAB_HOSTS_FROM_BUILD;
    try {
      process.env.HMMLAB_HOSTS_FROM_BUILD = '1';
      expect(hostsFromBuild()).toBe(true);
      process.env.HMMLAB_HOSTS_FROM_BUILD = 'yes';
      expect(hostsFromBuild()).toBe(false);
      delete process.env.HMMLAB_HOSTS_FROM_BUILD;
      expect(hostsFromBuild()).toBe(false);
    } finally {
      if (was === undefined) delete process.env.HMMLAB_HOSTS_FROM_BUILD;
      else process.env.HMMLAB_HOSTS_FROM_BUILD = was;
    }
  });
});

// The host and its thread from the build, which the suite's setup made (a job server from the
// sources would need tsx, which this loader does not register).
describe.runIf(hostsFromBuild())('modules loaded before the loader', () => {
  const loaderFixture = new URL('./watchdog-loader.test-fixture.mjs', import.meta.url).href;
  const preloaded = new URL('./watchdog-preload.test-fixture.mjs', import.meta.url).href;

  it('should import the preload modules before it registers the loader', async () => {
    const w = new WatchedWorker({ loader: loaderFixture, preload: [preloaded], build: true, hangTimeoutMs: 10_000 });
    try {
      expect(await w.call(preloaded, 'loadOrder', null)).toEqual(['preload', 'loader']);
    } finally {
      await w.stop();
    }
  });

  it('should import a module after the loader when it is not preloaded', async () => {
    const w = new WatchedWorker({ loader: loaderFixture, build: true, hangTimeoutMs: 10_000 });
    try {
      expect(await w.call(preloaded, 'loadOrder', null)).toEqual(['loader', 'preload']);
    } finally {
      await w.stop();
    }
  });

  it("should ask the loader to resolve a job's module once, however many jobs it runs", async () => {
    // A loader registered in the thread resolves every `import()` in a thread of its own: a job
    // server that imported its module again for each job made a round trip to it each time.
    const counting = new URL('./watchdog-counting-loader.test-fixture.mjs', import.meta.url).href;
    const w = new WatchedWorker({ loader: counting, build: true, hangTimeoutMs: 10_000 });
    try {
      for (let i = 0; i < 3; i++) expect(await w.call(preloaded, 'loadOrder', null)).toEqual(['preload']);
      expect(await w.call(counting, 'resolutions', null)).toBe(1);
    } finally {
      await w.stop();
    }
  });
});

describe('hostFlags', () => {
  it('should start the host of a short campaign without TurboFan, for its thread to turn on, unless the caller chose the tiers', () => {
    expect(hostFlags(['--conditions=@hmmlab/source', '--cpu-prof'], 500)).toEqual({
      execArgv: ['--conditions=@hmmlab/source', '--no-turbofan'],
      tierUp: true,
    });
    for (const own of ['--turbofan', '--no-opt', '--max-opt=1', '--jitless', '--maglev']) {
      expect(hostFlags(['--import', 'tsx', own], 1)).toEqual({ execArgv: ['--import', 'tsx', own], tierUp: false });
    }
    // A flag that only starts like one of them is not one.
    expect(hostFlags(['--optimize-for-size'], 1).tierUp).toBe(true);
  });

  it('should keep TurboFan from the start for a longer campaign, or one of runs unknown', () => {
    expect(hostFlags(['--import', 'tsx'], 501)).toEqual({ execArgv: ['--import', 'tsx'], tierUp: false });
    expect(hostFlags(['--import', 'tsx'])).toEqual({ execArgv: ['--import', 'tsx'], tierUp: false });
  });
});

// V8's own view (%GetOptimizationStatus) of a function the job has it optimize, in the host's thread.
describe('TurboFan in a watched worker', () => {
  it.each([
    [501, true],
    [500, false],
  ])('should optimize code from the start of a campaign of %i runs only when it is long: %s', async (runs, optimized) => {
    // A host for one run starts without TurboFan; a campaign of more than 500 that comes to it turns it on.
    const w = new WatchedWorker({ loader, build, hangTimeoutMs: 10_000, runs: 1 });
    try {
      expect(await w.call(jobs, 'tiers', { runs, heartbeat })).toEqual({ noTurbofan: true, before: false, after: optimized });
    } finally {
      await w.stop();
    }
  });
});

describe('fatalMessage', () => {
  it("should take V8's words from what it printed when it aborted", () => {
    expect(fatalMessage(['#', '# Fatal error in , line 0', '# Fatal JavaScript invalid size error 169220804', '#'])).toBe(
      'Fatal JavaScript invalid size error 169220804',
    );
    expect(
      fatalMessage(['<--- Last few GCs --->', '', 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory']),
    ).toBe('Reached heap limit Allocation failed - JavaScript heap out of memory');
    expect(fatalMessage(['', 'something else'])).toBe('something else');
  });
});
