/** The tests `init` writes: one scenario under the oracle, and the same kind of check over several seeds. */

const HEADER = `import { checkScenario } from '@hmmlab/assertions';
import { seededDecisions } from '@hmmlab/core';
import type { Scenario } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import driver from './driver.js';

/** The newest kernel profile the driver is written for. */
const profile = driver.profiles?.[driver.profiles.length - 1] ?? 'latest';
`;

/**
 * \`driver.test.ts\`: the driver maps two pages on the device, then the CPU write-protects one
 * and unmaps the other, then the device touches both; tasks run in order (\`firstRunnable\`), so
 * each CPU change needs a device flush the oracle checks.
 */
export function driverTest(): string {
  return `${HEADER.replace('seededDecisions', 'firstRunnable, seededDecisions')}
/** Device mappings first, then CPU changes that take them away, then device accesses. */
const scenario: Scenario = {
  profile,
  regions: [{ pages: 2, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 2, write: true }] },
    {
      kind: 'cpu',
      ops: [
        { op: 'mprotect', region: 0, page: 0, pages: 1, prot: 'r' },
        { op: 'munmap', region: 0, page: 1, pages: 1 },
      ],
    },
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, value: 7 },
        { op: 'dev-read', region: 0, page: 1 },
      ],
    },
  ],
};

describe(driver.name, () => {
  it('should flush what the CPU write-protects and unmaps under the device', async () => {
    const r = await checkScenario(driver, scenario, { decisions: firstRunnable });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
    expect(r.metrics.total.performed).toBeGreaterThan(0);
  });

  it('should keep the flush contract under a random schedule too', async () => {
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(1) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
  });
});
`;
}

/** \`driver.fuzz.test.ts\`: a larger scenario under several scheduler seeds (a stub to grow into a fuzz campaign). */
export function fuzzTest(): string {
  return `${HEADER}
const scenario: Scenario = {
  profile,
  regions: [{ pages: 4, prot: 'rw', share: 'private', backing: 'anon', populate: 'write' }],
  tasks: [
    {
      kind: 'device',
      ops: [
        { op: 'dev-write', region: 0, page: 0, value: 1 },
        { op: 'dev-read', region: 0, page: 1 },
        { op: 'dev-write', region: 0, page: 2, value: 2 },
        { op: 'dev-read', region: 0, page: 0 },
      ],
    },
    {
      kind: 'cpu',
      ops: [
        { op: 'write', region: 0, page: 1, value: 3 },
        { op: 'mprotect', region: 0, page: 2, pages: 1, prot: 'r' },
        { op: 'madvise', region: 0, page: 3, pages: 1, advice: 'dontneed' },
        { op: 'read', region: 0, page: 0 },
      ],
    },
    { kind: 'driver', ops: [{ op: 'prefetch', region: 0, page: 0, pages: 4, write: true }] },
  ],
};

describe(\`\${driver.name} under several schedules\`, () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('should keep the flush contract with scheduler seed %i', async (seed) => {
    const r = await checkScenario(driver, scenario, { decisions: seededDecisions(seed) });
    expect(r.run.status, r.run.message).toBe('done');
    expect(r.violations).toEqual([]);
  });
});
`;
}
