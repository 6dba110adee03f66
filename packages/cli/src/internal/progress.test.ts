import { describe, expect, it } from 'vitest';
import { formatProgress, ProgressLines, progressIntervalMs } from './progress.js';
import { UsageError } from './usage.js';

describe('progress lines without a terminal', () => {
  it('should write a line when a run completes at least one interval after the last line', () => {
    let now = 1000;
    const out: string[] = [];
    const p = new ProgressLines('drv/driver.ts', { intervalMs: 5000, now: () => now, write: (l) => out.push(l) });
    now = 3000;
    p.update(10, 100, 4, 0);
    expect(out).toEqual([]);
    now = 6000;
    p.update(40, 100, 9, 0);
    now = 10_999;
    p.update(60, 100, 11, 0);
    now = 11_000;
    p.update(70, 100, 12, 1);
    expect(out).toEqual([
      'hmmlab fuzz: drv/driver.ts: 40/100 runs, 8 runs/s, 9 cells, 0 violations\n',
      'hmmlab fuzz: drv/driver.ts: 70/100 runs, 7 runs/s, 12 cells, 1 violation\n',
    ]);
  });

  it('should write after every run with interval 0', () => {
    const out: string[] = [];
    const p = new ProgressLines('d', { intervalMs: 0, now: () => 0, write: (l) => out.push(l) });
    p.update(1, 3, 1, 0);
    p.update(2, 3, 1, 0);
    expect(out).toEqual([
      'hmmlab fuzz: d: 1/3 runs, 0 runs/s, 1 cells, 0 violations\n',
      'hmmlab fuzz: d: 2/3 runs, 0 runs/s, 1 cells, 0 violations\n',
    ]);
  });

  it('should round the rate over the whole time since the campaign started', () => {
    expect(formatProgress('d', { done: 1000, total: 2000, elapsedMs: 3000, cells: 50, violations: 2 })).toBe(
      'hmmlab fuzz: d: 1000/2000 runs, 333 runs/s, 50 cells, 2 violations',
    );
  });

  it('should take the interval from HMMLAB_PROGRESS_INTERVAL in seconds, 5 by default', () => {
    expect(progressIntervalMs(undefined)).toBe(5000);
    expect(progressIntervalMs('')).toBe(5000);
    expect(progressIntervalMs('0.5')).toBe(500);
    expect(progressIntervalMs('0')).toBe(0);
    expect(() => progressIntervalMs('soon')).toThrow(UsageError);
    expect(() => progressIntervalMs('-1')).toThrow('HMMLAB_PROGRESS_INTERVAL=-1: expected a number of seconds ≥ 0');
  });
});
