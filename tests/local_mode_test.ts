// `jmp shell` in local mode, run as the user runs it: a process that spawns the exporter, runs a
// command with `j` on PATH, and cleans up.

import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Run, runToEnd } from "./fixtures/processes_io.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const JMP = [process.execPath, "run", "-A", join(ROOT, "cli/jmp.ts")];
const DEMO = join(ROOT, "examples/demo-exporter.yaml");

function jmp(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runToEnd([...JMP, ...args], { ...process.env, ...env });
}

function shell(...command: string[]): Promise<Run> {
  return jmp(["shell", "--exporter-config", DEMO, "--", ...command]);
}

Deno.test("j power on inside jmp shell switches the power and exits 0", async () => {
  const run = await shell("j", "power", "on");
  assert.equal(run.stdout, "power on\n", run.stderr);
  assert.equal(run.code, 0);
});

Deno.test("j alone lists the driver tree with clients and descriptions", async () => {
  const run = await shell("j");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^power +PowerClient +Simulated power switch of the board$/m);
  assert.match(run.stdout, /^board +CompositeClient +The device under test$/m);
  assert.match(run.stdout, /^ {2}shell +ShellClient/m);
  const json = await shell("j", "-o", "json");
  const tree = JSON.parse(json.stdout);
  assert.deepEqual(tree.children.map((c: { name: string }) => c.name), ["power", "board"]);
  assert.equal(tree.children[1].children[0].client, "jumpstarter_driver_shell.client.ShellClient");
  assert.equal(tree.children[0].methods.on, "Turn the power on");
});

Deno.test("shell driver commands stream output and their exit code is the shell's", async () => {
  const greet = await shell("j", "board", "shell", "greet", "ada");
  assert.equal(greet.stdout, "hello, ada\n", greet.stderr);
  assert.equal(greet.code, 0);
  const fail = await shell("j", "board", "shell", "fail");
  assert.equal(fail.code, 3);
  assert.match(fail.stderr, /something went wrong/);
});

Deno.test("power cycle and read work as verbs with options", async () => {
  const run = await shell("sh", "-c", "j power cycle --wait 0 && j power read -o json");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout,
    'power off\npower on\n{"voltage":0,"current":0}\n{"voltage":5,"current":2}\n',
  );
});

Deno.test("--help at every level of j comes from the report's descriptions", async () => {
  const top = await shell("j", "--help");
  assert.match(top.stdout, /power +Simulated power switch of the board/);
  const board = await shell("j", "board", "shell", "--help");
  assert.match(board.stdout, /uname +Print the exporter host's system and machine/);
  assert.match(board.stdout, /greet +Greet someone/);
  const unknown = await shell("j", "powr", "on");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: unknown command "powr" \(see 'j --help'\)$/m);
});

Deno.test("the command's exit code is jmp shell's, and the session is cleaned up", async () => {
  const run = await shell("sh", "-c", 'echo "$JUMPSTARTER_HOST"; exit 7');
  assert.equal(run.code, 7, run.stderr);
  const socket = run.stdout.trim();
  assert.match(socket, /exporter\.sock$/);
  assert.ok(!existsSync(socket), "the socket is gone");
  assert.ok(!existsSync(dirname(socket)), "the private folder is gone");
});

