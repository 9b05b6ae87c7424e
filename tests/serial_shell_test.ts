// A test script logs in to a (fake) board over a real pty through `jmp shell`, and the console
// verbs of `j` work from scripts.

import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BOARD_LOGIN, fakeBoard } from "./fixtures/fake_board.ts";
import { ignoreUnlessInstalled } from "./fixtures/optional_tools.ts";
import { runToEnd } from "./fixtures/processes_io.ts";
import { SOCAT_MISSING, startPtyPair } from "./fixtures/pty_pair.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const skip = SOCAT_MISSING ? ` (ignored: ${SOCAT_MISSING})` : "";

async function withBoard(dir: string, test: (config: string) => Promise<void>) {
  const pair = await startPtyPair(dir);
  const board = fakeBoard(pair.board);
  const config = join(dir, "bench.yaml");
  writeFileSync(
    config,
    "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: serial}\n" +
      `export:\n  serial:\n    type: PySerial\n    config: {url: ${pair.device}}\n`,
  );
  try {
    await test(config);
  } finally {
    board.stop();
    await pair.stop();
  }
}

const jmpShell = (config: string, ...command: string[]) =>
  runToEnd(
    [
      process.execPath,
      "run",
      "-A",
      join(ROOT, "cli/jmp.ts"),
      "shell",
      "--exporter-config",
      config,
      "--",
      ...command,
    ],
    process.env,
  );

Deno.test({
  name: `a test script logs in through jmp shell with the expect helper${skip}`,
  ignore: ignoreUnlessInstalled(SOCAT_MISSING),
  fn: withTempDir((dir) =>
    withBoard(dir, async (config) => {
      const run = await jmpShell(
        config,
        process.execPath,
        "run",
        "-A",
        join(ROOT, "tests/fixtures/serial_login.ts"),
      );
      assert.equal(run.stdout, `logged in: ${BOARD_LOGIN.uname}\n`, run.stderr);
      assert.equal(run.code, 0);
    })
  ),
});

Deno.test({
  name: `j serial pipe carries a script's input to the board and its answers back${skip}`,
  ignore: ignoreUnlessInstalled(SOCAT_MISSING),
  fn: withTempDir((dir) =>
    withBoard(dir, async (config) => {
      // A wrong password gets "Login incorrect"; the pipe ends with its input.
      const run = await jmpShell(
        config,
        "sh",
        "-c",
        "(printf 'root\\rwrong\\r'; sleep 1) | j serial pipe",
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /Password: /);
      assert.match(run.stdout, /Login incorrect/);
      const noTty = await jmpShell(config, "j", "serial", "start-console");
      assert.equal(noTty.code, 1);
      assert.match(noTty.stderr, /start-console needs a terminal; use `pipe` from scripts/);
    })
  ),
});

// `script` (util-linux) gives start-console the terminal it needs, as a user at a prompt has.
const SCRIPT_MISSING = spawnSync("script", ["--version"]).error
  ? "script (util-linux) is not installed"
  : undefined;

Deno.test({
  name: `j serial start-console is interactive on a terminal and Ctrl-] leaves it${
    skip || (SCRIPT_MISSING ? ` (ignored: ${SCRIPT_MISSING})` : "")
  }`,
  ignore: ignoreUnlessInstalled(SOCAT_MISSING ?? SCRIPT_MISSING),
  fn: withTempDir((dir) =>
    withBoard(dir, async (config) => {
      const command = [
        process.execPath,
        ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--exporter-config", config],
        ...["--", "j", "serial", "start-console"],
      ].map((word) => `'${word}'`).join(" ");
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      const waitFor = async (text: string) => {
        for (let i = 0; i < 100 && !out.includes(text); i++) await sleep(50);
        assert.ok(out.includes(text), `no "${text}" in ${JSON.stringify(out)}`);
      };
      await waitFor("press Ctrl-] to leave");
      child.stdin.write(`${BOARD_LOGIN.user}\r`);
      await waitFor("Password: ");
      child.stdin.write(`${BOARD_LOGIN.password}\r`);
      await waitFor("Welcome!");
      child.stdin.write("\x1d"); // Ctrl-]
      const code = await new Promise((resolve) => child.on("close", resolve));
      assert.equal(code, 0, out);
      assert.match(out, /disconnected/);
    })
  ),
});
