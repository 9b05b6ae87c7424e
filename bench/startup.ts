// The start-up part of `deno task bench`: the compiled `jmp --help` next to `node -e 0` (the
// reference a CLI user feels), and the resident memory of an idle compiled exporter.

import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { compile, hostTarget } from "../build/compile.ts";
import { ROOT } from "./exporter_peer.ts";

/** What start-up costs. */
export interface StartupRow {
  jmp_help_p50_ms: number;
  node_p50_ms: number;
  exporter_idle_rss_mb: number;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1];
}

// Wall-clock milliseconds of `command`, median of `runs`.
function timed(command: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(command[0], command.slice(1), { stdio: "ignore" });
    if (result.status !== 0) throw new Error(`${command.join(" ")} exited with ${result.status}`);
    times.push(performance.now() - started);
  }
  return median(times);
}

/** Builds `jmp` and `jmp-exporter` for this machine into `dir` and measures them. */
export async function measureStartup(options: { dir: string; runs: number }): Promise<StartupRow> {
  process.stderr.write("start-up: compiling jmp and jmp-exporter ...");
  const built = await compile({
    targets: [hostTarget()],
    only: ["jmp", "jmp-exporter"],
    toolchain: "bun",
    outDir: join(options.dir, "dist"),
    log: () => {},
  });
  const path = (name: string) => built.find((b) => b.name === name)!.path;
  timed([path("jmp"), "--help"], 2); // page cache warm
  const jmpHelp = timed([path("jmp"), "--help"], options.runs);
  const node = timed(["node", "-e", "0"], options.runs);
  const rss = await idleRss(path("jmp-exporter"), join(options.dir, "idle.sock"));
  process.stderr.write(" done\n");
  return { jmp_help_p50_ms: jmpHelp, node_p50_ms: node, exporter_idle_rss_mb: rss };
}

// The exporter serving the demo config, 2 s after it listens: its resident set in MB.
async function idleRss(exporter: string, socket: string): Promise<number> {
  const child = spawn(exporter, [
    ...["serve", "--exporter-config", join(ROOT, "examples/demo-exporter.yaml")],
    ...["--listen", `unix:${socket}`, "--log-level", "error"],
  ], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d) => String(d).includes("listening on") && resolve());
      child.once("exit", (code) => reject(new Error(`the exporter exited with ${code}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return kib / 1024;
  } finally {
    child.removeAllListeners("exit");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}
