// The commands of the Jumpstarter binaries.
export { helpCommand } from "./help.ts";
export { versionCommand } from "./version.ts";
export { exporterServeCommand } from "./exporter_serve.ts";
export { exporterGroup } from "./exporter.ts";
export { shellCommand } from "./shell.ts";
export { jCommand, runJ } from "./j.ts";
export {
  exporterCreateCommand,
  exporterDeleteCommand,
  exporterListCommand,
  exporterRunCommand,
  exporterShowCommand,
} from "./exporter_configs.ts";
export { clientGroup, configClientGroup } from "./client_configs.ts";
export { configGroup } from "./config.ts";
