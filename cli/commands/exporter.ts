// `jmp exporter ...`: exporter configs and local serving, as the configuration document names them.

import type { Group } from "../command.ts";
import { exporterServeCommand } from "./exporter_serve.ts";
import { shellCommand } from "./shell.ts";

/** `jmp exporter serve|shell`. */
export const exporterGroup: Group = {
  name: "exporter",
  summary: "Serve exporter configs locally",
  commands: [exporterServeCommand, { ...shellCommand, summary: "Same as `jmp shell`" }],
};
