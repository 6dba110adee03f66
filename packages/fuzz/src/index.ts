/**
 * @hmmlab/fuzz: fast-check arbitraries for scenarios and schedules, schedule strategies (PCT,
 * random walk, bounded exhaustive search), campaigns with shrinking and replay tokens, coverage of
 * race windows, and parallel campaigns over worker threads.
 *
 * @module @hmmlab/fuzz
 */

export {
  checkScenarioShape,
  cpuOpArb,
  deviceOpArb,
  driverOpArb,
  kernelOpArb,
  profileArb,
  regionArb,
  type ScenarioShape,
  scenarioArb,
} from './internal/arbitraries.js';
export {
  type CampaignOptions,
  CampaignOptionsError,
  type CampaignResult,
  type Counterexample,
  checkCampaignOptions,
  counterexample,
  coverageUniverse,
  MAX_SEED,
  type RunProgress,
  replay,
  runArb,
  runCampaign,
  runInputs,
  runSample,
  runSeed,
  type Scan,
  scanRuns,
} from './internal/campaign.js';
export { CheckpointError } from './internal/checkpoint.js';
export { type CoverageUniverse, coverageNotes, expectedCells, mergeCoverage, mergeFlushes, WINDOWS } from './internal/coverage.js';
export { defaultMaxSteps, type ExploreOptions, type ExploreResult, exploreSchedules } from './internal/explore.js';
export { HostPool } from './internal/host-pool.js';
export { loadProbedDriver, stallViolation } from './internal/jobs.js';
export { type ParallelOptions, runParallelCampaign } from './internal/parallel.js';
export {
  type RunInputs,
  recordToken,
  replayToken,
  type StrictDecisions,
  strictDecisions,
  type TokenReplay,
  traceFingerprint,
  UNFINISHED_FINGERPRINT,
} from './internal/replay.js';
export {
  PCT_STARVATION_BOUND,
  pctDecisions,
  pctScheduleArb,
  randomScheduleArb,
  type Schedule,
  type ScheduleShape,
  STRATEGIES,
  type StrategyName,
  scheduleArb,
  scheduleDecisions,
} from './internal/schedule.js';
export { type Shard, shardRuns } from './internal/shard.js';
export {
  decodeToken,
  encodeToken,
  HMMLAB_VERSION,
  type ReplayData,
  type TokenExpectation,
  type TokenInput,
  type TokenOracle,
} from './internal/token.js';
export { type Stall, WatchedWorker, type WatchOptions, WorkerJobError, WorkerStallError } from './internal/watchdog.js';
