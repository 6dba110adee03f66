/**
 * The layout of a watched worker's heartbeat: the shared memory the watched thread writes
 * (heartbeat.ts) and the watching thread reads (watched-thread.ts). A module of its own, so that
 * the watching side loads nothing of the model.
 */

/** Layout of the shared Int32Array. */
export const SLOT = {
  /** Bumped at every run start and scheduler decision. */
  beat: 0,
  /** Index of the campaign run in progress, or -1. */
  run: 1,
  /** Number of decisions recorded for that run; -1 when they overflowed the buffer. */
  count: 2,
  /** The scheduler step of the last decision. */
  step: 3,
  /** 0 while modules load, 1 once the job has loaded them (probing), 2 once a kernel runs, 3 while scenarios are drawn. */
  phase: 4,
  /** Where the decisions start. */
  decisions: 5,
} as const;

/** Decisions one run may record: enough for a replay's step limit (200 000 steps). */
export const DECISION_CAPACITY = 1 << 18;

/**
 * Campaigns of at most this many runs start their host without TurboFan (watchdog.ts), and longer
 * ones that come to such a host turn it on (heartbeat.ts). Without it, 300 runs of amdkfd-style in
 * a fresh host took about a quarter less CPU and no longer, 1,000 runs less CPU but longer
 * (docs/performance.md, "TurboFan in a host").
 */
export const SHORT_CAMPAIGN_RUNS = 500;
