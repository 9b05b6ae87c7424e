// Entry point of `jmp`, the Jumpstarter client CLI.
import process from "node:process";
import { basename } from "node:path";
import { type Group, processIo, runProgram } from "./command.ts";
import { createGroup, deleteGroup, getGroup, updateGroup } from "./commands/leases.ts";
import { installCommand } from "./commands/install.ts";
import {
  clientGroup,
  configGroup,
  exporterGroup,
  helpCommand,
  jCommand,
  runJ,
  shellCommand,
  versionCommand,
} from "./commands/mod.ts";
import { adminGroup } from "./commands/admin.ts";

/** The `jmp` program: its name, summary and command groups. */
export const jmp: Group = {
  name: "jmp",
  summary: "Jumpstarter client: lease and drive remote or local hardware",
  commands: [
    shellCommand,
    createGroup,
    getGroup,
    updateGroup,
    deleteGroup,
    configGroup,
    installCommand,
    clientGroup,
    exporterGroup,
    jCommand,
    adminGroup,
    helpCommand,
    versionCommand,
  ],
};

/** Runs `jmp` with `argv` (the arguments after the program name); returns the exit code. */
export function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // Installed as `j` too (a link to the binary): then it is the driver command.
  if (basename(process.argv0) === "j") return runJ([...argv], processIo);
  return runProgram(jmp, argv);
}

if (import.meta.main) {
  process.exitCode = await main();
}
