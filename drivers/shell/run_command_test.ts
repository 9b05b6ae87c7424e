import { strict as assert } from "node:assert";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DeviceUnavailableError, DriverTimeoutError } from "../framework/mod.ts";
import { gone, readPidFile } from "../../tests/fixtures/processes.ts";
import { type CommandEvent, runCommand, runToCompletion } from "./run_command.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";

Deno.test("output and exit code come back in order", async () => {
  const events: CommandEvent[] = [];
  for await (
    const event of runCommand(["sh", "-c", "echo out; echo err >&2; exit 4"], { name: "t" })
  ) {
    events.push(event);
  }
  assert.deepEqual(events.filter((e) => e.kind === "stdout"), [{ kind: "stdout", text: "out\n" }]);
  assert.deepEqual(events.filter((e) => e.kind === "stderr"), [{ kind: "stderr", text: "err\n" }]);
  assert.deepEqual(events.at(-1), { kind: "exit", code: 4 });
});

Deno.test("a command killed by signal N exits with 128 + N", async () => {
  const result = await runToCompletion(["sh", "-c", "kill -KILL $$"], { name: "t" });
  assert.equal(result.code, 137);
});

Deno.test("a command that cannot start is unavailable, naming why", async () => {
  await assert.rejects(
    () => runToCompletion(["/nonexistent/relayctl"], { name: "on" }),
    (err: unknown) =>
      err instanceof DeviceUnavailableError &&
      err.message.startsWith("on: cannot run /nonexistent/relayctl: "),
  );
  await assert.rejects(
    () => runToCompletion(["sh", "-c", "true"], { name: "on", cwd: "/nonexistent/dir" }),
    (err: unknown) =>
      err instanceof DeviceUnavailableError &&
      err.message === "on: cannot run sh: working directory /nonexistent/dir does not exist",
  );
});

Deno.test(
  "a timeout kills the group, and SIGKILLs a descendant that ignores SIGTERM",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    // The descendant ignores SIGTERM and does not hold the output pipes, so only the final
    // group SIGKILL can end it.
    const command =
      `sh -c 'trap "" TERM; exec sleep 30' >/dev/null 2>&1 & echo $! > ${pidFile}; wait`;
    await assert.rejects(
      () => runToCompletion(["sh", "-c", command], { name: "slow", timeoutSeconds: 0.3 }),
      (err: unknown) =>
        err instanceof DriverTimeoutError && err.message === "slow: timed out after 0.3s",
    );
    assert.ok(await gone(await readPidFile(pidFile)), "the SIGTERM-proof sleep is gone");
  }),
);

Deno.test(
  "aborting kills the command and throws the signal's reason",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const abort = new AbortController();
    const run = runToCompletion(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`], {
      name: "slow",
      signal: abort.signal,
    });
    const pid = await readPidFile(pidFile);
    abort.abort(new Error("caller went away"));
    await assert.rejects(run, /caller went away/);
    assert.ok(await gone(pid));
    await assert.rejects(
      () => runToCompletion(["true"], { name: "late", signal: abort.signal }),
      /caller went away/,
      "an already aborted signal starts nothing",
    );
  }),
);

Deno.test(
  "a consumer that stops reading early leaves no process behind",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const events = runCommand(["sh", "-c", `echo $$ > ${pidFile}; echo first; exec sleep 30`], {
      name: "watch",
    });
    for await (const event of events) {
      assert.deepEqual(event, { kind: "stdout", text: "first\n" });
      break;
    }
    assert.ok(await gone(await readPidFile(pidFile)));
  }),
);

Deno.test("a slow consumer still gets every byte of a chatty command", async () => {
  const size = 8 * 1024 * 1024;
  let received = 0;
  let code: number | undefined;
  for await (const event of runCommand(["sh", "-c", `yes | head -c ${size}`], { name: "chatty" })) {
    if (event.kind === "stdout") received += event.text.length;
    else if (event.kind === "exit") code = event.code;
    await sleep(0); // yields to the event loop so that output piles up and pauses the pipe
  }
  assert.equal(received, size);
  assert.equal(code, 0);
});
