// `jmp exporter ...`: exporter configs and local serving, as the configuration document names them.

import type { Group } from "../command.ts";
import { exporterServeCommand } from "./exporter_serve.ts";
import {
  exporterCreateCommand,
  exporterDeleteCommand,
  exporterListCommand,
  exporterRunCommand,
  exporterShowCommand,
} from "./exporter_configs.ts";
import { shellCommand } from "./shell.ts";

/** `jmp exporter create|list|delete|show|run|serve|shell`. */
export const exporterGroup: Group = {
  name: "exporter",
  summary: "Manage and run the exporter configs of this host",
  commands: [
    exporterCreateCommand,
    exporterListCommand,
    exporterDeleteCommand,
    exporterShowCommand,
    exporterRunCommand,
    exporterServeCommand,
    { ...shellCommand, summary: "Same as `jmp shell`" },
  ],
};
