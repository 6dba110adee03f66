import { SHAPE_WINDOWS } from '@hmmlab/assertions';
import { describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { baseCell, expectedCells, summarizeCoverage, WINDOWS } from './coverage.js';
import { mirror } from './test-mirror.js';

const outcomeOf = (cell: string): string => cell.split('|')[6] as string;

describe('coverage cells', () => {
  it('should record the callback outcome of a callback that clears and flushes as flush', async () => {
    const r = await runCampaign(mirror(true), { runs: 150, seed: 3 });
    const cells = Object.keys(r.coverage.cells);
    expect(cells.every((c) => c.split('|').length === 7)).toBe(true);
    expect(cells.filter((c) => c.split('|')[4] === 'mapped').map(outcomeOf)).toContain('flush');
    expect(cells.map((c) => c.split('|')[5])).toEqual(expect.arrayContaining(['quiet']));
  });

  it('should never record flush for a callback that clears without flushing', async () => {
    // Detection is not the point: stop at no violation, so the whole campaign's cells are seen.
    const r = await runCampaign(mirror(false), { runs: 150, seed: 3, rules: ['stale-install'] });
    const cells = Object.keys(r.coverage.cells);
    expect(cells.length).toBeGreaterThan(0);
    expect(cells.map(outcomeOf)).not.toContain('flush');
    expect(cells.map(outcomeOf)).toContain('zap');
  });
});

describe('expectedCells', () => {
  it("should expect the device's own migrations only of a driver with device memory", () => {
    const own = (cells: string[]) => cells.filter((c) => c.startsWith('MMU_NOTIFY_MIGRATE|own|'));
    expect(own(expectedCells({ deviceMemory: false, coherent: false, foreignOwners: false }))).toEqual([]);
    expect(own(expectedCells({ deviceMemory: true, coherent: false, foreignOwners: false }))).toEqual([
      'MMU_NOTIFY_MIGRATE|own|system|blockable|mapped',
      'MMU_NOTIFY_MIGRATE|own|own-device-private|blockable|mapped',
    ]);
  });
});

describe('summarizeCoverage', () => {
  const u = { deviceMemory: false, coherent: false, foreignOwners: false };

  it('should say that too few runs tell nothing, not that more runs will not help, when the device never had a page mapped', () => {
    const cells = { 'MMU_NOTIFY_UNMAP|none|system|blockable|unmapped|quiet|skip': 4 };
    const few = summarizeCoverage(u, { cells, windows: {} }, 5);
    expect(few.notes[0]).toMatch(/no invalidation met a device translation in only 5 run\(s\): too few to tell.*more --runs/);
    expect(few.notes.join(' ')).not.toMatch(/will not change/);
    expect(summarizeCoverage(u, { cells, windows: {} }, 100).notes[0]).toMatch(/more runs will not change that/);
  });

  it('should say that a campaign that met no device translation explored nothing', () => {
    const s = summarizeCoverage(u, { cells: {}, windows: {} }, 10);
    expect(s.reached).toBe(0);
    expect(s.expected).toBe(expectedCells(u).length);
    expect(s.notes.join(' ')).toMatch(/no invalidation met a device translation in 10 run/);
    expect(s.notes.join(' ')).toMatch(/no race window reached/);
  });

  it('should say that more runs will not help when invalidations came but the device never had a page mapped', () => {
    const s = summarizeCoverage(u, { cells: { 'MMU_NOTIFY_UNMAP|none|system|blockable|unmapped|quiet|skip': 40 }, windows: {} }, 500);
    expect(s.notes[0]).toMatch(
      /no invalidation met a device translation in 500 run\(s\): the device never had a page mapped.*more runs will not change that/,
    );
  });

  it('should say nothing when every expected cell and a race window were reached', () => {
    const cells = Object.fromEntries(expectedCells(u).map((c) => [`${c}|quiet|flush`, 1]));
    const s = summarizeCoverage(u, { cells, windows: { 'copy-during-migration': 1 } }, 10);
    expect(s).toMatchObject({ reached: s.expected, unreached: [], notes: [] });
  });

  it('should group unreached cells by event and list their page kinds, and say when few were reached', () => {
    const one = expectedCells(u)[0] as string;
    const s = summarizeCoverage(u, { cells: { [`${one}|fault|zap`]: 2 }, windows: {} }, 10);
    expect(s.reached).toBe(1);
    expect(s.unreached).toContain('MMU_NOTIFY_UNMAP none nonblockable mapped: system, zero');
    expect(s.notes[0]).toMatch(/only 1 of \d+ expected cells reached/);
    expect(s.notes.join(' ')).not.toMatch(/never had a page mapped/);
  });

  it('should keep a stopped campaign from claiming it explored little', () => {
    expect(summarizeCoverage(u, { cells: {}, windows: {} }, 3, true).notes).toEqual([]);
    expect(baseCell('MMU_NOTIFY_UNMAP|none|system|blockable|mapped|quiet|zap')).toBe('MMU_NOTIFY_UNMAP|none|system|blockable|mapped');
  });
});

describe('windows', () => {
  it('should let a campaign require every shape window the oracle counts', () => {
    expect(WINDOWS).toEqual(expect.arrayContaining([...SHAPE_WINDOWS]));
  });
});
