/**
 * `renderTimelineHtml`: a counterexample as one self-contained HTML page (inline CSS and script,
 * no network, no external assets) that a reviewer opens offline or attaches to a bug report.
 */
import { HmmlabError, hex } from '@hmmlab/core';
import { describeDeviceMemory, describeOp, EXIT_AT_END_TEXT, type Scenario } from '@hmmlab/harness';
import { formatViolation, type Violation } from '../report.js';
import { RULES } from '../rules.js';
import { TIMELINE_SCRIPT } from './client-script.js';
import { escapeHtml as h, jsonForScript } from './escape.js';
import { TIMELINE_CSS } from './style.js';
import { buildTimelineModel, type TimelineInput } from './timeline-model.js';

/** The scenario as lines: layout, then each program's ops. */
function scenarioLines(s: Scenario): string[] {
  const lines = [`profile ${s.profile ?? 'latest'}, page size ${s.pageSize ?? 4096}, ${s.wordsPerPage ?? 4} words per page`];
  s.regions.forEach((r, i) => {
    const populated = r.populate !== undefined && r.populate !== 'none' ? `, populated by ${r.populate}` : '';
    lines.push(
      `region ${i}: ${r.pages} page(s) ${r.prot} ${r.share} ${r.backing}${populated}${r.thp === true ? ', THP (MADV_HUGEPAGE, PMD-aligned)' : ''}`,
    );
  });
  if (s.deviceMemory !== undefined) lines.push(describeDeviceMemory(s.deviceMemory));
  s.tasks.forEach((t, i) => {
    lines.push(`${t.kind} task ${i}${t.name !== undefined ? ` (${t.name})` : ''}: ${t.ops.map(describeOp).join('; ')}`);
  });
  if (s.exitAtEnd === true) lines.push(EXIT_AT_END_TEXT);
  return lines;
}

function violationHtml(v: Violation, index: number): string {
  const where: string[] = [`step ${v.step}`, `task ${v.task}`];
  if (v.mm !== null) where.push(`mm ${v.mm}`);
  if (v.va !== null) where.push(`va ${hex(v.va)}`);
  if (v.page !== null) where.push(`page pfn ${v.page.pfn} (${v.page.kind})`);
  if (v.device !== null) where.push(`device ${v.device}`);
  const rows: [string, string][] = [['at', where.join(', ')]];
  if (v.context !== null) rows.push(['in', v.context]);
  const inv = v.invalidation;
  if (inv !== null) {
    rows.push([
      'invalidation',
      `#${inv.id} ${inv.event} [${hex(inv.start)}, ${hex(inv.end)}) owner=${inv.owner}${inv.ownOwner ? " (the device's own)" : ''} ${inv.blockable ? 'blockable' : 'non-blockable'}`,
    ]);
  }
  if (v.callbacks.length > 0) {
    const cbs = v.callbacks.map((c) => {
      const did = [
        c.setSeq ? 'set_seq' : 'no set_seq',
        c.cleared.length > 0 ? `cleared ${c.cleared.join(', ')}` : 'cleared nothing',
        c.flushes.length > 0 ? `flushed ${c.flushes.join(', ')}` : 'no flush',
      ];
      return `${c.sub} ${c.op} → ${c.result}: ${did.join('; ')}`;
    });
    rows.push(['callbacks', cbs.join('\n')]);
  }
  if (v.translations.length > 0) {
    const ts = v.translations.map((t) => `${t.device} vm ${t.vm} ${t.source}${t.va !== null ? ` ${hex(t.va)}` : ''} → ${t.entry}`);
    rows.push(['still reachable', ts.join('\n')]);
  }
  const dl = rows.map(([k, val]) => `<dt>${h(k)}</dt><dd><div>${h(val)}</div></dd>`).join('');
  return `<article class="violation" id="violation-${index}" data-rule="${h(v.rule)}" data-seq="${v.seq}" data-step="${v.step}">
<h2><span class="rule-id">${h(v.rule)}</span> at <a class="goto" href="#timeline" data-goto="${v.seq}">step ${v.step}</a></h2>
<p class="explanation">${h(v.explanation)}</p>
<p class="holds">Rule: ${h(RULES[v.rule].holds)}</p>
<dl>${dl}</dl>
</article>`;
}

function violationsHtml(vs: readonly Violation[]): string {
  const [first, ...rest] = vs;
  if (first === undefined) return '<p class="empty">No violation: every rule held in this run.</p>';
  if (rest.length === 0) return violationHtml(first, 0);
  const count = new Map<string, number>();
  for (const v of rest) count.set(v.rule, (count.get(v.rule) ?? 0) + 1);
  const summary = [...count].map(([rule, n]) => `${rule} ×${n}`).join(', ');
  return `${violationHtml(first, 0)}
<details class="more"><summary>${rest.length} more violation(s) in this run: ${h(summary)}</summary>
${rest.map((v, i) => violationHtml(v, i + 1)).join('\n')}
</details>`;
}

