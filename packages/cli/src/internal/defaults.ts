/** Defaults shared by the commands and their option help (a module light enough for `hmmlab --help`). */

/**
 * Runs of a default campaign, per driver (`fuzz`) and per mutant (`mutate`). Races that need three
 * operations to meet (a migration, an invalidation of the same pages from another task, and a
 * schedule that puts the invalidation inside the migration) first show after 2,000 to 9,200 runs in
 * the templates' mutants (docs/mutation); at 1,000 to 2,000 runs/s a correct driver's 10,000 runs
 * take 5 to 15 s.
 */
export const DEFAULT_RUNS = 10_000;

/**
 * The corpus folder of `hmmlab fuzz` and `hmmlab test --corpus` unless told otherwise:
 * $HMMLAB_CORPUS, else .hmmlab/corpus; null when $HMMLAB_CORPUS is `off`.
 */
export function defaultCorpus(): string | null {
  const env = process.env.HMMLAB_CORPUS;
  if (env === 'off') return null;
  return env !== undefined && env !== '' ? env : '.hmmlab/corpus';
}
