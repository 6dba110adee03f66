/**
 * The young generation of a campaign's thread: two worker threads of this process, one with V8's
 * default young generation and one with the size `hmmlab fuzz` gives its campaign threads
 * (`YOUNG_GENERATION_MB`), run the same campaigns of a driver in turn, the order alternating from
 * round to round, so that the machine's speed changes meet both alike. Worker threads do not
 * inherit this process's loader: each registers tsx, then loads the packages as this process
 * resolves them (their sources, under the bench's export condition) and the driver.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { median } from './measure.js';

/** V8's young generation by default on 64-bit machines: three 16 MB semi-spaces. */
const DEFAULT_YOUNG_MB = 48;

/** One layout's figures. */
export interface NurseryFigures {
  readonly runsPerRound: number;
  readonly rounds: number;
  /** Median µs a run with the default young generation, and with the campaign thread's. */
  readonly defaultUs: number;
  readonly campaignUs: number;
  /** Median of the rounds' own ratios (default over campaign thread's: above 1, the larger one is faster), and their range. */
  readonly ratio: number;
  readonly range: readonly [number, number];
}

/** The figures by layout, and the young generations compared. */
export interface Nursery {
  readonly driver: string;
  readonly defaultMb: number;
  readonly campaignMb: number;
  readonly thpOnly: NurseryFigures;
  readonly defaultMix: NurseryFigures;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsx)).register();
  const { scanRuns } = await import(workerData.fuzz);
  const { loadDriver } = await import(workerData.harness);
  const driver = await loadDriver(workerData.file);
  parentPort.on('message', async (m) => {
    const t = performance.now();
    const s = await scanRuns(driver, { runs: m.runs, seed: m.seed, shape: m.shape });
    parentPort.postMessage(((performance.now() - t) * 1000) / s.done);
  });
  parentPort.postMessage(0);
})();`;

function next(w: Worker): Promise<number> {
  return new Promise((resolve) => w.once('message', resolve));
}

async function layout(
  ws: readonly [Worker, Worker],
  shape: object,
  runsPerRound: number,
  rounds: number,
  warmups: number,
): Promise<NurseryFigures> {
  const us: [number[], number[]] = [[], []];
  for (let r = -warmups; r < rounds; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const w = ws[i] as Worker;
      const done = next(w);
      w.postMessage({ runs: runsPerRound, seed: r + 100, shape });
      const t = await done;
      if (r >= 0) us[i]?.push(t);
    }
  }
  const ratios = us[0].map((x, i) => x / (us[1][i] as number)).sort((a, b) => a - b);
  return {
    runsPerRound,
    rounds,
    defaultUs: Math.round(median(us[0])),
    campaignUs: Math.round(median(us[1])),
    ratio: Number(median(ratios).toFixed(3)),
    range: [Number((ratios[0] as number).toFixed(2)), Number((ratios[ratios.length - 1] as number).toFixed(2))],
  };
}

/**
 * THP layouts only and the default mix of `file`'s campaigns, `rounds` rounds each, measured in a
 * child process of V8's default flags: a `--max-semi-space-size` of the process (as `pnpm bench`
 * has, to run its own campaigns as a campaign thread does) sets every isolate's young generation
 * over what a worker's `resourceLimits` ask.
 */
export function nursery(file: string, campaignMb: number, rounds: number, scale = 1): Nursery {
  const r = spawnSync(
    process.execPath,
    [
      '--conditions=@hmmlab/source',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      file,
      String(campaignMb),
      String(rounds),
      String(scale),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0)
    throw new Error(`bench: the young-generation child exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0]}`);
  return JSON.parse(r.stdout) as Nursery;
}

/** {@link nursery}'s measurement, in this process: a fresh pair of workers for each layout. */
async function measure(file: string, campaignMb: number, rounds: number, scale: number): Promise<Nursery> {
  const workerData = {
    fuzz: import.meta.resolve('@hmmlab/fuzz'),
    harness: import.meta.resolve('@hmmlab/harness'),
    tsx: import.meta.resolve('tsx/esm/api'),
    file,
  };
  const make = (mb: number): Worker => {
    const w = new Worker(WORKER, { eval: true, workerData, resourceLimits: { maxYoungGenerationSizeMb: mb } });
    w.on('error', (e) => {
      process.stderr.write(`bench: a young-generation worker failed: ${e.message}\n`);
      process.exit(1);
    });
    return w;
  };
  const pair = async (shape: object, runsPerRound: number): Promise<NurseryFigures> => {
    const ws = [make(DEFAULT_YOUNG_MB), make(campaignMb)] as const;
    try {
      await Promise.all(ws.map(next));
      return await layout(ws, shape, runsPerRound, rounds, 3);
    } finally {
      for (const w of ws) await w.terminate();
    }
  };
  const defaultMix = await pair({}, Math.max(50, Math.round(1000 * scale)));
  const thpOnly = await pair({ thp: true }, Math.max(20, Math.round(200 * scale)));
  return {
    driver: file.replace(/^.*examples\//, '').replace(/\/driver\.ts$/, ''),
    defaultMb: DEFAULT_YOUNG_MB,
    campaignMb,
    thpOnly,
    defaultMix,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, mb, rounds, scale] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(await measure(file as string, Number(mb), Number(rounds), Number(scale))));
}