const LEGEND: readonly [string, string][] = [
  ['cat-inv', 'invalidation'],
  ['cat-callback', 'notifier callback'],
  ['cat-cpu', 'CPU PTE'],
  ['cat-access', 'access'],
  ['cat-device', 'device PTE / fault / DMA'],
  ['cat-tlb', 'device TLB'],
  ['cat-page', 'page alloc / free / copy'],
  ['cat-lock', 'lock'],
  ['cat-task', 'task'],
  ['cat-warn', 'warning'],
];

function checkInput(input: TimelineInput): void {
  const bad = (what: string): never => {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `renderTimelineHtml: ${what}`);
  };
  if (typeof input !== 'object' || input === null) bad('expected { violations, events, scenario }');
  if (!Array.isArray(input.violations)) bad('violations must be an array (pass [] for a run without violations)');
  if (!Array.isArray(input.events)) {
    bad('events must be an array of trace events; keep the whole trace with trace: "all" and pass kernel.trace.events()');
  }
  if (typeof input.scenario !== 'object' || input.scenario === null || !Array.isArray(input.scenario.tasks)) {
    bad('scenario must be the Scenario that ran');
  }
}

/**
 * Renders a run as a self-contained HTML timeline: one lane per task over the run's steps,
 * invalidations as spans, the violating page's CPU entry and each device's TLB, page-table and
 * DMA state over time, and each violation marked at its step with its rule and explanation.
 * Hovering or clicking an event shows its full text. The page needs no network.
 *
 * @param input - the violations, the whole trace (`trace: 'all'`), the scenario, and optionally
 *   task names, device VMs, the driver's name, the replay token and how the run ended.
 * @returns the HTML document as a string; write it to a `.html` file.
 */
export function renderTimelineHtml(input: TimelineInput): string {
  checkInput(input);
  const model = buildTimelineModel(input);
  const first = input.violations[0];
  const title = input.title ?? (first === undefined ? 'no violation' : `${first.rule} at step ${first.step}`);
  const meta: string[] = [];
  if (input.driver !== undefined) meta.push(`driver <b>${h(input.driver)}</b>`);
  meta.push(`profile ${h(input.scenario.profile ?? 'latest')}`);
  meta.push(`${input.events.length} trace events, ${model.cols} shown`);
  if (input.run !== undefined) meta.push(`run ${h(input.run.status)}`);
  const violations = violationsHtml(input.violations);
  const legend = LEGEND.map(([cls, label]) => `<span><i class="${cls}"></i>${h(label)}</span>`).join('');
  const text = input.violations.map(formatViolation).join('\n\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hmmlab">
<title>hmmlab: ${h(title)}${input.driver !== undefined ? ` (${h(input.driver)})` : ''}</title>
<style>${TIMELINE_CSS}</style>
</head>
<body>
<header>
<h1>hmmlab counterexample: ${h(title)}</h1>
<p class="meta">${meta.join(' · ')}</p>
${input.run !== undefined && input.run.message !== '' ? `<p class="meta">${h(input.run.message)}</p>` : ''}
${input.token !== undefined ? `<p class="meta token"><span>replay token</span><code>${h(input.token)}</code></p>` : ''}
</header>
<section id="violations">
${violations}
</section>
<section id="timeline">
<h2>Timeline</h2>
<div class="toolbar">
<button type="button" data-zoom="out" title="zoom out">−</button><button type="button" data-zoom="in" title="zoom in">+</button><button type="button" data-zoom="fit" title="fit the whole run">fit</button>
<label><input type="checkbox" id="dim" checked> dim events that do not touch ${model.focus === null ? 'the page' : h(model.focus.va)}</label>
<span class="legend">${legend}</span>
</div>
<div class="tl"><div class="tl-labels"></div><div class="tl-scroll"><div class="tl-canvas"></div></div></div>
<noscript><p class="empty">The timeline needs JavaScript; the violation and its trace are in the text report below.</p></noscript>
<p class="meta">One column per trace event, left to right; one lane per task. Hover an event for its text, click it for every field; ← and → step through events.
Invalidation bars are light while start callbacks run and dark once entries may change. Hatched red state: a device translation the CPU entry no longer allows.</p>
</section>
<section id="details">
<h2>Selected event</h2>
<div id="detail"><p class="empty">Click an event in the timeline or the trace.</p></div>
</section>
<section id="events">
<h2>Trace</h2>
<div class="list-scroll"><div class="list-canvas"></div></div>
</section>
<section id="scenario">
<h2>Scenario</h2>
<pre class="scenario">${h(scenarioLines(input.scenario).join('\n'))}</pre>
</section>
<details class="text"><summary>Report as text</summary><pre class="report">${h(text === '' ? 'no violation' : text)}</pre></details>
<div class="tip" id="tip"></div>
<script type="application/json" id="timeline-data">${jsonForScript(model)}</script>
<script>${TIMELINE_SCRIPT}</script>
</body>
</html>
`;
}
