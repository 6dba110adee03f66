/**
 * @hmmlab/harness: what a driver author writes against: the device model (page table, TLB with
 * per-device granules, an optional page-walk cache and fenced flushes, DMA mappings, queues, fault modes, device memory), the driver definition API,
 * helpers for the canonical fault loop and chunked migrations, and the scenario runner.
 *
 * @module @hmmlab/harness
 */

export { Device, type DeviceOptions, type FaultMode, Fence, type MemoryHold } from './internal/device.js';
export {
  DEV_PTE_ATOMIC,
  DEV_PTE_PFN_MUL,
  DEV_PTE_VALID,
  DEV_PTE_WRITE,
  devPteAllows,
  devPteFlags,
  devPtePfn,
  formatDevPte,
  mkDevPte,
} from './internal/device-pte.js';
export {
  type AccessKind,
  type AccessResult,
  type DeviceFault,
  DeviceFaultError,
  DeviceVm,
  type DeviceVmOps,
  type FlushOptions,
  type TranslationSource,
} from './internal/device-vm.js';
export {
  type Binding,
  type DriverDefinition,
  type DriverInstance,
  DriverLoadError,
  defineDriver,
  driverModuleOf,
  loadDriver,
} from './internal/driver.js';
export { faultInUserPage } from './internal/helpers/fault-in.js';
export { kernelBuffer } from './internal/helpers/kernel-buffer.js';
export { HMM_RANGE_DEFAULT_TIMEOUT, hmmRangeFaultLoop, type RangeFaultLoopArgs } from './internal/helpers/range-fault.js';
export { forEachVmaChunk } from './internal/helpers/vma-chunks.js';
export {
  BindingMismatchError,
  checkProbedDevices,
  describeOp,
  type FailedAccess,
  initialValue,
  type Observer,
  type OpOutcome,
  runScenario,
  SCENARIO_RUN_FIELDS,
  type ScenarioResult,
  type ScenarioRunOptions,
  type World,
} from './internal/runner.js';
export {
  describeDeviceMemory,
  EXIT_AT_END_TEXT,
  kindOfOp,
  type OpName,
  type OpSpec,
  type Prot,
  type RegionSpec,
  type Scenario,
  type TaskSpec,
  validateScenario,
} from './internal/scenario.js';
export { SharedCell, SharedMap, type SharedOptions } from './internal/shared.js';
