/**
 * dmirror: a port of the kernel's lib/test_hmm.c (NEWEST, with the older eras selected by the
 * kernel profile). The default export is the driver the fuzzer loads; tests and the hmm-tests
 * port use `bind(mm, { device })` and `Dmirror.cmd` as user space uses open and ioctl.
 */
import { defineDriver } from '@hmmlab/harness';
import { DMIRROR_COMMANDS, Dmirror } from './dmirror.js';
import { DMIRROR_PROFILES, dmirrorProbe } from './probe.js';

export default defineDriver({
  name: 'dmirror',
  description: "lib/test_hmm.c: the kernel's HMM test driver, mirroring a process through one interval notifier",
  profiles: DMIRROR_PROFILES,
  commands: DMIRROR_COMMANDS,
  // hmm-tests' `hmm2` fixture opens /dev/hmm_dmirror0 and /dev/hmm_dmirror1 in one process.
  bindDevices: 2,
  probe: (kernel) => dmirrorProbe(kernel, Dmirror),
});
