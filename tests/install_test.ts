// `jmp install`: a controller set up on this host with a default client config, run by the
// systemd unit it writes (here: its ExecStart run directly).

import { strict as assert } from "node:assert";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { cliCommand, freePort } from "./fixtures/cli_processes.ts";

const JMP = cliCommand("jmp.ts", []);

Deno.test(
  "jmp install sets up the controller, a current default client and a systemd unit that runs it",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const unit = join(dir, "jmp-controller.service");
    const data = join(dir, "data");
    const install = await runToEnd([
      ...JMP,
      ...["install", "--systemd", "--unit-file", unit, "--data-dir", data],
      ...[
        "--listen",
        `127.0.0.1:${await freePort()}`,
        "--router-listen",
        `127.0.0.1:${await freePort()}`,
      ],
      ...["--metrics-listen", "127.0.0.1:0"],
    ], env);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /^Controller data in .*; endpoint 127\.0\.0\.1:\d+\n/);
    assert.match(install.stdout, /Using client config 'default'\n/);
    assert.match(
      install.stdout,
      /systemctl daemon-reload && systemctl enable --now jmp-controller/,
    );
    const client = join(dir, "xdg/jumpstarter/clients/default.yaml");
    assert.equal(statSync(client).mode & 0o777, 0o600);
    assert.match(readFileSync(client, "utf8"), /\n {2}ca: [A-Za-z0-9+/=]{100,}\n/);

    const execStart = /^ExecStart=(.*)$/m.exec(readFileSync(unit, "utf8"))?.[1];
    assert.ok(execStart, "the unit has an ExecStart");
    assert.match(execStart, /jmp-controller\.ts run .*--data-dir /);
    const controller = await startUntil(execStart.split(" "), env, "stdout", "advertised endpoint");
    try {
      const listed = await runToEnd([...JMP, "get", "exporters", "-o", "json"], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(JSON.parse(listed.stdout), []);
      // Installing again keeps the client config and its token.
      const before = readFileSync(client, "utf8");
      const again = await runToEnd([
        ...JMP,
        "install",
        "--data-dir",
        data,
        "--listen",
        "127.0.0.1:1",
        "--router-listen",
        "127.0.0.1:2",
      ], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /Client config 'default' exists .*; kept\n/);
      assert.equal(readFileSync(client, "utf8"), before);
    } finally {
      await controller.stop();
    }
  }),
);
