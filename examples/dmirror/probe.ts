/**
 * `hmm_dmirror_init` and `dmirror_fops_open` (lib/test_hmm.c): the devices a kernel gets, and
 * what opening one of them in a process does. Shared by examples/dmirror and its variants.
 */
import { errnoName, HmmlabError, type Kernel, type Mm, type ProfileName } from '@hmmlab/core';
import type { DriverInstance } from '@hmmlab/harness';
import { DmirrorDevice } from './device.js';
import type { Dmirror } from './dmirror.js';
import { dmirrorEra } from './era.js';

/** The kernel profiles the dmirror port follows (not `seed`, see {@link dmirrorEra}). */
export const DMIRROR_PROFILES: readonly ProfileName[] = ['5.8', '5.9', '5.14', '6.1', 'latest'];

/** A driver instance that also names its `struct dmirror_device`s. */
export interface DmirrorInstance extends DriverInstance<Dmirror> {
  readonly mdevices: readonly DmirrorDevice[];
}

/**
 * `hmm_dmirror_init`: `/dev/hmm_dmirror0` and `1` are device-private; from v6.0, `2` and `3` are
 * device-coherent (the kernel needs the `spm_addr_dev0/1` module parameters for those; the model
 * always has them). `bind(mm, { device: n })` is `open("/dev/hmm_dmirror<n>")` in the process `mm`.
 */
export function dmirrorProbe(kernel: Kernel, Ctor: new (mdevice: DmirrorDevice, mm: Mm) => Dmirror): DmirrorInstance {
  const era = dmirrorEra(kernel.profile, kernel.pageSize);
  const mdevices: DmirrorDevice[] = [];
  for (let id = 0; id < era.ndevices; id++) mdevices.push(new DmirrorDevice(kernel, id, id < 2 ? 'private' : 'coherent', era));
  return {
    devices: mdevices.map((m) => m.device),
    mdevices,
    async bind(mm, options) {
      const id = options?.device ?? 0;
      const mdevice = mdevices[id];
      if (mdevice === undefined) {
        throw new HmmlabError(
          'ERR_BAD_ARGUMENT',
          `dmirror: no /dev/hmm_dmirror${String(id)} in profile ${kernel.profile.name}; devices 0 to ${mdevices.length - 1} exist`,
        );
      }
      const dmirror = new Ctor(mdevice, mm);
      const ret = await dmirror.open();
      if (ret !== 0) throw new HmmlabError('ERR_STATE', `open /dev/hmm_dmirror${id}: ${errnoName(ret)}`);
      return dmirror;
    },
  };
}
