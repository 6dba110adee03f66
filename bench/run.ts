/**
 * `pnpm bench`: every benchmark of hmmlab, side by side with its baseline in the same run. Prints
 * a summary, writes bench/results.json and docs/performance.md (with the machine it ran on).
 * Options: --quick (small sizes, for a smoke run), --skip-scale, --skip-fuzz, --skip-race,
 * --skip-layout, --skip-oracle, --skip-startup, --skip-cli, --skip-hmm-tests, --skip-lint, --skip-detect (fuzz time to detect); --only=<sections>
 * (comma-separated: handoff, model, scale, fuzz, detect, race, layout, oracle, startup, cli, hmm-tests, lint) runs those sections alone and keeps the other sections' last
 * figures in both files; --startup-only measures the startup alone and updates only its figures
 * in both files (it needs the build: npx tsc -b); --render-only writes docs/performance.md again
 * from bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { YOUNG_GENERATION_MB } from '../packages/fuzz/src/internal/watched-thread.js';
import { type CliCampaigns, cliCampaigns } from './src/cli-campaigns.js';
import {
  type Detection,
  driversUnder,
  expectedKind,
  expectedShape,
  load,
  medianThroughput,
  sameTwice,
  throughput,
  timeToDetect,
} from './src/fuzzing.js';
import { asyncHandoff, generatorHandoff, syncHandoff } from './src/handoff.js';
import type { HmmTestsRun } from './src/hmm-tests.js';
import { type LayoutCost, layoutCost } from './src/layout-cost.js';
import { type LintCost, lintCost } from './src/lint-cost.js';
import { type MachineProbe, machineProbe } from './src/machine-probe.js';
import { median, memoryUsed } from './src/measure.js';
import { PAGES, type PairedRounds, pairedRounds } from './src/mixed-workload.js';
import { type Nursery, nursery } from './src/nursery.js';
import { type OracleCost, oracleCost } from './src/oracle-cost.js';
import { type TrackingCost, trackingCost } from './src/race-tracking.js';
import {
  bareMigrateRoundTrip,
  bareRangeWalk,
  deviceSetup,
  manyNotifiers,
  migrateRoundTrip,
  rangeFault,
  residentModel,
  type ScalePoint,
  sparse,
} from './src/scaling.js';
import { type SeveralDrivers, type ShortCampaigns, type Startup, severalDrivers, shortCampaigns, startup } from './src/startup.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const startupOnly = args.has('--startup-only');
const SECTIONS = ['handoff', 'model', 'scale', 'fuzz', 'detect', 'race', 'layout', 'oracle', 'startup', 'cli', 'hmm-tests', 'lint'];
const onlyArg = [...args].find((a) => a.startsWith('--only='));
const only = onlyArg === undefined ? null : new Set(onlyArg.slice('--only='.length).split(','));
for (const o of only ?? []) {
  if (!SECTIONS.includes(o)) {
    process.stderr.write(`bench: unknown section "${o}" in --only; the sections are ${SECTIONS.join(', ')}\n`);
    process.exit(2);
  }
}
/** Whether section `name` runs: not skipped, and among --only's if given. */
const want = (name: string): boolean =>
  !startupOnly && !args.has(`--skip-${name}`) && !(name === 'detect' && args.has('--skip-fuzz')) && (only === null || only.has(name));
/** Marks of the hand-written part of docs/performance.md (where the time goes), kept across runs. */
const PROFILE_BEGIN = '<!-- profile: written by hand, kept by pnpm bench -->';
const PROFILE_END = '<!-- /profile -->';
/** Fresh processes that run the hmm-tests port; its figures are those of the median run. */
const HMM_TESTS_ROUNDS = 3;
/** Runs of the warm-up campaign before each template's throughput is measured. */
const WARM_UP_RUNS = 1000;
/** Rounds of each scaling measurement; figures are their medians. */
const SCALE_ROUNDS = 5;
/** The median of each field of `points` (of one size), taken field by field. */
function medianPoint(points: readonly ScalePoint[]): ScalePoint {
  const first = points[0] as ScalePoint;
  return {
    pages: first.pages,
    ms: median(points.map((p) => p.ms)),
    nsPerPage: median(points.map((p) => p.nsPerPage)),
    bytesPerPage: median(points.map((p) => p.bytesPerPage)),
  };
}
const log = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
if (args.has('--render-only')) {
  // docs/performance.md again from bench/results.json, measuring nothing.
  writeFileSync('docs/performance.md', renderMarkdown(JSON.parse(readFileSync('bench/results.json', 'utf8')) as Record<string, unknown>));
  process.stdout.write('wrote docs/performance.md\n');
  process.exit(0);
}

const results: Record<string, unknown> = {
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
  },
  date: new Date().toISOString().slice(0, 10),
};
/** The machine's 1-minute load average when the run started (other work on the machine slows every figure). */
const loadBefore = Number((loadavg()[0] ?? 0).toFixed(1));
/** The machine's state when the run started, as loops of arithmetic and of memory accesses time it. */
const probeBefore = await machineProbe();
log(`machine probe: ${probeText(probeBefore)}`);

// 1. Task representation
if (want('handoff')) {
  const steps = quick ? 50_000 : 300_000;
  const rounds = 5;
  const a: number[] = [];
  const g: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await asyncHandoff(steps));
    g.push(generatorHandoff(steps));
    s.push(syncHandoff(steps));
  }
  const r = {
    asyncStepsPerSec: Math.round(median(a) * 1000),
    generatorStepsPerSec: Math.round(median(g) * 1000),
    syncStepsPerSec: Math.round(median(s) * 1000),
  };
  results.taskHandoff = r;
  log(
    `task handoff (median of ${rounds}): async ${(r.asyncStepsPerSec / 1e6).toFixed(1)}M steps/s, generator ${(r.generatorStepsPerSec / 1e6).toFixed(1)}M, sync ${(r.syncStepsPerSec / 1e6).toFixed(1)}M`,
  );
}

// 2. The model against a bare Map page-table loop doing the same page-table work
if (want('model')) {
  const p = await pairedRounds(quick ? 4 : 30, quick ? 200 : 3000);
  results.model = { vsBareMap: { ...p, pagesPerRound: PAGES } };
  log(
    `model vs bare Map (${PAGES} faults, mprotect, munmap per round; ${p.pairs} alternating pairs of blocks): model ${(p.modelMedianMs * 1000).toFixed(0)} µs, bare ${(p.bareMedianMs * 1000).toFixed(0)} µs, ratio ${p.ratio} (pairs: ${p.ratioMin} to ${p.ratioMax})`,
  );
}

