import { describe, expect, it } from 'vitest';
import { type RegionSpec, type Scenario, validateScenario } from './scenario.js';

const region: RegionSpec = { pages: 2, prot: 'rw', share: 'private', backing: 'anon' };
const withOps = (kind: 'cpu' | 'driver', ops: unknown[]): Scenario =>
  ({ regions: [region], tasks: [{ kind, ops }] }) as unknown as Scenario;

describe('validateScenario', () => {
  it('should accept a scenario whose regions and ops are in range', () => {
    expect(() =>
      validateScenario(
        withOps('cpu', [
          { op: 'read', region: 0, page: 1 },
          { op: 'munmap', region: 0, page: 0, pages: 2 },
          { op: 'write', region: 0, page: 0, value: 7 },
        ]),
      ),
    ).not.toThrow();
  });

  it.each([
    [{ regions: [{ ...region, pages: 0 }], tasks: [] }, 'scenario: regions[0]: pages is 0; expected an integer in [1, 1048576]'],
    [{ regions: [{ ...region, prot: 'x' }], tasks: [] }, 'scenario: regions[0]: prot "x"; expected none, r or rw'],
    [
      withOps('cpu', [{ op: 'dev-read', region: 0, page: 0 }]),
      'scenario: tasks[0].ops[0]: op "dev-read" belongs in a device task, not a cpu task',
    ],
    [withOps('cpu', [{ op: 'read', region: 3, page: 0 }]), 'scenario: tasks[0].ops[0]: region is 3; expected an integer in [0, 0]'],
    [
      withOps('cpu', [
        { op: 'read', region: 0, page: 0 },
        { op: 'munmap', region: 0, page: 1, pages: 5 },
      ]),
      'scenario: tasks[0].ops[1]: pages is 5; expected an integer in [1, 1]',
    ],
    [
      withOps('cpu', [{ op: 'munmap', region: 0, page: 0, pages: 1, through: { region: 0, page: 9 } }]),
      'scenario: tasks[0].ops[0].through: page is 9; expected an integer in [0, 1]',
    ],
    [withOps('driver', [{ op: 'evict', device: 99 }]), 'scenario: tasks[0].ops[0]: device is 99; expected an integer in [0, 63]'],
    [
      { regions: [region], tasks: [], wordsPerPage: 100000 },
      'scenario: wordsPerPage: 100000; expected a positive integer dividing the page size, 4096',
    ],
    [{ regions: [region], tasks: [], pageSize: 1000 }, 'scenario: pageSize: 1000; expected a power of two of at least 64'],
    [withOps('cpu', [{ op: 'write', region: 0, page: 0 }]), 'scenario: tasks[0].ops[0]: op "write" needs value'],
    [withOps('cpu', [{ op: 'munmap', region: 0, page: 0 }]), 'scenario: tasks[0].ops[0]: op "munmap" needs pages'],
    [withOps('cpu', [{ op: 'read', region: 0, page: 0, word: -1 }]), 'scenario: tasks[0].ops[0]: word -1 must be an integer ≥ 0'],
    [
      withOps('cpu', [{ op: 'mprotect', region: 0, page: 0, pages: 1, prot: 'rwx' }]),
      'scenario: tasks[0].ops[0]: prot "rwx"; expected none, r or rw',
    ],
    [
      withOps('cpu', [{ op: 'madvise', region: 0, page: 0, pages: 1, advice: 'willneed' }]),
      'scenario: tasks[0].ops[0]: advice "willneed"; expected dontneed, free, nohugepage',
    ],
    [withOps('cpu', [{ op: 'write', region: 0, page: 0, value: 1.5 }]), 'scenario: tasks[0].ops[0]: value 1.5 must be an integer'],
    [withOps('cpu', [{ op: 'bogus' }]), 'scenario: unknown op "bogus"'],
  ])('should name the place and the problem: %j', (scenario, message) => {
    expect(() => validateScenario(scenario as Scenario)).toThrow(message);
  });
});
