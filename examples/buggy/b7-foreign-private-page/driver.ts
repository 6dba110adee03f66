/**
 * B7 ("mm/hmm: check the device private page owner in hmm_range_fault()", 08ddddda667b, and the
 * nouveau side that sets `.dev_private_owner`): a process mirrored by two GPUs. gpu1 migrates pages
 * into its device-private memory; gpu0's fault path leaves `dev_private_owner` unset and maps
 * whatever `hmm_range_fault` returns. On a v5.6 kernel, which returned every device-private page
 * whoever owned it (`profileOverrides: { hmmChecksPrivateOwner: false }`), gpu0 maps gpu1's VRAM
 * page, which it cannot reach. Since 08ddddda667b the page is faulted back to system memory first.
 */
import type { HmmRange } from '@hmmlab/core';
import { type DriverDefinition, defineDriver } from '@hmmlab/harness';
import { svmDevice } from '../lib/svm-driver.js';
import { SvmMirror } from '../lib/svm-mirror.js';

class NoPrivateOwner extends SvmMirror {
  override rangeFor(start: number, end: number, write: boolean): HmmRange {
    // B7: no .dev_private_owner, and any device-private page that comes back is mapped.
    return { ...super.rangeFor(start, end, write), devPrivateOwner: undefined };
  }
}

/** Two GPUs mirror the process: `Accessor` on gpu0 (no memory), a plain mirror on gpu1 (whose memory migrations go to). */
export function twoGpus(name: string, Accessor: typeof SvmMirror): DriverDefinition {
  return defineDriver({
    name,
    description: "B7: a GPU maps another GPU's device-private page (no dev_private_owner, on a kernel before 08ddddda667b)",
    profiles: ['latest'],
    vmsPerBinding: 2,
    probe(kernel) {
      const gpu0 = svmDevice(kernel, 'gpu0', { memoryPages: 0 });
      const gpu1 = svmDevice(kernel, 'gpu1');
      return {
        devices: [gpu0, gpu1],
        async bind(mm) {
          const a = new Accessor(gpu0, mm);
          const b = new SvmMirror(gpu1, mm);
          await a.open();
          await b.open();
          return {
            vms: [a.vm, b.vm],
            prefetch: (s, e, w) => a.prefetch(s, e, w),
            migrateToDevice: (s, e) => b.migrateToDevice(s, e),
            migrateToRam: (s, e) => b.migrateToRam(s, e),
            evict: () => b.evict(),
            async unbind() {
              await a.unbind();
              await b.unbind();
            },
          };
        },
      };
    },
  });
}

export default twoGpus('b7-foreign-private-page', NoPrivateOwner);
