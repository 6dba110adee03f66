/**
 * `pnpm bench:profile <workload> [size]`: a CPU profile of one workload, taken in process around
 * the workload alone (not the startup), written to `<workload>.cpuprofile` (open it in Chrome
 * DevTools or VS Code), with the functions of most self time printed. Workloads: `hmm-tests` (the
 * port's cases), `migrate` (the migrate round trip of `size` pages, 131,072 by default), `fuzz`
 * (a campaign of `size` runs of amdkfd-style, 1000 by default), `fuzz-thp` (the same with only
 * THP layouts, 200 runs by default), `fuzz-small` (the same without THP layouts, 3000 runs by default), `detect` (a campaign of one case of
 * `examples/buggy/`, given as `size`, with the shape its expected.json asks for: `pnpm bench:profile
 * detect h2-lock-in-migrate-to-ram [runs] [seed]`, 1000 runs of seed 1 by default), `round` (`size`
 * rounds of the model's side of the bench's model-against-bare-Map round, 20,000 by default),
 * `oracle-thp` (`size` fixed runs of amdkfd-style with the oracle, a THP region populated and then
 * the exit: the bench's oracle case where the oracle costs most, 600 by default).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { scanRuns } from '@hmmlab/fuzz';
import { expectedShape, load, throughput } from './src/fuzzing.js';
import { hmmTestsPort } from './src/hmm-tests.js';
import { modelRound } from './src/mixed-workload.js';
import { oracleCaseRuns } from './src/oracle-cost.js';
import { migrateRoundTrip } from './src/scaling.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

const [workload, sizeArg, runsArg, seedArg] = process.argv.slice(2);

/** A campaign of amdkfd-style with only THP layouts (`thp`) or none. */
async function layoutCampaign(thp: boolean, runs: number): Promise<{ runs: number; steps: number }> {
  const scan = await scanRuns(await load('examples/amdkfd-style/driver.ts'), { runs, seed: 7, shape: { thp } });
  return { runs: scan.done, steps: scan.steps };
}
const caseFile = `examples/buggy/${sizeArg ?? ''}/driver.ts`;
const workloads: Record<string, () => Promise<unknown>> = {
  'hmm-tests': async () => {
    const r = await hmmTestsPort();
    return { cases: r.cases, failed: r.failed.length, ms: r.ms };
  },
  migrate: () => migrateRoundTrip(Number(sizeArg ?? 131_072)),
  round: async () => {
    const n = Number(sizeArg ?? 20_000);
    const t = performance.now();
    for (let i = 0; i < n; i++) await modelRound();
    return { rounds: n, usPerRound: ((performance.now() - t) * 1000) / n };
  },
  'oracle-thp': async () => {
    const driver = await load('examples/amdkfd-style/driver.ts');
    return { usPerRun: await oracleCaseRuns(driver, 1, Number(sizeArg ?? 600), true) };
  },
  fuzz: async () => throughput(await load('examples/amdkfd-style/driver.ts'), Number(sizeArg ?? 1000)),
  'fuzz-thp': () => layoutCampaign(true, Number(sizeArg ?? 200)),
  'fuzz-small': () => layoutCampaign(false, Number(sizeArg ?? 3000)),
  detect: async () => {
    const scan = await scanRuns(await load(caseFile), {
      runs: Number(runsArg ?? 1000),
      seed: Number(seedArg ?? 1),
      shape: expectedShape(caseFile) ?? {},
    });
    return { runs: scan.done, steps: scan.steps, failing: scan.failing };
  },
};
const run = workload === undefined ? undefined : workloads[workload];
if (run === undefined) {
  process.stderr.write(`bench:profile: give a workload: ${Object.keys(workloads).join(', ')}\n`);
  process.exit(2);
}
if (workload === 'fuzz' || workload === 'fuzz-thp' || workload === 'fuzz-small' || workload === 'round' || workload === 'oracle-thp')
  await workloads[workload]?.(); // warm-up: the JIT compiles the workload's code (driver, oracle, model) first
const s = new Session();
s.connect();
await s.post('Profiler.enable');
await s.post('Profiler.setSamplingInterval', { interval: 200 });
await s.post('Profiler.start');
const result = await run();
const { profile } = await s.post('Profiler.stop');
const file = `${workload}.cpuprofile`;
writeFileSync(file, JSON.stringify(profile));
process.stdout.write(`${JSON.stringify(result)}\nwrote ${file}\n`);

const byId = new Map<number, ProfileNode>();
for (const n of profile.nodes as ProfileNode[]) byId.set(n.id, n);
const self = new Map<string, number>();
let total = 0;
const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) {
  const n = byId.get(samples[i] as number);
  if (n === undefined) continue;
  const where = n.callFrame.url.replace(/^.*?\/(packages|examples|bench|test|node_modules)\//, '$1/');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
  const dt = deltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}\n`);
}
