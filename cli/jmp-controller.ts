// Entry point of `jmp-controller`, the Jumpstarter server.
import process from "node:process";
import { type Group, runProgram } from "./command.ts";
import { helpCommand, versionCommand } from "./commands/mod.ts";
import { controllerRunCommand } from "./commands/controller_run.ts";
import { adminGroup } from "./commands/admin.ts";

/** The `jmp-controller` program: its name, summary and command groups. */
export const jmpController: Group = {
  name: "jmp-controller",
  summary: "Jumpstarter controller: leases, tokens and routing for exporters and clients",
  commands: [controllerRunCommand, adminGroup, helpCommand, versionCommand],
};

/** Runs `jmp-controller` with `argv` (the arguments after the program name); returns the exit code. */
export function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return runProgram(jmpController, argv);
}

// No top-level await: the binaries are compiled to bytecode, which does not allow it.
if (import.meta.main) {
  main().then((code) => {
    process.exitCode = code;
  });
}
