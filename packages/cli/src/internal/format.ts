/**
 * Text output of the CLI: a counterexample as a person reads it, campaign summaries and tables.
 */
import { formatViolation } from '@hmmlab/assertions';
import type { CampaignResult } from '@hmmlab/fuzz';
import { describeDeviceMemory, describeOp, EXIT_AT_END_TEXT, type Scenario } from '@hmmlab/harness';

/** A scenario as lines: the layout, then each program's ops. */
export function formatScenario(s: Scenario): string[] {
  const lines = [`profile ${s.profile ?? 'latest'}, ${s.wordsPerPage ?? 4} words per page`];
  for (const [i, r] of s.regions.entries()) {
    const populated = r.populate && r.populate !== 'none' ? `, populated by ${r.populate}` : '';
    lines.push(
      `region ${i}: ${r.pages} page(s) ${r.prot} ${r.share} ${r.backing}${populated}${r.thp === true ? ', THP (MADV_HUGEPAGE, PMD-aligned)' : ''}`,
    );
  }
  if (s.deviceMemory !== undefined) lines.push(describeDeviceMemory(s.deviceMemory));
  for (const [i, t] of s.tasks.entries()) lines.push(`${t.kind} task ${i}: ${t.ops.map(describeOp).join('; ')}`);
  if (s.exitAtEnd === true) lines.push(EXIT_AT_END_TEXT);
  return lines;
}

/** `1.2 s` / `340 ms`. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** What a campaign did with its corpus, as one line. */
function formatCorpus(r: CampaignResult): string {
  const c = r.corpus;
  const steer = `${c.mutants} run(s) mutated corpus entries, ${c.kept.length} reached new coverage`;
  if (r.store === undefined) return `not kept (--no-corpus); ${steer}`;
  const s = r.store;
  const skipped = s.skipped > 0 ? `, ${s.skipped} file(s) skipped` : '';
  return `${s.dir}: ${s.loaded} entr${s.loaded === 1 ? 'y' : 'ies'} loaded (${c.replayed} replayed)${skipped}, ${s.added} added; ${steer}`;
}

/** The summary of one campaign, and its counterexample if any. */
export function formatCampaign(r: CampaignResult, file: string): string {
  const out: string[] = [];
  const f = r.flushes.total;
  out.push(`driver    ${r.driver} (${file})`);
  const how = `${formatMs(r.elapsedMs)}, seed ${r.seed}, strategy ${r.strategy}`;
  out.push(
    r.failure === null
      ? r.verdict === 'pass'
        ? `verdict   pass: no violation in ${r.runs} runs (${how})`
        : `verdict   fail: no violation in ${r.runs} runs, but required race windows were never reached: ${r.requiredWindowsMissing.join(', ')} (${how})`
      : `verdict   fail: ${r.failure.violation.rule} in run ${r.failure.runIndex} of seed ${r.seed} (${formatMs(r.elapsedMs)}, strategy ${r.strategy})`,
  );
  out.push(
    `flushes   needed ${f.needed}, performed ${f.performed}, missed ${f.missed}, unnecessary ${f.unnecessary}, legal skips ${f.legalSkips}`,
  );
  const c = r.coverageSummary;
  const windows = Object.keys(r.coverage.windows).length;
  out.push(
    `coverage  ${c.reached} of ${c.expected} expected cells reached (${c.distinct} distinct with race window and callback outcome), ${windows} race window(s)`,
  );
  if (r.missingWindows.length > 0) out.push(`          race windows never reached: ${r.missingWindows.join(', ')}`);
  if (c.unreached.length > 0 && r.failure === null) {
    out.push(`          unreached expected cells (${r.missingCells.length}), by event, owner, blockable, device state: page kinds`);
    const shown = c.unreached.slice(0, 6);
    for (const u of shown) out.push(`            ${u}`);
    if (c.unreached.length > shown.length) out.push(`            … ${c.unreached.length - shown.length} more (--json lists every cell)`);
  }
  for (const n of c.notes) out.push(`          note: ${n}`);
  out.push(`corpus    ${formatCorpus(r)}`);
  if (r.failure !== null) {
    const x = r.failure;
    out.push('');
    out.push(formatViolation(x.violation));
    out.push('');
    out.push(`counterexample (shrunk from ${x.shrunk.opsBefore} to ${x.shrunk.opsAfter} ops in ${x.shrunk.attempts} attempts):`);
    for (const l of formatScenario(x.scenario)) out.push(`  ${l}`);
    out.push('');
    out.push(`replay: hmmlab replay ${file} ${x.token}`);
  }
  return out.join('\n');
}

/** A plain text table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
