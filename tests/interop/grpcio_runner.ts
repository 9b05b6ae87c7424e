// Runs the Python grpcio scripts of the interop tests with Debian's python3 (upstream's gRPC
// runtime), without blocking the event loop that serves them.

import { spawn, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PYTHON = "/usr/bin/python3";
const HERE = dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = resolve(HERE, "../../proto");
/** The google/rpc protos come from the google-proto-files npm package. */
export const GOOGLE_PROTO_DIR = resolve(HERE, "../../node_modules/google-proto-files");
/** A safety net for a hung call, not a performance bound. */
const CLIENT_KILL_AFTER_MS = 300_000;

/** Why grpcio cannot run here, or undefined when it can. */
export function grpcioMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (probe.error) return `${PYTHON} cannot run (${probe.error.message})`;
  if (probe.status !== 0) return `${PYTHON} lacks grpcio or grpcio-tools`;
  return undefined;
}

/** How a script ended and what it printed. */
export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` (a file in tests/interop/) with `args` after the proto locations.
 *
 * @example
 * ```ts
 * const run = await runPythonClient("grpcio_client.py", ["--target", "unix:/tmp/s.sock"]);
 * ```
 */
export function runPythonClient(script: string, args: string[]): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      PYTHON,
      [
        join(HERE, script),
        "--proto-dir",
        PROTO_DIR,
        "--google-proto-dir",
        GOOGLE_PROTO_DIR,
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const killer = setTimeout(() => child.kill("SIGKILL"), CLIENT_KILL_AFTER_MS);
    child.on("error", (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}
