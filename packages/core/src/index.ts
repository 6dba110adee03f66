/**
 * @hmmlab/core: a deterministic, executable model of the Linux kernel's mm, MMU notifiers, device
 * memory migration and HMM, for testing device drivers' notifier callbacks.
 *
 * @module @hmmlab/core
 */

export {
  checkOptionNames,
  EAGAIN,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  ENODEV,
  ENOENT,
  ENOMEM,
  EOVERFLOW,
  EPERM,
  errnoName,
  HmmlabError,
  type HmmlabErrorCode,
  hex,
  internalError,
  ProfileMismatchError,
  profileError,
} from './internal/errors.js';
export {
  HMM_PFN_ERROR,
  HMM_PFN_FLAGS,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_SHIFT,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
  hmmPfnToPage,
  hmmPfnToPfn,
  hmmRangeFault,
} from './internal/hmm/hmm-range-fault.js';
export { type HugetlbPool, Kernel, type KernelOptions } from './internal/kernel.js';
export { compactPage } from './internal/migrate/compact.js';
export { makeDeviceExclusive, makeDeviceExclusiveRange } from './internal/migrate/device-exclusive.js';
export {
  DevPagemap,
  type DevPagemapOps,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  type MemremapOptions,
  memremapPages,
  memunmapPages,
  type VmFault,
  zoneDeviceFolioInit,
  zoneDevicePageInit,
} from './internal/migrate/memremap.js';
export type { PfnArray } from './internal/migrate/migrate-core.js';
export { migrateDeviceFinalize, migrateDevicePages, migrateDevicePfns, migrateDeviceRange } from './internal/migrate/migrate-device.js';
export {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_LOCKED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_SHIFT,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnToPage,
  migratePfnToPfn,
} from './internal/migrate/migrate-pfn.js';
export { MigrateVma, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from './internal/migrate/migrate-vma.js';
export * from './internal/mm/constants.js';
export { oomReap } from './internal/mm/exit.js';
export { handleMmFault, VM_FAULT_OOM, VM_FAULT_RETRY, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV } from './internal/mm/fault.js';
export { type FileMmapOp, ModelFile } from './internal/mm/file.js';
export { pinUserPage, unpinUserPage } from './internal/mm/gup.js';
export { HPAGE_PMD_NR, HPAGE_PMD_ORDER, type HugePmdKind, type ThpMode } from './internal/mm/huge.js';
export { Mm } from './internal/mm/mm.js';
export { type AllocOptions, Page, PageAllocator, type PageKind, type PagemapRef } from './internal/mm/page.js';
export {
  formatPte,
  mkPte,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PFN_MUL,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
  type PteKind,
  pteAccessible,
  pteFlags,
  pteKind,
  pteKindOf,
  ptePfn,
  ptePresent,
  pteWrite,
} from './internal/mm/pte.js';
export { shrinkPage } from './internal/mm/reclaim.js';
export { type SwapSlot, SwapSpace } from './internal/mm/swap.js';
export { vmInsertPage } from './internal/mm/vm-insert-page.js';
export { Vma } from './internal/mm/vma.js';
export {
  MmuIntervalNotifier,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierInsertLocked,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from './internal/notifier/interval-notifier.js';
export { type InvokeFacts, invokeDriver } from './internal/notifier/invoke.js';
export {
  MmuNotifier,
  type MmuNotifierOps,
  mmuNotifierArchInvalidateSecondaryTlbs,
  mmuNotifierGet,
  mmuNotifierGetLocked,
  mmuNotifierPut,
  mmuNotifierRegister,
  mmuNotifierRegisterLocked,
  mmuNotifierUnregister,
} from './internal/notifier/mmu-notifier.js';
export {
  eventName,
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierEvent,
  type MmuNotifierRange,
  mmuNotifierRangeBlockable,
} from './internal/notifier/range.js';
export { type KernelProfile, kernelProfile, PROFILE_NAMES, type ProfileName } from './internal/profile.js';
export { Atomic } from './internal/sched/atomic.js';
export { arrayDecisions, type DecisionSource, firstRunnable, seededDecisions, type TaskInfo } from './internal/sched/decisions.js';
export { epochOf, happensBefore } from './internal/sched/happens-before.js';
export { Mutex, SpinLock } from './internal/sched/mutex.js';
export { RwSemaphore } from './internal/sched/rwsem.js';
export {
  currentScheduler,
  type DeadlockEntry,
  DriverCallbackError,
  HeldLocks,
  type RunOptions,
  type RunResult,
  type RunStatus,
  Scheduler,
  SignalError,
  Task,
  type TaskState,
  type Waitable,
  yieldPoint,
} from './internal/sched/scheduler.js';
export { Completion, WaitQueue } from './internal/sched/wait-queue.js';
export { DelayedWork, Work, Workqueue } from './internal/sched/workqueue.js';
export {
  type TaskKind,
  type TaskOutcome,
  Trace,
  type TraceEvent,
  type TraceEventInput,
  type TraceEventMap,
  type TraceListener,
  type TraceRecordMode,
  type TraceStamp,
  type TraceSubscription,
} from './internal/trace.js';
