import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../config/mod.ts";
import {
  DeviceUnavailableError,
  DriverError,
  DriverTimeoutError,
  NotImplementedError,
} from "../framework/mod.ts";
import { gone, readPidFile } from "../../tests/fixtures/processes.ts";
import { build, invoke, readAll } from "../../tests/fixtures/driver_harness.ts";
import { createCommandPower } from "./mod.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";

Deno.test(
  "CommandPower on and off run their commands",
  withTempDir(async (dir) => {
    const state = join(dir, "state");
    const power = await build(createCommandPower, {
      on: `echo on > ${state}`,
      off: `echo "$OUTLET off" > ${state}`,
      env: { OUTLET: 3 },
    });
    assert.equal(power.client, "jumpstarter_driver_power.client.PowerClient");
    await invoke(power, "on");
    assert.equal(readFileSync(state, "utf8"), "on\n");
    await invoke(power, "off");
    assert.equal(readFileSync(state, "utf8"), "3 off\n");
  }),
);

Deno.test(
  "CommandPower runs in cwd, relative to the config file's folder",
  withTempDir(async (dir) => {
    mkdirSync(join(dir, "relay"));
    const power = await build(
      createCommandPower,
      { on: "pwd > state", off: "true", cwd: "relay", shell: ["bash", "-c"] },
      dir,
    );
    await invoke(power, "on");
    assert.equal(readFileSync(join(dir, "relay", "state"), "utf8"), `${join(dir, "relay")}\n`);
  }),
);

Deno.test("CommandPower read parses JSON or two numbers, one reading per call", async () => {
  const json = await build(createCommandPower, {
    on: "true",
    off: "true",
    read: `echo '{"voltage": 12.1, "current": 0.5}'`,
  });
  assert.deepEqual(await readAll(json), [{ voltage: 12.1, current: 0.5 }]);
  const plain = await build(createCommandPower, { on: "true", off: "true", read: "echo 12.1 0.5" });
  assert.deepEqual(await readAll(plain), [{ voltage: 12.1, current: 0.5 }]);
});

Deno.test("CommandPower read refuses output that is not a reading", async () => {
  for (const output of ["12.1", "12.1 0.5 7", "on", '{"voltage": "12"}', ""]) {
    const power = await build(createCommandPower, {
      on: "true",
      off: "true",
      read: `echo '${output}'`,
    });
    await assert.rejects(
      () => readAll(power),
      (e: unknown) =>
        e instanceof DriverError && /^read: expected the read command/.test(e.message),
      output,
    );
  }
});

Deno.test("CommandPower without a read command says so", async () => {
  const power = await build(createCommandPower, { on: "true", off: "true" });
  await assert.rejects(
    () => readAll(power),
    (e: unknown) =>
      e instanceof NotImplementedError &&
      e.message === "this power driver has no read command configured",
  );
});

Deno.test("a failing command reports its exit code and last stderr line", async () => {
  const power = await build(createCommandPower, {
    on: "echo trying >&2; echo relay busy >&2; exit 3",
    off: "exit 1",
  });
  const err = await Promise.resolve(invoke(power, "on")).then(() => undefined, (e) => e);
  assert.ok(err instanceof DriverError && !(err instanceof DeviceUnavailableError));
  assert.equal(err.message, "on: command exited with 3: relay busy");
  await assert.rejects(
    async () => await invoke(power, "off"),
    (e: unknown) => e instanceof DriverError && e.message === "off: command exited with 1",
  );
});

Deno.test("a command that cannot be started makes the device unavailable", async () => {
  const missingTool = await build(createCommandPower, { on: "/nonexistent/relayctl", off: "true" });
  await assert.rejects(
    async () => await invoke(missingTool, "on"),
    (e: unknown) =>
      e instanceof DeviceUnavailableError && /^on: command exited with 127: /.test(e.message),
  );
  const missingShell = await build(createCommandPower, {
    on: "true",
    off: "true",
    shell: ["/nonexistent/sh", "-c"],
  });
  await assert.rejects(
    async () => await invoke(missingShell, "on"),
    (e: unknown) =>
      e instanceof DeviceUnavailableError && /^on: cannot run \/nonexistent\/sh/.test(e.message),
  );
});

Deno.test(
  "a command over the timeout is killed and times out",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const power = await build(createCommandPower, {
      on: `sleep 5 & echo $! > ${pidFile}; wait`,
      off: "true",
      timeout: 0.2,
    });
    await assert.rejects(
      async () => await invoke(power, "on"),
      (e: unknown) => e instanceof DriverTimeoutError && e.message === "on: timed out after 0.2s",
    );
    assert.ok(await gone(await readPidFile(pidFile)), "the sleep is gone");
  }),
);

Deno.test(
  "aborting the call kills the command",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const power = await build(createCommandPower, {
      on: `echo $$ > ${pidFile}; exec sleep 30`,
      off: "true",
    });
    const abort = new AbortController();
    const call = Promise.resolve(invoke(power, "on", [], { signal: abort.signal }));
    const pid = await readPidFile(pidFile);
    abort.abort(new Error("client went away"));
    await assert.rejects(call, /client went away/);
    assert.ok(await gone(pid));
  }),
);

Deno.test("CommandPower config mistakes name their YAML path", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ off: "true" }, "test.yaml: export.power.config.on: is required"],
    [{ on: "true" }, "test.yaml: export.power.config.off: is required"],
    [{ on: "", off: "true" }, "test.yaml: export.power.config.on: must not be empty"],
    [{ on: "true", off: "true", timeout: "1m" }, "export.power.config.timeout: must be a number"],
    [{ on: "true", off: "true", shell: "sh" }, "export.power.config.shell: must be a list"],
    [{ on: "true", off: "true", env: { A: [] } }, "export.power.config.env.A: must be a string"],
  ];
  for (const [config, message] of cases) {
    await assert.rejects(
      () => build(createCommandPower, config),
      (e: unknown) => e instanceof ConfigError && e.message.includes(message),
      message,
    );
  }
});
