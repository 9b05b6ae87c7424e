// The exporter: builds drivers from a config and serves them as ExporterService.

export { buildDriverTree, type DriverNode, type DriverTree } from "./driver_tree.ts";
export { type LogEntry, LogHub, type Severity } from "./log_hub.ts";
export { Session, type SessionOptions } from "./session.ts";
export {
  type LocalExporter,
  type LocalExporterOptions,
  startLocalExporter,
} from "./local_exporter.ts";
export {
  backoffDelay,
  type RegisteredExporterOptions,
  runRegisteredExporter,
} from "./registered_exporter.ts";
