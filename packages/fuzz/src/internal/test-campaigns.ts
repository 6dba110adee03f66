/**
 * What the fuzz package's specs of campaigns in watched workers share: the driver modules they
 * fuzz, the loader the workers import them with, and a campaign's findings without its times.
 */
import { fileURLToPath } from 'node:url';
import type { CampaignResult } from './campaign.js';

/** The workers run hmmlab's TypeScript sources, as the CLI's do: with tsx's loader. */
export const loader = import.meta.resolve('tsx/esm/api');
/** The mirror that flushes (test-mirror.ts): it passes. */
export const flushed = fileURLToPath(new URL('./test-flushed.ts', import.meta.url));
/** The mirror that does not flush: it fails. */
export const unflushed = fileURLToPath(new URL('./test-unflushed.ts', import.meta.url));
/** The flushing mirror whose callback hangs on a soft-dirty invalidation (test-hang-late.ts). */
export const hangsLate = fileURLToPath(new URL('./test-hang-late.ts', import.meta.url));

/** What a campaign found, without its times. */
export function outcome(r: CampaignResult) {
  return {
    verdict: r.verdict,
    runs: r.runs,
    steps: r.steps,
    failingRun: r.failure?.runIndex ?? null,
    failure: r.failure?.token ?? null,
    rule: r.failure?.violation.rule ?? null,
    coverage: r.coverage,
    flushes: r.flushes,
    corpus: { replayed: r.corpus.replayed, mutants: r.corpus.mutants, kept: r.corpus.kept },
  };
}
