/**
 * Writing a counterexample's HTML timeline: replay the token's run exactly, with the whole trace,
 * and render it with `renderTimelineHtml`.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderTimelineHtml } from '@hmmlab/assertions';
import { type CampaignResult, decodeToken, type ReplayData, type TokenReplay, WorkerStallError } from '@hmmlab/fuzz';
import type { DriverTarget } from './drivers.js';
import { prepareOutput } from './output.js';
import { UsageError } from './usage.js';

/** Decodes a replay token, turning its error into a usage error. */
export function tokenData(token: string): ReplayData {
  try {
    return decodeToken(token);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** Writes the timeline of a replayed token's run to `out`. */
export function writeTimeline(replayed: TokenReplay, driver: string, token: string, out: string): void {
  const { run: r, data } = replayed;
  const k = r.result.world.kernel;
  const html = renderTimelineHtml({
    violations: r.violations,
    events: k.trace.events(),
    scenario: data.scenario,
    tasks: k.sched.allTasks(),
    devices: r.result.world.devices.map((d) => ({
      name: d.name,
      pageSize: d.pageSize,
      vms: d.vms.map((vm) => ({ id: vm.id, mm: vm.mm.id })),
    })),
    driver,
    token,
    run: { status: r.run.status, message: r.run.message },
  });
  const file = resolve(out);
  prepareOutput('--html', out);
  try {
    writeFileSync(file, html);
  } catch (e) {
    throw new UsageError(`--html ${out}: cannot write it (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** A fuzzed driver as `hmmlab fuzz` saw it. */
interface FuzzedDriver {
  readonly target: DriverTarget;
  readonly result: CampaignResult;
  readonly status: string;
}

/**
 * `hmmlab fuzz --html`: writes the timeline of the counterexample found (the first driver not as
 * expected, else the first with a counterexample) and says so on stderr.
 */
export async function writeCampaignTimeline(
  outcomes: readonly FuzzedDriver[],
  out: string,
  write: (file: string, token: string) => Promise<void>,
): Promise<void> {
  const found = outcomes.filter((x) => x.result.failure !== null);
  const pick = found.find((x) => x.status !== 'caught') ?? found[0];
  if (pick === undefined || pick.result.failure === null) {
    process.stderr.write(`hmmlab: no counterexample, so no timeline was written to ${out}\n`);
    return;
  }
  try {
    await write(pick.target.file, pick.result.failure.token);
  } catch (e) {
    if (!(e instanceof WorkerStallError)) throw e;
    process.stderr.write(`hmmlab: no timeline of ${pick.target.label}: its run does not finish (${e.message})\n`);
    return;
  }
  const others =
    found.length > 1 ? `; ${found.length - 1} other driver(s) have counterexamples too (hmmlab report <driver> <token> --html <file>)` : '';
  process.stderr.write(`hmmlab: timeline of ${pick.target.label} written to ${out}${others}\n`);
}
