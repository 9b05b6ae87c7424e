// Access policies applied with `jmp admin apply -f` to a running `jmp-controller run`: they decide
// who may lease which exporters and for how long, from the next lease on.

import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ControllerConnection } from "../client/mod.ts";
import { loadClientConfig } from "../config/mod.ts";
import { runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { cliCommand } from "./fixtures/cli_processes.ts";

Deno.test(
  "jmp admin apply -f: a policy admits one team for at most 1h and refuses the others",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const data = join(dir, "data");
    const admin = (args: string[]) =>
      runToEnd(cliCommand("jmp.ts", ["admin", ...args, "--data-dir", data]), env);
    const controller = await startUntil(
      cliCommand("jmp-controller.ts", [
        ...["run", "--data-dir", data, "--insecure-plaintext", "--no-metrics"],
        ...["--listen", "127.0.0.1:0", "--router-listen", "127.0.0.1:0"],
      ]),
      env,
      "stdout",
      "advertised endpoint",
    );
    try {
      const clients: Record<string, ControllerConnection> = {};
      for (const [name, team] of [["alice", "a"], ["bob", "b"]]) {
        const file = join(dir, `${name}.yaml`);
        const made = await admin(["create", "client", name, "-l", `team=${team}`, "--out", file]);
        assert.equal(made.code, 0, made.stderr);
        clients[name] = new ControllerConnection(await loadClientConfig(file));
      }
      assert.equal((await admin(["create", "exporter", "bench", "-l", "board=rpi4"])).code, 0);
      const policy = join(dir, "policy.yaml");
      writeFileSync(
        policy,
        "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterAccessPolicy\n" +
          "metadata: {name: rpi-team-a}\nspec:\n  exporterSelector: {matchLabels: {board: rpi4}}\n" +
          "  policies:\n    - from: [{clientSelector: {matchLabels: {team: a}}}]\n" +
          "      maximumDuration: 1h\n      priority: 5\n",
      );
      const applied = await admin(["apply", "-f", policy]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.stdout, "exporteraccesspolicy default/rpi-team-a applied\n");
      const listed = await admin(["get", "policies"]);
      assert.match(listed.stdout, /rpi-team-a\s+board=rpi4\s+team=a prio 5 max 1h\n/);

      const lease = (who: string, minutes: number) =>
        clients[who].createLease({ selector: "board=rpi4", durationMs: minutes * 60_000 });
      // Allowed (it waits: the exporter is not running); too long or the wrong team: refused.
      assert.deepEqual(
        [(await lease("alice", 30)).state, (await lease("alice", 120)).state],
        ["Pending", "NoAccess"],
      );
      const refused = await lease("bob", 30);
      assert.equal(refused.state, "NoAccess");
      assert.match(refused.message, /client bob may not lease an exporter matching board=rpi4/);

      assert.equal((await admin(["delete", "policy", "rpi-team-a"])).code, 0);
      assert.equal((await lease("bob", 30)).state, "Pending", "no policy: everyone may");
      const bad = await admin(["apply", "-f", join(dir, "missing.yaml")]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^error: .*missing\.yaml: ENOENT\n$/);
      for (const c of Object.values(clients)) c[Symbol.dispose]();
    } finally {
      await controller.stop();
    }
  }),
);
