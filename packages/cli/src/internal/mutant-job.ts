/**
 * Runs in a watched worker (`hmmlab mutate`): fuzzes one mutant, loaded from its own copy of the
 * driver's files, so that one worker serves many mutants without reloading hmmlab's packages.
 */
import { Kernel } from '@hmmlab/core';
import { type CampaignOptions, runCampaign } from '@hmmlab/fuzz';
import { loadDriver } from '@hmmlab/harness';

/** What one mutant's campaign found. */
export type MutantRun =
  | { readonly kind: 'pass' }
  | { readonly kind: 'fail'; readonly rule: string; readonly run: number; readonly token: string }
  | { readonly kind: 'load-error'; readonly message: string };

/** The job: loads and probes the driver module `file`, then runs the campaign of `options` in this thread. */
export async function mutantJob(a: { file: string; options: CampaignOptions }): Promise<MutantRun> {
  let driver: Awaited<ReturnType<typeof loadDriver>>;
  try {
    driver = await loadDriver(a.file);
    await driver.probe(new Kernel({ trace: 'none' }));
  } catch (e) {
    return { kind: 'load-error', message: e instanceof Error ? e.message : String(e) };
  }
  const r = await runCampaign(driver, a.options);
  const f = r.failure;
  return f === null ? { kind: 'pass' } : { kind: 'fail', rule: f.violation.rule, run: f.runIndex, token: f.token };
}
