/** The parts of `fuzzDriver` (../vitest.ts) that do not need vitest: seed, runs, and the property. */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatViolation } from '@hmmlab/assertions';
import type { DriverDefinition } from '@hmmlab/harness';
import { type CampaignOptions, runInputs, runSample } from './campaign.js';
import { recordToken } from './replay.js';

/** The seed of a `fuzzDriver` test when neither `HMMLAB_SEED` nor the `seed` option sets one. */
export const DEFAULT_FUZZ_SEED = 1;

function integerFromEnv(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name}=${value}: expected an integer ${min === 0 ? '≥ 0' : '≥ 1'}`);
  return n;
}

/** The seed: `HMMLAB_SEED` (`env`) if set, else the `seed` option, else {@link DEFAULT_FUZZ_SEED}. */
export function fuzzSeed(option: number | undefined, env: string | undefined): number {
  return integerFromEnv('HMMLAB_SEED', env, 0) ?? option ?? DEFAULT_FUZZ_SEED;
}

/** The number of runs: `HMMLAB_FUZZ_RUNS` (`env`) if set, else the `runs` option, else 200. */
export function fuzzRuns(option: number | undefined, env: string | undefined): number {
  return integerFromEnv('HMMLAB_FUZZ_RUNS', env, 1) ?? option ?? 200;
}

/**
 * `path` if the module there has a default export (what `hmmlab replay` loads), else undefined:
 * a driver built by a factory in a test file has no module the command line could load.
 */
export function defaultExporting(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return /^\s*export\s+default\b|\bas\s+default\b/m.test(text) ? path : undefined;
}

/** The command that replays `token`, naming the driver module relative to `cwd` when under it. */
export function replayCommand(module: string | URL | undefined, token: string, cwd: string): string {
  if (module === undefined) return `hmmlab replay <driver module> ${token}  (pass fuzzDriver's \`module\` option to name it here)`;
  const abs = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
  const rel = relative(cwd, abs);
  const shown = rel === '' || rel.startsWith('..') ? abs : rel;
  return `hmmlab replay ${/^[\w./@+-]+$/.test(shown) ? shown : `'${shown.replaceAll("'", "'\\''")}'`} ${token}`;
}

type Sample = Parameters<typeof runSample>[1];

/**
 * The property a `fuzzDriver` test checks on each sample: the run passes the oracle. A violation
 * throws its report, the seed and the replay command of the run.
 */
export function checkSample(
  driver: DriverDefinition,
  options: CampaignOptions & { readonly seed: number },
  where: { readonly module: string | URL | undefined; readonly cwd: string },
): (sample: Sample) => Promise<void> {
  return async (sample) => {
    const r = await runSample(driver, sample, options);
    if (r.verdict === 'pass') return;
    const { violation, token } = await recordToken(driver, sample[0], r.run.decisions, runInputs(options, sample[0]));
    throw new Error(
      `${formatViolation(violation)}\n\nseed: ${options.seed} (HMMLAB_SEED=${options.seed} draws the same samples)\nreplay: ${replayCommand(where.module, token, where.cwd)}`,
    );
  };
}
