// A real exporter for the bench: `jmp-exporter serve` on Deno or Bun, on a Unix socket.

import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The command that runs `script` of this repository on `runtime`. */
export function runtimeCommand(runtime: "deno" | "bun", bun: string, script: string): string[] {
  return runtime === "deno"
    ? [process.execPath, "run", "-A", "--config", join(ROOT, "deno.json"), join(ROOT, script)]
    : [bun, "run", join(ROOT, script)];
}

/** Starts `jmp-exporter serve` (as `command`) on `config` at Unix socket `socket`; returns its stop. */
export async function startExporter(command: string[], config: string, socket: string) {
  const [cmd, ...args] = command;
  const child = spawn(cmd, [
    ...args,
    "serve",
    "--exporter-config",
    config,
    "--listen",
    `unix:${socket}`,
    "--log-level",
    "error",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("listening on")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the exporter exited with ${code}`)));
  });
  return async () => {
    child.removeAllListeners("exit");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
}
