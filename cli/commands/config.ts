// `jmp config client|exporter ...`: upstream's current spelling of the configuration commands.

import type { Group } from "../command.ts";
import { configClientGroup } from "./client_configs.ts";
import {
  exporterCreateCommand,
  exporterDeleteCommand,
  exporterListCommand,
  exporterShowCommand,
} from "./exporter_configs.ts";

/** `jmp config`. */
export const configGroup: Group = {
  name: "config",
  summary: "Client and exporter configs (also as `jmp client ...` / `jmp exporter ...`)",
  commands: [
    configClientGroup,
    {
      name: "exporter",
      summary: "Exporter configs: create, list, delete, show",
      commands: [
        exporterCreateCommand,
        exporterListCommand,
        exporterDeleteCommand,
        exporterShowCommand,
      ],
    },
  ],
};
