/**
 * A1: lib/test_hmm.c itself (examples/dmirror, on the latest kernel). `dmirror_interval_invalidate`
 * returns at once for an `MMU_NOTIFY_MIGRATE` carrying its own device as owner. That skip is meant
 * for the device-private pages it migrates back (whose entries `dmirror_devmem_fault_alloc_and_copy`
 * erases before copying), but the same owner tags `dmirror_migrate_to_device`, whose sources are
 * system pages its mirror may map writable: `dmirror_migrate_alloc_and_copy` copies them while the
 * mirror can still write them, and only `dmirror_migrate_finalize_and_map` replaces the entries.
 * See docs/findings/a1-dmirror-migrate-to-device.md; examples/dmirror-fixed is the fix.
 */
import { defineDriver } from '@hmmlab/harness';
import { Dmirror } from '../../dmirror/dmirror.js';
import { dmirrorProbe } from '../../dmirror/probe.js';

export default defineDriver({
  name: 'a1-dmirror-migrate-to-device',
  description: "A1: test_hmm's own-MIGRATE skip leaves its mirror entries of system pages writable across the copy to the device",
  profiles: ['latest'],
  probe: (kernel) => dmirrorProbe(kernel, Dmirror),
});
