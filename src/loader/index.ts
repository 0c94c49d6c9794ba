// The loading step: ObjectSpec → kernel objects, with trace events and all-or-nothing cleanup.
export {
  loadObject,
  loadObjectAsync,
  DEFAULT_PIN_ROOT,
  type LoadOptions,
  type CoreContext,
  type CoreRelocator,
} from './load.js';
export { LoadedObject, type LoadedMapRecord, type LoadedProgramRecord } from './loaded.js';
export {
  LoadError,
  VerifierError,
  MapIncompatibleError,
  helperName,
  type HelperRefusal,
  type SourceLine,
} from './errors.js';
export { formatTraceEvent, type TraceEvent } from './trace.js';
export { type AttachTarget } from './freplace.js';
export { type BtfChange } from './btf-fixup.js';
export { type BtfFeatures } from './btf-sanitize.js';
export { loaderFeatures, type LoaderFeatures } from './features.js';
export { MAX_LOG_LEVEL } from './options.js';
