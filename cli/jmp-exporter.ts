// Entry point of `jmp-exporter`, the daemon that serves the drivers of a test bench.
import process from "node:process";
import { type Group, runProgram } from "./command.ts";
import {
  exporterRunCommand,
  exporterServeCommand,
  helpCommand,
  versionCommand,
} from "./commands/mod.ts";

/** The `jmp-exporter` program: its name, summary and command groups. */
export const jmpExporter: Group = {
  name: "jmp-exporter",
  summary: "Jumpstarter exporter: serve the drivers of a test bench",
  commands: [exporterRunCommand, exporterServeCommand, helpCommand, versionCommand],
};

/** Runs `jmp-exporter` with `argv` (the arguments after the program name); returns the exit code. */
export function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return runProgram(jmpExporter, argv);
}

// No top-level await: the binaries are compiled to bytecode, which does not allow it.
if (import.meta.main) {
  main().then((code) => {
    process.exitCode = code;
  });
}
