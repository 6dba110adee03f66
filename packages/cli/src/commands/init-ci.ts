/**
 * `hmmlab init --ci [dir]`: writes, under the repository root `dir`, a GitHub Actions workflow
 * (shards as a matrix, a merge job, counterexamples as artifacts) and a Kubernetes Indexed Job
 * example (completion index → `--shard`). Existing files are left alone: a usage error names them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CI_FILES, type CiSettings, githubWorkflow, kubernetesJob } from '../internal/ci-templates.js';
import { prepareOutput } from '../internal/output.js';
import { UsageError } from '../internal/usage.js';

/** Options of `hmmlab init --ci`. */
export interface InitCiOptions {
  shards?: string;
  runs?: string;
  drivers?: string;
}

function int(name: string, v: string | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} ${v}: expected an integer from ${min} to ${max}`);
  return n;
}

/** Writes the files; returns the exit code. */
export function initCiCommand(dir: string, o: InitCiOptions): number {
  // 256: GitHub's limit on the jobs of one matrix.
  const settings: CiSettings = {
    shards: int('shards', o.shards, 1, 256, 4),
    runs: int('runs', o.runs, 1, Number.MAX_SAFE_INTEGER, 20_000),
    drivers: o.drivers ?? '.',
  };
  if (settings.drivers.trim() === '') throw new UsageError('--drivers: expected the driver files or folders to fuzz, e.g. --drivers .');
  const files = [
    [CI_FILES.workflow, githubWorkflow(settings)],
    [CI_FILES.job, kubernetesJob(settings)],
  ] as const;
  const there = files.map(([f]) => join(dir, f)).filter((f) => existsSync(f));
  if (there.length > 0) throw new UsageError(`init --ci: ${there.join(' and ')} exist already; move them away to write new ones`);
  for (const [f] of files) prepareOutput('init --ci:', join(dir, f));
  for (const [f, text] of files) {
    const path = join(dir, f);
    try {
      writeFileSync(path, text);
    } catch (e) {
      throw new UsageError(`init --ci: cannot write ${path} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  process.stdout.write(
    `wrote ${files.map(([f]) => join(dir, f)).join(' and ')}: ${settings.shards} shards of a campaign of ${settings.runs} runs of ${settings.drivers}\n`,
  );
  return 0;
}