// 3. Scaling
if (want('scale')) {
  const sizes = quick ? [512, 8192] : [512, 8192, 131_072, 1_048_576];
  const migrate: ScalePoint[] = [];
  const fault: ScalePoint[] = [];
  const walk: ScalePoint[] = [];
  const bare: Bare[] = [];
  // Model objects held through the rounds (see residentModel): without them each round's forced
  // collection discards the model's compiled code.
  let resident: unknown[] | null = await residentModel();
  // Each size is measured in SCALE_ROUNDS rounds, the model and the bare loops alternating (one
  // word per page in both), and each figure is the median of its rounds: a single round measures
  // the JIT's warm-up and whatever else the machine was doing as much as the model.
  for (const n of sizes) {
    const ms: ScalePoint[] = [];
    const hs: { fault: ScalePoint; walk: ScalePoint }[] = [];
    const bms: ScalePoint[] = [];
    const bws: { fault: ScalePoint; walk: ScalePoint }[] = [];
    for (let round = 0; round < SCALE_ROUNDS; round++) {
      ms.push(await migrateRoundTrip(n));
      hs.push(await rangeFault(n));
      bms.push(bareMigrateRoundTrip(n));
      bws.push(bareRangeWalk(n));
    }
    const m = medianPoint(ms);
    migrate.push(m);
    const h = { fault: medianPoint(hs.map((x) => x.fault)), walk: medianPoint(hs.map((x) => x.walk)) };
    fault.push(h.fault);
    walk.push(h.walk);
    const bm = medianPoint(bms);
    const bw = { fault: medianPoint(bws.map((x) => x.fault)), walk: medianPoint(bws.map((x) => x.walk)) };
    const b: Bare = {
      pages: n,
      migrateNsPerPage: round1(bm.nsPerPage),
      faultNsPerPage: round1(bw.fault.nsPerPage),
      walkNsPerPage: round1(bw.walk.nsPerPage),
      migrateRatio: ratio(m.nsPerPage, bm.nsPerPage),
      faultRatio: ratio(h.fault.nsPerPage, bw.fault.nsPerPage),
      walkRatio: ratio(h.walk.nsPerPage, bw.walk.nsPerPage),
    };
    bare.push(b);
    log(
      `N=${n}: migrate to device and back ${m.ms.toFixed(0)} ms (${m.nsPerPage.toFixed(0)} ns/page, ${m.bytesPerPage.toFixed(0)} B/page; bare Maps ${b.migrateNsPerPage} ns/page, ratio ${b.migrateRatio}); hmmRangeFault faulting ${h.fault.nsPerPage.toFixed(0)} ns/page (bare ${b.faultNsPerPage}, ratio ${b.faultRatio}), walking ${h.walk.nsPerPage.toFixed(0)} ns/page (bare ${b.walkNsPerPage}, ratio ${b.walkRatio})`,
    );
  }
  log(`resident model objects held through the rounds: ${resident.length}`);
  resident = null;
  // One launch of each measured the JIT's warm-up and the collection of the rounds' garbage as
  // much as the model (the 1 TiB figure went from 3.2 to 59.5 ms between two runs of the same
  // code): each figure is the median of SMALL_ROUNDS rounds after WARM_ROUNDS rounds to warm up,
  // the two sizes alternating, each timed after a full collection (collectBeforeTiming). With one
  // round to warm up, the first rounds of 1,000 invalidations still took 13 to 22 µs each, the
  // later ones 2 to 3.
  const SMALL_ROUNDS = quick ? 1 : 5;
  const WARM_ROUNDS = quick ? 1 : 3;
  const pairs = async (a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> => {
    for (let i = 0; i < WARM_ROUNDS; i++) {
      await a();
      await b();
    }
    const as: number[] = [];
    const bs: number[] = [];
    for (let i = 0; i < SMALL_ROUNDS; i++) {
      as.push(await a());
      bs.push(await b());
    }
    return [median(as), median(bs)];
  };
  const [sparseSmall, sparseTiB] = await pairs(
    () => sparse(4 * 2 ** 20, 1000),
    () => sparse(2 ** 40, 1000),
  );
  const [n1k, n100k] = await pairs(
    () => manyNotifiers(1000),
    () => manyNotifiers(quick ? 1000 : 100_000),
  );
  const [dev1k, dev1M] = await pairs(
    () => deviceSetup(1024, 1000),
    () => deviceSetup(1_048_576, 1000),
  );
  results.scale = {
    migrateRoundTrip: migrate,
    hmmRangeFault: { fault, walk },
    bare,
    sparse: { touchedPages: 1000, ms4MiB: sparseSmall, ms1TiB: sparseTiB, ratio: Number((sparseTiB / sparseSmall).toFixed(2)) },
    intervalNotifiers: { msPerInvalidationWith1k: n1k, msPerInvalidationWith100k: n100k },
    deviceMemory: {
      usPerKernelWith1kPages: round1(dev1k),
      usPerKernelWith1MPages: round1(dev1M),
      ratio: Number((dev1M / dev1k).toFixed(2)),
    },
  };
  log(`sparse: 1000 pages touched in 4 MiB ${sparseSmall.toFixed(1)} ms, in 1 TiB ${sparseTiB.toFixed(1)} ms`);
  log(`interval notifiers: ${(n1k * 1000).toFixed(1)} µs per invalidation with 1k, ${(n100k * 1000).toFixed(1)} µs with 100k`);
  log(
    `device memory: a kernel and a device that hands out one page, ${dev1k.toFixed(1)} µs with 1,024 pages, ${dev1M.toFixed(1)} µs with 1,048,576`,
  );
}

// 4. Fuzzing
if (want('fuzz') || want('detect')) {
  // The scaling rounds leave a heap of a million pages' garbage: collected here, not by the
  // collector's concurrent marking while the campaigns are timed.
  memoryUsed();
  const correct = driversUnder('examples').filter((d) => d.name !== 'buggy' && d.name !== 'dmirror');
  const buggy = driversUnder('examples/buggy');
  const fuzz: Record<string, unknown> = {};
  const probe = correct[0];
  if (probe !== undefined && want('fuzz')) {
    const drv = await load(probe.file);
    fuzz.throughput = { driver: probe.name, ...(await throughput(drv, quick ? 200 : 2000)), deterministic: await sameTwice(drv) };
    log(`fuzz throughput on ${probe.name}: ${JSON.stringify(fuzz.throughput)}`);
  }
  // Every correct template, with the oracle on: the medians of three short campaigns each, after a
  // warm-up campaign of another seed (a process's runs speed up over its first few thousand: the JIT).
  // Each template's campaigns between two machine probes: this machine's speed changes from one
  // minute to the next, and the probes tell which speed each row had.
  const byTemplate: Record<
    string,
    { scenariosPerSec: number; stepsPerSec: number; runs: number; rounds: number; machine: readonly [number, number] }
  > = {};
  for (const c of want('fuzz') ? correct : []) {
    const drv = await load(c.file);
    await throughput(drv, quick ? 20 : WARM_UP_RUNS, 1);
    const before = (await machineProbe()).memoryOverAlu;
    const t = await medianThroughput(drv, quick ? 1 : 3, quick ? 100 : 500);
    byTemplate[c.name] = { ...t, machine: [before, (await machineProbe()).memoryOverAlu] };
    log(`fuzz throughput on ${c.name}: ${JSON.stringify(byTemplate[c.name])}`);
  }
  if (want('fuzz')) fuzz.throughputByTemplate = byTemplate;
  const seeds = quick ? 3 : 20;
  const ttd: Record<string, Detection> = {};
  const strategies: Record<string, Record<string, Detection>> = { pct: {}, random: {}, exhaustive: {} };
  const kinds: Record<string, string> = {};
  for (const c of want('detect') ? buggy : []) {
    kinds[c.name] = expectedKind(c.file);
    const drv = await load(c.file);
    const shape = expectedShape(c.file);
    // The default campaign's budget (`hmmlab fuzz --runs`): "detected" means a default campaign catches it.
    ttd[c.name] = await timeToDetect(drv, seeds, 'pct', 10_000, shape);
    log(`time to detect ${c.name}: ${JSON.stringify(ttd[c.name])}`);
    for (const s of ['pct', 'random', 'exhaustive'] as const) {
      (strategies[s] as Record<string, Detection>)[c.name] =
        s === 'pct' ? (ttd[c.name] as Detection) : await timeToDetect(drv, quick ? 2 : 10, s, 2000, shape);
    }
  }
  if (want('detect')) {
    fuzz.kinds = kinds;
    fuzz.timeToDetect = ttd;
    fuzz.strategies = strategies;
  }
  results.fuzz = fuzz;
}

// 5. The cost of happens-before tracking (the data-race rule)
if (want('race')) {
  const file = 'examples/amdkfd-style/driver.ts';
  const cost = await trackingCost(await load(file), quick ? 100 : 500, quick ? 3 : 7);
  results.raceTracking = { driver: 'amdkfd-style', ...cost };
  log(
    `happens-before tracking on amdkfd-style (median of ${cost.rounds} rounds of ${cost.runsPerRound} runs): ${cost.withTracking} scenarios/s with, ${cost.withoutTracking} without, ${cost.slowdown}× slower`,
  );
}

// 5b. What a campaign's runs cost by layout: THP layouts (one in 16) against the others
if (want('layout')) {
  const cost = await layoutCost(await load('examples/amdkfd-style/driver.ts'), quick ? 40 : 400, quick ? 2 : 5);
  results.layoutCost = { driver: 'amdkfd-style', ...cost };
  log(
    `runs by layout on amdkfd-style (medians of ${cost.rounds} rounds): ${cost.usPerRunWithoutThp} µs a run without a THP region, ${cost.usPerRunThpOnly} µs with one (${(cost.usPerRunThpOnly / cost.usPerRunWithoutThp).toFixed(1)}×; rounds' median ratio ${cost.thpRunCost}×), ${cost.usPerRunDefault} µs in the default mix (${cost.usPerRunDefaultPredicted} µs predicted); THP layouts take ${Math.round(cost.thpShareOfDefault * 100)}% of a default campaign's time`,
  );
}

// 5b'. The young generation of a campaign's thread, against V8's default
if (want('layout')) {
  const n = nursery(resolve('examples/amdkfd-style/driver.ts'), YOUNG_GENERATION_MB, quick ? 2 : 16, quick ? 0.2 : 1);
  results.nursery = n;
  log(
    `young generation ${n.campaignMb} MB against ${n.defaultMb} MB on ${n.driver} (medians of ${n.thpOnly.rounds} alternating rounds): THP layouts only ${n.thpOnly.defaultUs} against ${n.thpOnly.campaignUs} µs a run, ${n.thpOnly.ratio}× (${n.thpOnly.range.join(' to ')}); default mix ${n.defaultMix.defaultUs} against ${n.defaultMix.campaignUs} µs, ${n.defaultMix.ratio}× (${n.defaultMix.range.join(' to ')})`,
  );
}

// 5c. What the oracle costs fixed runs, against the model alone
if (want('oracle')) {
  const cost = await oracleCost(await load('examples/amdkfd-style/driver.ts'), quick ? 2 : 7, quick ? 0.1 : 1);
  results.oracleCost = { driver: 'amdkfd-style', ...cost };
  for (const c of cost.cases)
    log(
      `oracle on amdkfd-style, ${c.name} (medians of ${cost.rounds} rounds of ${c.runsPerRound} runs): model ${c.modelUs} µs, with the oracle ${c.oracleUs} µs, ${c.ratio}×`,
    );
}

// 5d. Campaigns through `hmmlab fuzz`, with one worker and with two
if (want('cli')) {
  const c = cliCampaigns('examples/amdkfd-style', quick ? 500 : 10_000, quick ? 1 : 3, [1, 2]);
  results.cliCampaigns = c;
  log(
    `hmmlab fuzz of ${c.driver}, ${c.runs} runs (medians of ${c.rounds} rounds): ${Object.entries(c.byWorkers)
      .map(([w, f]) => `${w} worker(s) ${f.medianMs} ms, ${f.scenariosPerSec} scenarios/s (launch ${f.launchMedianMs} ms)`)
      .join('; ')}`,
  );
  const templates = ['amdkfd-style', 'amdkfd-style-xnack-off', 'dmirror-fixed', 'mlx5-odp-style', 'nouveau-style', 'xe-style'];
  const cores = availableParallelism();
  const several = severalDrivers(
    templates.map((t) => `examples/${t}`),
    quick ? 500 : 3000,
    cores > 1 ? [1, Math.min(cores, 8)] : [1],
    quick ? 1 : 3,
  );
  results.severalDrivers = several;
  log(
    `hmmlab fuzz of ${several.drivers.length} drivers, ${several.runs} runs each, wall / CPU ms (medians of ${several.rounds}): ${Object.entries(
      several.byJobs,
    )
      .map(([j, f]) => `--jobs ${j} ${f.medianMs} / ${f.cpuMedianMs}`)
      .join('; ')}`,
  );
  const s = shortCampaigns('examples/amdkfd-style', quick ? [300] : [20, 300, 1000, 3000], quick ? 2 : 6);
  results.shortCampaigns = s;
  log(
    `short campaigns of ${s.driver}, wall / CPU ms (medians of ${s.rounds}), hosts' tiers against --turbofan: ${Object.entries(s.byRuns)
      .map(
        ([n, f]) =>
          `${n} runs ${f.deferred.medianMs} / ${f.deferred.cpuMedianMs} against ${f.turbofan.medianMs} / ${f.turbofan.cpuMedianMs}`,
      )
      .join('; ')}`,
  );
}

// 6. Startup: `hmmlab --version` and the fixed cost of `hmmlab fuzz`, against `node -e 0`
if (startupOnly || want('startup')) {
  const s = startup('test/pack/fixtures/driver.ts', quick ? 3 : 7);
  results.startup = { ...s, machine: results.machine, date: results.date };
  log(
    `startup (median of ${s.rounds} launches each, wall clock / CPU): node -e 0 ${s.node.medianMs} / ${s.node.cpuMedianMs} ms, hmmlab --version ${s.version.medianMs} / ${s.version.cpuMedianMs} ms, hmmlab fuzz --runs 1 ${s.fuzz.medianMs} / ${s.fuzz.cpuMedianMs} ms (${s.fuzzAfterEdit.medianMs} / ${s.fuzzAfterEdit.cpuMedianMs} ms after an edit of the driver)`,
  );
}

// 7. The port of the kernel's hmm-tests, run by the bench itself (not through a test runner)
if (want('hmm-tests')) {
  // HMM_TESTS_ROUNDS runs, each in a fresh process (bench/src/hmm-tests-main.ts); the figures are
  // those of the run of median time.
  const runs: HmmTestsRun[] = [];
  for (let i = 0; i < HMM_TESTS_ROUNDS; i++) {
    const c = spawnSync(process.execPath, [...process.execArgv, 'bench/src/hmm-tests-main.ts'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (c.status !== 0) throw new Error(`bench/src/hmm-tests-main.ts exited with ${String(c.status)}: ${c.stderr}`);
    runs.push(JSON.parse(c.stdout) as HmmTestsRun);
  }
  runs.sort((a, b) => a.ms - b.ms);
  const r = { ...(runs[Math.floor(runs.length / 2)] as HmmTestsRun), rounds: runs.map((x) => Math.round(x.ms)) };
  results.hmmTests = r;
  log(
    `hmm-tests port (median of ${HMM_TESTS_ROUNDS} fresh processes: ${r.rounds.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}): ${r.cases} cases (${r.passed} passed, ${r.skipped} skipped, ${r.failed.length} failed) in ${(r.ms / 1000).toFixed(2)} s; ${JSON.stringify(r.msByFile)}`,
  );
  for (const f of r.failed) log(`  failed: ${f}`);
  // A failed case makes its time meaningless: the bench ends with status 1 (results still written).
  if (r.failed.length > 0) process.exitCode = 1;
}

// 8. The static checks: every example driver linted, against parsing its sources alone
if (want('lint')) {
  const c = await lintCost(quick ? 1 : 5);
  results.lint = c;
  log(
    `lint of the ${c.drivers} example drivers (${c.files} files; medians of ${c.rounds} alternating rounds): ${c.lintMs} ms a round, parsing the same files ${c.parseMs} ms (${c.ratio}×); ${c.findings} findings a round`,
  );
}

results.loadAverage = { before: loadBefore, after: Number((loadavg()[0] ?? 0).toFixed(1)) };
const probeAfter = await machineProbe();
log(`machine probe after the run: ${probeText(probeAfter)}`);
results.machineProbe = { before: probeBefore, after: probeAfter };

if (only !== null) {
  // Only the sections run change: the others keep what their last run measured.
  const kept = JSON.parse(readFileSync('bench/results.json', 'utf8')) as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...kept, machine: results.machine, date: results.date };
  // A section's fields replace the kept ones; fields it did not measure (detection without
  // throughput, say) stay.
  // The load average stays the full run's: it qualifies the figures of every section, and a
  // section that runs alone records its own where it matters (cliCampaigns, startup).
  for (const [key, v] of Object.entries(results)) {
    if (key === 'machine' || key === 'date' || key === 'loadAverage' || key === 'machineProbe') continue;
    const old = kept[key];
    merged[key] = isRecord(old) && isRecord(v) ? { ...old, ...v } : v;
  }
  writeFileSync('bench/results.json', `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync('docs/performance.md', renderMarkdown(merged));
} else if (startupOnly) {
  // Only the startup figures change: the other sections keep what their last run measured.
  const kept = JSON.parse(readFileSync('bench/results.json', 'utf8')) as Record<string, unknown>;
  writeFileSync('bench/results.json', `${JSON.stringify({ ...kept, startup: results.startup }, null, 2)}\n`);
  const doc = readFileSync('docs/performance.md', 'utf8');
  const section = startupMarkdown(results.startup as Startup & { date: string; machine: { cores: number } }).join('\n');
  const at = doc.indexOf('## Startup\n');
  const end = at < 0 ? -1 : doc.indexOf('\n## ', at + 1);
  writeFileSync(
    'docs/performance.md',
    at < 0 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, at)}${section}${end < 0 ? '' : doc.slice(end)}`,
  );
} else {
  writeFileSync('bench/results.json', `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync('docs/performance.md', renderMarkdown(results));
}
log('wrote bench/results.json and docs/performance.md');

/** The bare-loop baselines of one scaling size, and the model's ratio to each. */
interface Bare {
  pages: number;
  migrateNsPerPage: number;
  faultNsPerPage: number;
  walkNsPerPage: number;
  migrateRatio: number;
  faultRatio: number;
  walkRatio: number;
}

/** The load average of the last run, when the machine was not idle. */
function loadNote(l: { before: number; after: number } | undefined, cores: number): string[] {
  if (l === undefined || Math.max(l.before, l.after) < cores / 2) return [];
  return [
    `The last run's machine was shared: load average ${l.before} when it started and ${l.after} when it ended, on ${cores} cores. Every time here is inflated by that; the side-by-side ratios much less, since both sides ran under the same load.`,
    '',
  ];
}

function probeText(p: MachineProbe): string {
  return `integer arithmetic ${p.aluNs} ns, a Map lookup ${p.mapNs} ns (${p.memoryOverAlu}×), an await ${p.awaitNs} ns`;
}

/** The machine probe's line of docs/performance.md (see bench/src/machine-probe.ts). */
function probeNote(p: { before: MachineProbe; after: MachineProbe } | undefined): string[] {
  if (p === undefined) return [];
  return [
    `The machine's state, before and after the run (bench/src/machine-probe.ts: loops that stay in registers and loops that go through the caches, which alone slow down when the machine runs a process at its slower speed): ${probeText(p.before)}; after, ${probeText(p.after)}.`,
    '',
  ];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function round1(x: number): number {
  return Number(x.toFixed(1));
}

function ratio(model: number, bare: number): number {
  return Number((model / bare).toFixed(1));
}

/** The Startup section of docs/performance.md, ending with a blank line. */
function startupMarkdown(s: Startup & { date: string; machine: { cores: number } }): string[] {
  const sec = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const row = (what: string, l: Startup['node'], target: string): string =>
    `| ${what} | ${sec(l.medianMs)} | ${sec(l.cpuMedianMs)} | ${target} |`;
  return [
    '## Startup',
    '',
    `Whole launches of the built command, medians of ${s.rounds} rounds that launch each command once (measured on ${s.date}, \`pnpm bench --startup-only\`): wall-clock time, and CPU time of all the threads of the process. The fuzz campaign is one run of \`${s.driver}\`, a small TypeScript driver, with the default type check and without corpus; its cost is what every campaign pays before its runs.`,
    '',
    `Load average of the machine (${s.machine.cores} cores) before and after the rounds: ${s.loadAverage[0]} and ${s.loadAverage[1]}; other work on the machine lengthens every launch, the baseline's too.`,
    '',
    '| command | wall clock | CPU | target (wall clock) |',
    '|---|---|---|---|',
    row('`node -e 0` (the baseline)', s.node, ''),
    row('`hmmlab --version`', s.version, 'under 0.5 s'),
    row('`hmmlab fuzz driver.ts --runs 1`, the driver unchanged', s.fuzz, 'under 2 s'),
    row('the same right after an edit of the driver (its type check runs again)', s.fuzzAfterEdit, ''),
    '',
  ];
}

/** The hand-written part of docs/performance.md (where the time goes), kept across runs. */
function profileNotes(): string[] {
  const doc = readFileSync('docs/performance.md', 'utf8');
  const a = doc.indexOf(PROFILE_BEGIN);
  const b = doc.indexOf(PROFILE_END);
  return a < 0 || b < a ? [] : [doc.slice(a, b + PROFILE_END.length), ''];
}

function renderMarkdown(r: Record<string, unknown>): string {
  const m = r.machine as { cpu: string; cores: number; memoryGiB: number; node: string };
  const lines: string[] = [
    '# Performance',
    '',
    `Measured by \`pnpm bench\` on ${r.date as string}: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}. Every figure is a median; each comparison ran side by side in the same process.`,
    '',
    ...loadNote(r.loadAverage as { before: number; after: number } | undefined, m.cores),
    ...probeNote(r.machineProbe as { before: MachineProbe; after: MachineProbe } | undefined),
    ...profileNotes(),
  ];
  const h = r.taskHandoff as { asyncStepsPerSec: number; generatorStepsPerSec: number; syncStepsPerSec: number } | undefined;
  if (h) {
    lines.push(
      '## Task representation',
      '',
      'One step handed between three tasks, round robin:',
      '',
      '| representation | steps/s |',
      '|---|---|',
    );
    lines.push(
      `| async functions (hmmlab) | ${h.asyncStepsPerSec.toLocaleString('en')} |`,
      `| generators | ${h.generatorStepsPerSec.toLocaleString('en')} |`,
      `| synchronous state machine | ${h.syncStepsPerSec.toLocaleString('en')} |`,
      '',
    );
    lines.push(
      'Async functions cost a microtask per handoff, but let driver callbacks be plain `async` code where `await` means "may sleep"; at millions of steps per second they are far from being the bottleneck of a fuzz run.',
      '',
    );
  }
  const model = (
    r.model as
      | { vsBareMap: Partial<PairedRounds> & { ratio: number; modelMedianMs: number; bareMedianMs: number; pagesPerRound: number } }
      | undefined
  )?.vsBareMap;
  if (model) {
    lines.push(
      '## The model against a bare Map',
      '',
      `${model.pagesPerRound} anonymous write faults, an mprotect of half the range and an munmap of all of it, with one interval notifier, against a bare \`Map\` page-table loop doing the same entry and page work.`,
      '',
    );
    if (model.pairs !== undefined)
      lines.push(
        `Measured in ${model.pairs} pairs of blocks (${model.modelRoundsPerBlock} model rounds, ${model.bareRoundsPerBlock} bare ones; about 60 ms each), the two alternating and taking turns to go first: the ratio is the median of the pairs' ratios, which ranged from ${model.ratioMin} to ${model.ratioMax}. Medians of blocks a tenth of a second apart, rather than two runs of seconds one after the other, as the machine's speed moves by half over minutes.`,
        '',
      );
    lines.push(
      `| | median per round${model.pairs !== undefined ? ' (over the blocks)' : ''} |`,
      '|---|---|',
      `| model | ${(model.modelMedianMs * 1000).toFixed(0)} µs |`,
      `| bare Map loop | ${(model.bareMedianMs * 1000).toFixed(0)} µs |`,
      `| ratio | **${model.ratio}** (target: within 2×) |`,
      '',
    );
  }
  const scale = r.scale as
    | {
        migrateRoundTrip: ScalePoint[];
        hmmRangeFault: { fault: ScalePoint[]; walk: ScalePoint[] };
        sparse: { ms4MiB: number; ms1TiB: number; ratio: number };
        intervalNotifiers: { msPerInvalidationWith1k: number; msPerInvalidationWith100k: number };
        deviceMemory?: { usPerKernelWith1kPages: number; usPerKernelWith1MPages: number; ratio: number };
        bare?: Bare[];
      }
    | undefined;
  if (scale) {
    lines.push(
      '## Scaling',
      '',
      `Each figure is the median of ${SCALE_ROUNDS} rounds, the model's and the bare loops' alternating in one process (one word of contents per page), with the objects of a small model (a migrate round trip and an hmmRangeFault of 64 pages) held alive throughout, as in a process that uses the model: otherwise the collection forced before each round for its memory figure discards the model's compiled code (\`residentModel\` in bench/src/scaling.ts).`,
      '',
      '| N pages | migrate to device and back | per page | memory per page | hmmRangeFault, faulting | walking present pages |',
      '|---|---|---|---|---|---|',
    );
    scale.migrateRoundTrip.forEach((p, i) => {
      const f = scale.hmmRangeFault.fault[i] as ScalePoint;
      const w = scale.hmmRangeFault.walk[i] as ScalePoint;
      lines.push(
        `| ${p.pages.toLocaleString('en')} | ${p.ms.toFixed(0)} ms | ${p.nsPerPage.toFixed(0)} ns | ${p.bytesPerPage.toFixed(0)} B | ${f.nsPerPage.toFixed(0)} ns/page | ${w.nsPerPage.toFixed(0)} ns/page |`,
      );
    });
    if (scale.bare !== undefined) {
      lines.push(
        '',
        "The same work as bare loops, side by side: the pages moved between two `Map`s (a block copy into a page from a free list), and a `Map` page table walked into a pfn array (allocating a zeroed page for each missing entry the first time). Ratio: the model's time over the bare loop's.",
        '',
        '| N pages | bare migrate | ratio | bare faulting walk | ratio | bare walk | ratio |',
        '|---|---|---|---|---|---|---|',
      );
      for (const b of scale.bare)
        lines.push(
          `| ${b.pages.toLocaleString('en')} | ${b.migrateNsPerPage} ns/page | ${b.migrateRatio} | ${b.faultNsPerPage} ns/page | ${b.faultRatio} | ${b.walkNsPerPage} ns/page | ${b.walkRatio} |`,
        );
    }
    lines.push(
      '',
      'Memory per page: the heap and the array buffers (page contents, page-table leaves) the round trip leaves in use, less the contents of the two pages (system and device). Targets: the migrate round trip within 1.5 µs and 600 B per page (beyond the page contents) at 131,072 pages, linear to 1M pages.',
    );
    lines.push(
      '',
      `Touching 1000 pages of a mapping and unmapping it (medians of 5 rounds after 3 to warm up, the two sizes alternating, each after a full collection): ${scale.sparse.ms4MiB.toFixed(1)} ms for 4 MiB, ${scale.sparse.ms1TiB.toFixed(1)} ms for 1 TiB (ratio ${scale.sparse.ratio}): cost follows the pages touched, not the size of the address space.`,
    );
    lines.push(
      '',
      `One-page invalidations (medians of 5 rounds of 1,000, after 3 to warm up, each after a full collection): ${(scale.intervalNotifiers.msPerInvalidationWith1k * 1000).toFixed(1)} µs each with 1,000 interval notifiers, ${(scale.intervalNotifiers.msPerInvalidationWith100k * 1000).toFixed(1)} µs with 100,000.`,
      '',
    );
    if (scale.deviceMemory !== undefined)
      lines.push(
        `A kernel and a device whose memory hands out one page, as each run of a campaign makes them (medians of 5 rounds of 1,000, after 3 to warm up): ${scale.deviceMemory.usPerKernelWith1kPages} µs with 1,024 pages of device memory, ${scale.deviceMemory.usPerKernelWith1MPages} µs with 1,048,576 (ratio ${scale.deviceMemory.ratio}): cost follows the device pages used, not the size of the memory.`,
        '',
      );
  }
  const hmm = r.hmmTests as (HmmTestsRun & { rounds?: number[] }) | undefined;
  if (hmm) {
    lines.push(
      '## The hmm-tests port',
      '',
      `The port of the kernel's hmm-tests (\`test/hmm-tests\`), every case run once by the bench itself (\`bench/src/hmm-tests.ts\`, no test runner)${hmm.rounds === undefined ? '' : `, in ${hmm.rounds.length} fresh processes (${hmm.rounds.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}); the figures are those of the median run`}: ${hmm.cases} cases, ${hmm.passed} passed, ${hmm.skipped} skipped, ${hmm.failed.length} failed, in **${(hmm.ms / 1000).toFixed(2)} s** of run time. The real 6.1 kernel runs its 58 hmm-tests cases in 6.3 s of guest time under full-system emulation (QEMU TCG, no KVM); the target is under 6 s, and under 1 s the goal.`,
      '',
      '| file | run time |',
      '|---|---|',
      ...Object.entries(hmm.msByFile).map(([f, ms]) => `| ${f} | ${(ms / 1000).toFixed(2)} s |`),
      '',
      `Slowest cases: ${hmm.slowest.map((c) => `${c.name.split(' > ').pop()} (${c.ms} ms)`).join('; ')}.`,
      '',
    );
  }
  const lintFig = r.lint as LintCost | undefined;
  if (lintFig) {
    lines.push(
      '## Static checks',
      '',
      `\`lint\` of every example driver (${lintFig.drivers} drivers, ${lintFig.files} source files), in one process (\`bench/src/lint-cost.ts\`), side by side with parsing the same files into a ts-morph project per driver and nothing else: medians of ${lintFig.rounds} alternating rounds, after one of each to warm up.`,
      '',
      '| | a round |',
      '|---|---|',
      `| lint (${lintFig.findings} findings) | ${lintFig.lintMs.toLocaleString('en')} ms (**${lintFig.ratio}×** the parse, the median of the rounds' own ratios) |`,
      `| parse only | ${lintFig.parseMs.toLocaleString('en')} ms |`,
      '',
    );
  }
  if (r.startup) lines.push(...startupMarkdown(r.startup as Startup & { date: string; machine: { cores: number } }));
  const race = r.raceTracking as (TrackingCost & { driver: string }) | undefined;
  if (race) {
    lines.push(
      '## Happens-before tracking',
      '',
      `Fuzz throughput on \`${race.driver}\` with the whole oracle, and with every rule but \`data-race\` (no vector clocks, no shadow state): medians of ${race.rounds} alternating rounds of ${race.runsPerRound} runs in one process.`,
      '',
      '| | scenarios/s |',
      '|---|---|',
      `| with tracking | ${race.withTracking.toLocaleString('en')} |`,
      `| without | ${race.withoutTracking.toLocaleString('en')} |`,
      `| slowdown | **${race.slowdown}×** |`,
      '',
    );
  }
  const layout = r.layoutCost as (LayoutCost & { driver: string }) | undefined;
  if (layout) {
    lines.push(
      '## Campaign runs by layout',
      '',
      `One layout in 16 starts with a THP region of 512 pages, populated page by page and torn down at the exit (\`ScenarioShape.thp\`). Campaigns on \`${layout.driver}\` of layouts without one (${layout.runsPerRound} runs), of THP layouts only (${Math.max(1, Math.floor(layout.runsPerRound / 10))} runs), and of the default mix (${layout.runsPerRound} runs): medians of ${layout.rounds} rounds in one process, the three in a rotating order.`,
      '',
      '| campaign | µs per run |',
      '|---|---|',
      `| no THP layout | ${layout.usPerRunWithoutThp.toLocaleString('en')} |`,
      `| THP layouts only | ${layout.usPerRunThpOnly.toLocaleString('en')} (**${(layout.usPerRunThpOnly / layout.usPerRunWithoutThp).toFixed(1)}×**; the median of the rounds' own ratios: ${layout.thpRunCost}×) |`,
      `| default mix | ${layout.usPerRunDefault.toLocaleString('en')} (predicted from the two: ${layout.usPerRunDefaultPredicted.toLocaleString('en')}) |`,
      '',
      `The THP layouts' runs take about **${Math.round(layout.thpShareOfDefault * 100)}%** of a default campaign's time (\`t / (t + 15 f)\` of the two rates above).`,
      '',
    );
  }
  const young = r.nursery as Nursery | undefined;
  if (young) {
    const row = (name: string, f: Nursery['thpOnly']): string =>
      `| ${name} | ${f.runsPerRound} | ${f.defaultUs.toLocaleString('en')} µs | ${f.campaignUs.toLocaleString('en')} µs | **${f.ratio}×** (${f.range[0]} to ${f.range[1]}) |`;
    lines.push(
      "## A campaign thread's young generation",
      '',
      `Campaigns of \`${young.driver}\` in two worker threads of a child process with V8's default flags (a \`--max-semi-space-size\` of the process would set both), one with V8's default young generation (${young.defaultMb} MB) and one with the ${young.campaignMb} MB that \`hmmlab fuzz\` gives its campaign threads (\`YOUNG_GENERATION_MB\`), in turn, the order alternating, a fresh pair for each layout: medians of ${young.thpOnly.rounds} rounds after 3 to warm up. Ratio: the median of the rounds' own ratios, and their range.`,
      '',
      '| campaign | runs per round | default | campaign thread | ratio |',
      '|---|---|---|---|---|',
      row('THP layouts only', young.thpOnly),
      row('default mix', young.defaultMix),
      '',
    );
  }
  const oracle = r.oracleCost as (OracleCost & { driver: string }) | undefined;
  if (oracle) {
    lines.push(
      '## The oracle against the model alone',
      '',
      `Fixed runs of \`${oracle.driver}\` under one schedule (\`firstRunnable\`): the model alone (\`runScenario\`, no trace listener, no happens-before tracking) and with the whole oracle (\`checkScenario\`), side by side in ${oracle.rounds} alternating rounds in one process. Ratio: the median of the rounds' own ratios.`,
      '',
      '| run | runs per round | model alone | with the oracle | ratio |',
      '|---|---|---|---|---|',
      ...oracle.cases.map(
        (c) =>
          `| ${c.name} | ${c.runsPerRound} | ${c.modelUs.toLocaleString('en')} µs | ${c.oracleUs.toLocaleString('en')} µs | **${c.ratio}×** |`,
      ),
      '',
    );
  }
  const cli = r.cliCampaigns as CliCampaigns | undefined;
  if (cli) {
    const one = cli.byWorkers['1'];
    lines.push(
      '## Campaigns through hmmlab fuzz',
      '',
      `\`hmmlab fuzz ${cli.driver} --runs ${cli.runs} --no-corpus --json\`, the built command as a user runs it, with \`--workers\` 1 and 2 (the default is 1): medians of ${cli.rounds} rounds, seeded 1, 2, …, the counts alternating. The campaign's time is the report's \`elapsedMs\`: from starting its first worker (a host process and its watched thread, which load the driver) to its result, the JIT's warm-up included; the launch adds starting hmmlab and the type check. The in-process figures under [Fuzzing](#fuzzing) are of warm campaigns without any of that.`,
      '',
      '| workers | campaign | scenarios/s | whole launch |',
      '|---|---|---|---|',
      ...Object.entries(cli.byWorkers).map(
        ([w, f]) =>
          `| ${w} | ${(f.medianMs / 1000).toFixed(2)} s | ${f.scenariosPerSec.toLocaleString('en')}${one !== undefined && w !== '1' ? ` (${(one.medianMs / f.medianMs).toFixed(2)}× one worker)` : ''} | ${(f.launchMedianMs / 1000).toFixed(2)} s |`,
      ),
      '',
    );
  }
  const several = r.severalDrivers as SeveralDrivers | undefined;
  if (several) {
    const one = several.byJobs['1'];
    const cpu = (ms: number | null): string => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);
    lines.push(
      '### Several drivers at once',
      '',
      `\`hmmlab fuzz <the ${several.drivers.length} correct templates> --runs ${several.runs} --jobs J --no-corpus --no-typecheck --quiet\` (${several.drivers.map((d) => d.replace(/^examples\//, '')).join(', ')}), the built command; medians of ${several.rounds} launches of each, the order rotating; CPU of all its processes and threads. Load average ${several.loadAverage[0]} → ${several.loadAverage[1]}.`,
      '',
      '| --jobs | wall | CPU | wall against --jobs 1 |',
      '|---|---|---|---|',
      ...Object.entries(several.byJobs).map(
        ([j, f]) =>
          `| ${j} | ${(f.medianMs / 1000).toFixed(1)} s | ${cpu(f.cpuMedianMs)} | ${one !== undefined && j !== '1' ? `${(one.medianMs / f.medianMs).toFixed(2)}× faster` : '–'} |`,
      ),
      '',
    );
  }
  const short = r.shortCampaigns as ShortCampaigns | undefined;
  if (short) {
    const ratio = (a: number | null, b: number | null): string => (a === null || b === null ? '–' : `${(a / b).toFixed(2)}×`);
    const cpu = (ms: number | null): string => (ms === null ? '–' : `${(ms / 1000).toFixed(2)} s`);
    lines.push(
      '### TurboFan in a host',
      '',
      `\`hmmlab fuzz ${short.driver} --runs N --no-corpus --no-typecheck --quiet\` in fresh processes, as launched (the host of a campaign of at most 500 runs starts without TurboFan, and its thread turns it on after 2 s of runs; a longer campaign's host starts with it) and with \`node --turbofan\` before the command (the host keeps a caller's choice: V8's tiers from the start). Medians of ${short.rounds} launches each, alternating; CPU of all the processes and threads. Load average ${short.loadAverage[0]} → ${short.loadAverage[1]}.`,
      '',
      '| runs | wall, as launched | wall, --turbofan | ratio | CPU, as launched | CPU, --turbofan | ratio |',
      '|---|---|---|---|---|---|---|',
      ...Object.entries(short.byRuns).map(
        ([n, f]) =>
          `| ${Number(n).toLocaleString('en')} | ${(f.deferred.medianMs / 1000).toFixed(2)} s | ${(f.turbofan.medianMs / 1000).toFixed(2)} s | ${ratio(f.deferred.medianMs, f.turbofan.medianMs)} | ${cpu(f.deferred.cpuMedianMs)} | ${cpu(f.turbofan.cpuMedianMs)} | ${ratio(f.deferred.cpuMedianMs, f.turbofan.cpuMedianMs)} |`,
      ),
      '',
    );
  }
  const fuzz = r.fuzz as
    | {
        throughput?: { driver: string; scenariosPerSec: number; stepsPerSec: number; runs?: number };
        throughputByTemplate?: Record<
          string,
          { scenariosPerSec: number; stepsPerSec: number; runs: number; rounds?: number; machine?: readonly [number, number] }
        >;
        kinds?: Record<string, string>;
        timeToDetect?: Record<string, Detection>;
        strategies?: Record<string, Record<string, Detection>>;
      }
    | undefined;
  if (fuzz) {
    lines.push('## Fuzzing', '');
    if (fuzz.throughput)
      lines.push(
        `Throughput on \`${fuzz.throughput.driver}\` with the oracle on, over the first ${(fuzz.throughput.runs ?? 2000).toLocaleString('en')} runs of the process (cold: the JIT warms up over the first few thousand): ${fuzz.throughput.scenariosPerSec.toLocaleString('en')} scenarios/s, ${fuzz.throughput.stepsPerSec.toLocaleString('en')} scheduler steps/s.`,
        '',
      );
    const byTemplate = Object.entries(fuzz.throughputByTemplate ?? {});
    if (byTemplate.length > 0) {
      lines.push(
        `Every correct template, with the oracle on, after a warm-up campaign of ${WARM_UP_RUNS.toLocaleString('en')} runs: the median of the campaigns shown (seeded 7, 8, …; one campaign in results written before the medians), and the runs they made together. Target: 5,000 scenarios/s on amdkfd-style. The machine column is the machine probe's lookups over arithmetic just before and just after the template's campaigns: about 4 to 5 at this machine's faster speed, 9 to 11 at its slower one (a dash: not probed).`,
        '',
        '| template | campaigns | runs | scenarios/s | scheduler steps/s | machine |',
        '|---|---|---|---|---|---|',
        ...byTemplate.map(
          ([name, t]) =>
            `| ${name} | ${t.rounds ?? 1} | ${t.runs} | ${t.scenariosPerSec.toLocaleString('en')} | ${t.stepsPerSec.toLocaleString('en')} | ${t.machine === undefined ? '-' : `${t.machine[0]} → ${t.machine[1]}`} |`,
        ),
        '',
      );
    }
    const cases = Object.keys(fuzz.timeToDetect ?? {});
    if (cases.length > 0) {
      lines.push(
        "Time to detect each bug of `examples/buggy/` (default strategy, PCT, within the default campaign's 10,000 runs; detection only, without shrinking), and the other strategies (2,000 runs):",
        '',
      );
      const kindOf = (c: string): string => (fuzz.kinds?.[c] === 'kernel-what-if' ? 'kernel what-if' : 'driver bug');
      const count = (k: string): number => cases.filter((c) => kindOf(c) === k).length;
      lines.push(
        `${count('driver bug')} driver bugs and ${count('kernel what-if')} kernel what-ifs (caught only on a kernel changed by a profile override).`,
        '',
        '| case | kind | PCT median | detected | random median | detected | exhaustive median | detected |',
        '|---|---|---|---|---|---|---|---|',
      );
      const cell = (d: Detection | undefined): string =>
        d === undefined ? '-' : `${d.medianMs === null ? '-' : `${d.medianMs} ms`} | ${d.detected}/${d.seeds}`;
      for (const c of cases)
        lines.push(
          `| ${c} | ${kindOf(c)} | ${cell(fuzz.strategies?.pct?.[c])} | ${cell(fuzz.strategies?.random?.[c])} | ${cell(fuzz.strategies?.exhaustive?.[c])} |`,
        );
      lines.push('', 'Targets: every case detected on every seed, with a median under 1 s on a 2-core machine.', '');
    }
  }
  return `${lines.join('\n')}\n`;
}
