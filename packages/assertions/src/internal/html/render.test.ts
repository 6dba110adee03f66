import { firstRunnable } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import { checkScenario } from '../check.js';
import { type Knobs, knobDriver } from '../test-driver.js';
import { TIMELINE_SCRIPT } from './client-script.js';
import { escapeHtml } from './escape.js';
import { renderTimelineHtml } from './render.js';
import { buildTimelineModel, type TimelineInput } from './timeline-model.js';

const scenario: Scenario = {
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'device', ops: [{ op: 'dev-write', region: 0, page: 0, value: 5 }] },
    { kind: 'cpu', ops: [{ op: 'munmap', region: 0, page: 0, pages: 2 }] },
  ],
};

async function run(knobs: Knobs): Promise<TimelineInput> {
  const r = await checkScenario(knobDriver(knobs), scenario, { decisions: firstRunnable, trace: 'all' });
  const k = r.result.world.kernel;
  return { violations: r.violations, events: k.trace.events(), scenario, tasks: k.sched.allTasks(), driver: 'knob-mirror' };
}

describe('renderTimelineHtml', () => {
  it('should name the rule, the step and the explanation of the violation', async () => {
    const input = await run({ flush: 'none' });
    const v = input.violations[0];
    expect(v?.rule).toBe('missed-flush');
    const html = renderTimelineHtml(input);
    expect(html).toContain(
      `<span class="rule-id">missed-flush</span> at <a class="goto" href="#timeline" data-goto="${v?.seq}">step ${v?.step}</a>`,
    );
    expect(html).toContain(`<p class="explanation">${escapeHtml(v?.explanation ?? '')}</p>`);
  });

  it('should say so when the run has no violation', async () => {
    const html = renderTimelineHtml(await run({}));
    expect(html).toContain('No violation: every rule held in this run.');
    expect(html).not.toContain('class="violation"');
  });

  it('should escape every text it is given', async () => {
    const input = await run({ flush: 'none' });
    const evil = '</script><img src=x onerror=alert(1)>';
    const html = renderTimelineHtml({
      ...input,
      driver: evil,
      token: evil,
      tasks: (input.tasks ?? []).map((t) => ({ ...t, name: evil })),
      scenario: { ...scenario, tasks: scenario.tasks.map((t) => ({ ...t, name: evil })) },
    });
    expect(html).not.toContain('<img');
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(html).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('should load nothing from anywhere: no external scripts, styles, images or fonts', async () => {
    const html = renderTimelineHtml(await run({ flush: 'none' }));
    expect(html).not.toMatch(/<link|<img|<iframe|\bsrc=|url\(|@import|https?:\/\//);
  });

  it('should render the same run to the same bytes', async () => {
    expect(renderTimelineHtml(await run({ flush: 'none' }))).toBe(renderTimelineHtml(await run({ flush: 'none' })));
  });

  it.each([
    ['no violations array', { events: [], scenario }, /renderTimelineHtml: violations must be an array/],
    ['no events', { violations: [], scenario }, /renderTimelineHtml: events must be an array of trace events; keep the whole trace/],
    ['no scenario', { violations: [], events: [] }, /renderTimelineHtml: scenario must be the Scenario that ran/],
  ])('should reject %s with an error naming the API', (_what, input, message) => {
    expect(() => renderTimelineHtml(input as unknown as TimelineInput)).toThrow(message);
  });

  it('should embed a page script that parses and cannot close its own script block', () => {
    expect(TIMELINE_SCRIPT).not.toContain('</');
    expect(() => new Function(TIMELINE_SCRIPT)).not.toThrow();
  });
});

describe('buildTimelineModel', () => {
  it('should give every task a lane, CPU threads first, and leave scheduler switches out', async () => {
    const input = await run({ flush: 'none' });
    const m = buildTimelineModel(input);
    expect(m.lanes[0]?.kind).toBe('cpu');
    expect(m.lanes.map((l) => l.name)).toContain('device0#2');
    expect(m.events).toHaveLength(input.events.filter((e) => e.type !== 'switch').length);
    expect(m.events.every((e, i) => e.c === i)).toBe(true);
  });

  it("should mark the violation at its event's column and span the invalidation from start to end", async () => {
    const input = await run({ flush: 'none' });
    const m = buildTimelineModel(input);
    const v = input.violations[0];
    const mark = m.marks[0];
    expect(m.events[mark?.c ?? -1]?.q).toBe(v?.seq);
    const span = m.spans[0];
    expect(span?.label).toMatch(/^inv #1 MMU_NOTIFY_UNMAP \[0x[0-9a-f]+, 0x[0-9a-f]+\) owner=none blockable$/);
    expect(m.events[span?.c0 ?? -1]?.y).toBe('inv-start');
    expect(m.events[(span?.c1 ?? 0) - 1]?.y).toBe('inv-end');
    expect(m.focus?.va).toBe(`0x${(v?.va ?? 0).toString(16)}`);
  });
});
