// Entry point of `jmp`, the Jumpstarter client CLI.
import process from "node:process";
import { type Group, runProgram } from "./command.ts";
import { helpCommand, versionCommand } from "./commands/mod.ts";

/** The `jmp` program: its name, summary and command groups. */
export const jmp: Group = {
  name: "jmp",
  summary: "Jumpstarter client: lease and drive remote or local hardware",
  commands: [helpCommand, versionCommand],
};

/** Runs `jmp` with `argv` (the arguments after the program name); returns the exit code. */
export function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return runProgram(jmp, argv);
}

if (import.meta.main) {
  process.exitCode = await main();
}
