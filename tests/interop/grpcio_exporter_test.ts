// Python grpcio, the runtime of upstream's client, drives our exporter over its Unix socket
// using only upstream's method names and Value encoding (grpcio_exporter_client.py).

import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ignoreUnlessInstalled } from "../fixtures/optional_tools.ts";
import { withLocalExporter } from "../fixtures/local_exporter.ts";
import { grpcioMissing, runPythonClient } from "./grpcio_runner.ts";

const DEMO = join(dirname(fileURLToPath(import.meta.url)), "../../examples/demo-exporter.yaml");
const missing = grpcioMissing();

interface Facts {
  report_uuid: string;
  reports: {
    uuid: string;
    parent_uuid: string;
    labels: Record<string, string>;
    description: string;
    methods_description: Record<string, string>;
  }[];
  on: unknown;
  readings: unknown[];
  off_then: unknown;
  methods: string[];
  greet_stdout: string;
  greet_returncode: number | null;
  missing_method: { code: string; details: string };
}

Deno.test({
  name: `Python grpcio calls GetReport and DriverCall(on) on our exporter's Unix socket${
    missing ? ` (ignored: ${missing})` : ""
  }`,
  ignore: ignoreUnlessInstalled(missing),
  async fn() {
    await withLocalExporter(readFileSync(DEMO, "utf8"), async ({ address, exporter }) => {
      // The driver's own log says whether the calls reached it.
      const stopLogs = new AbortController();
      const powerLog: string[] = [];
      const watching = (async () => {
        for await (const entry of exporter.session.logs.subscribe(stopLogs.signal)) {
          if (entry.name === "power") powerLog.push(entry.message);
        }
      })();
      const run = await runPythonClient("grpcio_exporter_client.py", ["--target", address]);
      stopLogs.abort();
      await watching;
      assert.equal(run.code, 0, `grpcio client failed: ${run.stderr.trim()}`);
      const facts = JSON.parse(run.stdout) as Facts;

      const [root, ...rest] = facts.reports;
      assert.equal(root.uuid, facts.report_uuid);
      assert.equal(root.parent_uuid, "", "the root has no parent");
      const byName = new Map(rest.map((r) => [r.labels["jumpstarter.dev/name"], r]));
      assert.deepEqual([...byName.keys()], ["power", "board", "shell"]);
      assert.deepEqual(byName.get("power")!.labels, {
        "jumpstarter.dev/client": "jumpstarter_driver_power.client.PowerClient",
        "jumpstarter.dev/name": "power",
      });
      assert.equal(byName.get("power")!.parent_uuid, root.uuid);
      assert.equal(byName.get("shell")!.parent_uuid, byName.get("board")!.uuid);
      assert.equal(
        byName.get("shell")!.labels["jumpstarter.dev/client"],
        "jumpstarter_driver_shell.client.ShellClient",
      );
      assert.equal(
        byName.get("shell")!.methods_description.greet,
        "Greet someone (argument - a name)",
      );

      assert.equal(facts.on, null);
      assert.equal(facts.off_then, null);
      assert.deepEqual(facts.readings, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
      assert.deepEqual(powerLog, ["power on", "power off"], "the calls reached the driver");
      assert.deepEqual(facts.methods, ["uname", "greet", "fail"]);
      assert.equal(facts.greet_stdout, "hello, grpcio\n");
      assert.equal(facts.greet_returncode, 0);
      assert.equal(facts.missing_method.code, "NOT_FOUND");
      assert.match(facts.missing_method.details, /method "explode" not found on driver power/);
    });
  },
});
