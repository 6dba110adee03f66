/**
 * `hmmlab report <driver> <token> --html <file>`: replays a counterexample exactly and writes its
 * timeline as one self-contained HTML page. Exit 1: the run reached the recorded violation (the
 * page is written); 3: it diverged (nothing is written; one line on stderr says how); 2: bad usage.
 */
import { prepareOutput } from '../internal/output.js';
import { reportJson } from '../internal/result-json.js';
import { writeTimeline } from '../internal/timeline.js';
import { UsageError } from '../internal/usage.js';
import { exitOf, replayTarget } from './replay.js';

/** Options of `hmmlab report`. */
export interface ReportCommandOptions {
  /** Where to write the HTML timeline. */
  html?: string;
  /** `--json`: print the report as JSON. */
  json?: boolean;
}

/** Runs the command; returns the exit code. */
export async function reportCommand(driverPath: string, token: string, o: ReportCommandOptions): Promise<number> {
  if (o.html === undefined || o.html === '') throw new UsageError('report: say where to write the timeline with --html <file>');
  prepareOutput('--html', o.html);
  const x = await replayTarget(driverPath, token);
  const written = x.replayed.divergence === null;
  if (written) writeTimeline(x.replayed, x.driver, x.token, o.html);
  if (o.json === true) {
    process.stdout.write(reportJson(x, written ? o.html : null));
  } else if (written) {
    const r = x.replayed.run;
    const first = r.violations[0];
    process.stdout.write(
      `${first === undefined ? 'no violation' : `${first.rule} at step ${first.step}${r.violations.length > 1 ? ` (and ${r.violations.length - 1} more)` : ''}`}; timeline written to ${o.html}\n`,
    );
  }
  return exitOf(x);
}
