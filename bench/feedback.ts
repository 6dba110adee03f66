/**
 * Coverage feedback against generation alone, in the same numbers of runs (no clock): distinct
 * coverage keys (cells with race window and callback outcome, and race windows) and expected
 * cells reached by correct drivers, and runs to the first violation for known bugs, over seeds,
 * medians. `tsx --conditions=@hmmlab/source bench/feedback.ts [--runs N] [--seeds N] [driver dirs…]`
 * (default: every correct example, and the zoo's bugs that take more than a few runs).
 */
import { coverageUniverse, expectedCells, scanRuns } from '@hmmlab/fuzz';
import { driversUnder, expectedShape, load } from './src/fuzzing.js';
import { median } from './src/measure.js';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const runs = flag('--runs', 1000);
const seeds = flag('--seeds', 5);
const named = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const correct = named.length > 0 ? [] : driversUnder('examples').filter((d) => d.name !== 'buggy' && d.name !== 'dmirror');
const buggy =
  named.length > 0
    ? named.map((d) => ({ name: d, file: `${d}/driver.ts` }))
    : driversUnder('examples/buggy').filter((d) =>
        [
          'a2-owner-without-event',
          'a4-own-migrate-skip-cpu-fault',
          'h2-lock-in-migrate-to-ram',
          'c1-validity-unlocked',
          's16-release-nothing-to-do',
        ].includes(d.name),
      );

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

out(`coverage in ${runs} runs, median of ${seeds} seeds: distinct keys, expected cells reached (without → with feedback)`);
for (const c of correct) {
  const drv = await load(c.file);
  const expected = new Set(expectedCells(await coverageUniverse(drv)));
  const row: Record<string, number[]> = { keysOff: [], keysOn: [], cellsOff: [], cellsOn: [] };
  for (let seed = 1; seed <= seeds; seed++) {
    for (const feedback of [false, true]) {
      const s = await scanRuns(drv, { runs, seed, feedback });
      const cells = Object.keys(s.coverage.cells ?? {});
      const keys = cells.length + Object.keys(s.coverage.windows ?? {}).length;
      const base = new Set(cells.map((k) => k.split('|').slice(0, 5).join('|')));
      const reached = [...expected].filter((e) => base.has(e)).length;
      (row[feedback ? 'keysOn' : 'keysOff'] as number[]).push(keys);
      (row[feedback ? 'cellsOn' : 'cellsOff'] as number[]).push(reached);
    }
  }
  const m = (k: string): number => median(row[k] as number[]);
  out(
    `  ${c.name.padEnd(28)} keys ${m('keysOff')} → ${m('keysOn')}   expected cells ${m('cellsOff')} → ${m('cellsOn')} of ${expected.size}`,
  );
}

out(`runs to the first violation, median of ${seeds} seeds (at most ${runs * 5} runs; without → with feedback)`);
for (const c of buggy) {
  const drv = await load(c.file);
  const shape = expectedShape(c.file) ?? {};
  const off: number[] = [];
  const on: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    for (const feedback of [false, true]) {
      const s = await scanRuns(drv, { runs: runs * 5, seed, feedback, shape });
      (feedback ? on : off).push(s.failing >= 0 ? s.failing + 1 : Number.POSITIVE_INFINITY);
    }
  }
  out(`  ${c.name.padEnd(32)} ${median(off)} → ${median(on)}   (per seed: ${off.join(' ')} → ${on.join(' ')})`);
}