// Starts `jmp shell -- sh -c 'echo $JUMPSTARTER_HOST; exec sleep 30'` in its own process group
// (as a terminal would) and waits until the command runs.
async function sleepingShell() {
  const [cmd, ...rest] = JMP;
  const child = spawn(cmd, [
    ...rest,
    ...["shell", "--exporter-config", DEMO, "--", "sh", "-c"],
    'echo "$JUMPSTARTER_HOST"; exec sleep 30',
  ], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const socket = await new Promise<string>((resolve) =>
    child.stdout.once("data", (d) => resolve(String(d).trim()))
  );
  assert.ok(existsSync(socket));
  const closed = new Promise<[number | null, string | null]>((resolve) =>
    child.on("close", (code, signal) => resolve([code, signal]))
  );
  return { child, socket, closed };
}

Deno.test("SIGTERM to jmp shell ends the command and the exporter and cleans up", async () => {
  const { child, socket, closed } = await sleepingShell();
  child.kill("SIGTERM");
  const [code, signal] = await closed;
  // A shell sees 143 either way: Deno ends a process that handled SIGTERM by re-raising it,
  // a compiled binary exits with 128 + 15.
  assert.ok(code === 128 + 15 || signal === "SIGTERM", `code ${code}, signal ${signal}`);
  assert.ok(!existsSync(dirname(socket)), "the private folder is gone");
});

Deno.test("Ctrl-C (SIGINT to the process group) ends the command; jmp shell cleans up", async () => {
  const { child, socket, closed } = await sleepingShell();
  process.kill(-child.pid!, "SIGINT");
  const [code] = await closed;
  assert.equal(code, 128 + 2, "the command's death by SIGINT is the exit code");
  assert.ok(!existsSync(dirname(socket)), "the private folder is gone");
});

Deno.test("a command that crashes (SIGKILL) still gets the session cleaned up", async () => {
  const { child, socket, closed } = await sleepingShell();
  spawn("pkill", ["-KILL", "-g", String(child.pid), "-x", "sleep"]);
  const [code] = await closed;
  assert.equal(code, 128 + 9);
  assert.ok(!existsSync(dirname(socket)), "the private folder is gone");
});

Deno.test("an upstream-style config with Python type names runs unchanged", async () => {
  const run = await jmp([
    "shell",
    "--exporter-config",
    join(ROOT, "examples/upstream-exporter.yaml"),
    "--",
    "sh",
    "-c",
    "j power off && j composite shell hello",
  ]);
  assert.equal(run.stdout, "power off\nhello from upstream-style config\n", run.stderr);
  assert.equal(run.code, 0);
});

Deno.test("a broken exporter config fails with one line naming file, path and cause", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-bad-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: bad}\n" +
        "export:\n  power:\n    type: MockPowr\n",
    );
    const run = await jmp(["shell", "--exporter-config", file, "--", "true"]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr.trim().split("\n").length,
      1,
      `one line, no stack trace: ${run.stderr}`,
    );
    assert.match(
      run.stderr,
      /bad\.yaml: export\.power\.type: unknown driver type "MockPowr" \(did you mean "MockPower"/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("j outside a jmp shell says where to run it", async () => {
  const env = { ...process.env } as Record<string, string>;
  delete env.JUMPSTARTER_HOST;
  const [cmd, ...rest] = JMP;
  const child = spawn(cmd, [...rest, "j", "power", "on"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  assert.equal(code, 1);
  assert.match(stderr, /run it inside `jmp shell`/);
});

Deno.test("the example device test passes inside jmp shell (env() finds the exporter)", async () => {
  const run = await shell(process.execPath, "test", "-A", join(ROOT, "examples/board_checks.ts"));
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /2 passed/);
});

Deno.test("jmp shell --exporter NAME finds the config under XDG_CONFIG_HOME", async () => {
  const home = mkdtempSync(join(tmpdir(), "jmp-xdg-"));
  try {
    mkdirSync(join(home, "jumpstarter/exporters"), { recursive: true });
    copyFileSync(DEMO, join(home, "jumpstarter/exporters/bench.yaml"));
    const env = { XDG_CONFIG_HOME: home };
    const run = await jmp(["shell", "--exporter", "bench", "--", "j", "power", "on"], env);
    assert.equal(run.stdout, "power on\n", run.stderr);
    const viaGroup = await jmp([
      "exporter",
      "shell",
      "--exporter",
      "bench",
      "--",
      "j",
      "power",
      "off",
    ], env);
    assert.equal(viaGroup.stdout, "power off\n", viaGroup.stderr);
    const missing = await jmp(["shell", "--exporter", "nope", "--", "true"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

Deno.test("the exporter stops by itself when jmp shell is killed outright", async () => {
  const { child, socket, closed } = await sleepingShell();
  const exporterRunning = () =>
    spawnSync("pgrep", ["-f", "--", `--listen unix:${socket}`]).status === 0;
  assert.ok(exporterRunning());
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  process.kill(-child.pid!, "SIGKILL"); // the command, orphaned with jmp gone
  await closed;
  for (let i = 0; i < 50 && exporterRunning(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(!exporterRunning(), "the exporter noticed its stdin close and stopped");
  rmSync(dirname(socket), { recursive: true, force: true });
});
