import { HostPool } from '@hmmlab/fuzz';
import { afterEach, describe, expect, it } from 'vitest';
import { runWatchedJob } from './runtime.js';

// The command job is this package's TypeScript source: its workers import it with tsx's loader.
const watch = { loader: import.meta.resolve('tsx/esm/api'), runs: 1 };
const fixture = new URL('./runtime-jobs.test-fixture.mjs', import.meta.url).href;
const job = (fn: string) => ({ module: fixture, fn, args: [] });

const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('runWatchedJob', () => {
  it('should run the jobs of one command in one host given hosts, and in a host each without', async () => {
    const hosts = new HostPool();
    pools.push(hosts);
    const a = await runWatchedJob(job('pid'), watch, undefined, hosts);
    const b = await runWatchedJob(job('pid'), watch, undefined, hosts);
    expect(a).toEqual({ exitCode: 0, stdout: b.stdout });
    expect(hosts.started).toBe(1);
    const c = await runWatchedJob(job('pid'), watch, undefined);
    const d = await runWatchedJob(job('pid'), watch, undefined);
    expect(c.stdout).not.toBe(d.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  });

  it('should not use the host of a job that threw again', async () => {
    const hosts = new HostPool();
    pools.push(hosts);
    const a = await runWatchedJob(job('pid'), watch, undefined, hosts);
    await expect(runWatchedJob(job('fails'), watch, undefined, hosts)).rejects.toThrow(/this command fails/);
    const b = await runWatchedJob(job('pid'), watch, undefined, hosts);
    expect(b.stdout).not.toBe(a.stdout);
    expect(hosts.started).toBe(2);
  });
});
