/**
 * lib/test_hmm_uapi.h (NEWEST numbering): the commands of the dmirror device file and the bytes
 * `HMM_DMIRROR_SNAPSHOT` writes. The kernel encodes each command with `_IOWR('H', n, struct
 * hmm_dmirror_cmd)`; the port keeps only `n`, which is what the driver's switch tells apart.
 */

/** `HMM_DMIRROR_READ`: the device reads `npages` pages at `addr` into `ptr` (`dmirror_read`). */
export const HMM_DMIRROR_READ = 0x00;
/** `HMM_DMIRROR_WRITE`: the device writes `ptr` to `npages` pages at `addr` (`dmirror_write`). */
export const HMM_DMIRROR_WRITE = 0x01;
/** `HMM_DMIRROR_MIGRATE_TO_DEV` (`dmirror_migrate_to_device`; `HMM_DMIRROR_MIGRATE` before v6.0). */
export const HMM_DMIRROR_MIGRATE_TO_DEV = 0x02;
/** `HMM_DMIRROR_MIGRATE_TO_SYS` (`dmirror_migrate_to_system`, v6.0+). */
export const HMM_DMIRROR_MIGRATE_TO_SYS = 0x03;
/** `HMM_DMIRROR_SNAPSHOT`: one `HMM_DMIRROR_PROT_*` byte per page into `ptr` (`dmirror_snapshot`). */
export const HMM_DMIRROR_SNAPSHOT = 0x04;
/** `HMM_DMIRROR_EXCLUSIVE`: device-exclusive access, then a read back (`dmirror_exclusive`, v5.14+). */
export const HMM_DMIRROR_EXCLUSIVE = 0x05;
/** `HMM_DMIRROR_CHECK_EXCLUSIVE`: `-EPERM` while an atomic entry is left (`dmirror_check_atomic`). */
export const HMM_DMIRROR_CHECK_EXCLUSIVE = 0x06;
/** `HMM_DMIRROR_RELEASE`: evict all device memory (`dmirror_device_remove_chunks`, v6.1+). */
export const HMM_DMIRROR_RELEASE = 0x07;
/** `HMM_DMIRROR_FLAGS`: `dmirror->flags = npages`. */
export const HMM_DMIRROR_FLAGS = 0x08;
/** `HMM_DMIRROR_READ_UNLOCKABLE`: in the NEWEST uapi, with no handler in test_hmm.c (`-EINVAL`). */
export const HMM_DMIRROR_READ_UNLOCKABLE = 0x09;

/** `HMM_DMIRROR_FLAG_FAIL_ALLOC`: the next device or system page allocation of a migration fails once. */
export const HMM_DMIRROR_FLAG_FAIL_ALLOC = 1 << 0;

/** No valid mirror PTE for this page (no VMA, no read permission). */
export const HMM_DMIRROR_PROT_ERROR = 0xff;
/** Unpopulated PTE or PTE with no access. */
export const HMM_DMIRROR_PROT_NONE = 0x00;
/** Read-only PTE. */
export const HMM_DMIRROR_PROT_READ = 0x01;
/** Read/write PTE. */
export const HMM_DMIRROR_PROT_WRITE = 0x02;
/** PMD-sized mapping (never in the model: no huge pages). */
export const HMM_DMIRROR_PROT_PMD = 0x04;
/** PUD-sized mapping (never in the model). */
export const HMM_DMIRROR_PROT_PUD = 0x08;
/** The shared zero page. */
export const HMM_DMIRROR_PROT_ZERO = 0x10;
/** A device-private page of the device the command was sent to. */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
/** A device-private page of another device (snapshot never faults, so it reads as NONE instead). */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
/** A device-coherent page of the device the command was sent to. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
/** A device-coherent page of another device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

/**
 * The arguments of a command (`struct hmm_dmirror_cmd` in): `ptr` stands for the user buffer,
 * `npages * kernel.wordsPerPage` words for data commands, `npages` bytes for `HMM_DMIRROR_SNAPSHOT`
 * (an `Int32Array` is then read as bytes, as C reads `unsigned char *`).
 */
export interface HmmDmirrorCmdArgs {
  readonly addr: number;
  readonly npages: number;
  readonly ptr?: Int32Array | Uint8Array;
}

/**
 * What a command returns: `ret` (0 or a negative errno) and the `struct hmm_dmirror_cmd` outputs
 * as the driver left them. The C ioctl copies `cpages` and `faults` back only when `ret` is 0.
 */
export interface HmmDmirrorCmdResult {
  readonly ret: number;
  readonly cpages: number;
  readonly faults: number;
}
