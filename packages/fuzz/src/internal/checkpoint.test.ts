import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CampaignResult } from './campaign.js';
import { CheckpointError } from './checkpoint.js';
import { type ParallelOptions, runParallelCampaign } from './parallel.js';

// The workers run hmmlab's TypeScript sources, as the CLI's do: with tsx's loader.
const loader = import.meta.resolve('tsx/esm/api');
const driver = fileURLToPath(new URL('./test-flushed.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hmmlab-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A campaign of seven epochs of 50 runs, with coverage feedback: later epochs mutate the corpus
// the earlier ones kept, which the checkpoint must carry over.
const campaign: ParallelOptions = { runs: 350, seed: 3, workers: 1, loader };

/** What must not change when a campaign is interrupted and resumed. */
function outcome(r: CampaignResult) {
  return {
    verdict: r.verdict,
    runs: r.runs,
    steps: r.steps,
    failure: r.failure?.token ?? null,
    coverage: r.coverage,
    flushes: r.flushes,
    missingCells: r.missingCells,
    corpus: { replayed: r.corpus.replayed, mutants: r.corpus.mutants, kept: r.corpus.kept },
  };
}

describe('runParallelCampaign with a checkpoint', () => {
  it('should end, after an interruption and a resume, with the result of the uninterrupted campaign', async () => {
    const whole = await runParallelCampaign(driver, campaign);
    const file = join(dir, 'c.json');
    const stop = new AbortController();
    const cut = await runParallelCampaign(driver, {
      ...campaign,
      checkpoint: file,
      signal: stop.signal,
      onProgress: (done) => {
        if (done >= 120) stop.abort(new Error('stop'));
      },
    }).catch((e: unknown) => e);
    expect(cut).toEqual(new Error('stop'));
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { next: number; total: { done: number } };
    expect(saved.next).toBeGreaterThanOrEqual(100);
    expect(saved.next).toBeLessThan(350);
    const resumed = await runParallelCampaign(driver, { ...campaign, checkpoint: file });
    expect(resumed.resumed).toEqual({ runs: saved.total.done, from: file });
    expect(outcome(resumed)).toEqual(outcome(whole));
    expect(whole.corpus.mutants).toBeGreaterThan(0);
    // The finished campaign's checkpoint holds every epoch: resuming it again only finishes.
    const again = await runParallelCampaign(driver, { ...campaign, checkpoint: file });
    expect(again.resumed?.runs).toBe(350);
    expect(outcome(again)).toEqual(outcome(whole));
  });

  // The checkpoint of a finished 100-run campaign, made once for the tests below.
  let intact: Promise<string> | null = null;
  const checkpointText = (): Promise<string> => {
    intact ??= (async () => {
      const file = join(dir, 'intact.json');
      await runParallelCampaign(driver, { ...campaign, runs: 100, checkpoint: file });
      return readFileSync(file, 'utf8');
    })();
    return intact;
  };

  it("should refuse another campaign's checkpoint", async () => {
    const file = join(dir, 'd.json');
    writeFileSync(file, await checkpointText());
    const e = await runParallelCampaign(driver, { ...campaign, runs: 100, seed: 4, checkpoint: file }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toBe(
      `checkpoint ${file} is of another campaign (another driver, seed, runs, option or corpus); delete it, or give another file`,
    );
  });

  /** The parts of a checkpoint file the damages below touch. */
  type Body = { next: number; total: Record<string, unknown>; pool: unknown[] };
  it.each<[string, (c: Body) => void, RegExp]>([
    [
      'a coverage of null',
      (c) => {
        c.total.coverage = null;
      },
      /"total\.coverage" is not cells and windows with counts/,
    ],
    [
      'a count that is a string',
      (c) => {
        c.total.done = 'abc';
      },
      /"total\.done" is not a count/,
    ],
    [
      'a pool entry without its scenario',
      (c) => {
        c.pool[0] = { keys: [] };
      },
      /pool entry 0 has no scenario/,
    ],
    [
      'a negative next run',
      (c) => {
        c.next = -50;
      },
      /"next" is not a run index/,
    ],
  ])('should refuse a damaged checkpoint of its own campaign (%s), not resume it', async (_what, damage, why) => {
    const file = join(dir, 'e.json');
    const c = JSON.parse(await checkpointText()) as Body;
    expect(c.pool.length).toBeGreaterThan(0);
    damage(c);
    writeFileSync(file, JSON.stringify(c));
    const e = await runParallelCampaign(driver, { ...campaign, runs: 100, checkpoint: file }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toMatch(why);
    expect((e as Error).message).toMatch(/damaged .*; delete it to start the campaign afresh$/);
  });
});
