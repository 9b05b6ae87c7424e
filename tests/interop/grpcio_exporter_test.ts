// Python grpcio, the runtime of upstream's client, drives our exporter serving
// examples/demo-exporter.yaml over its Unix socket, using only upstream's method names and Value
// encoding (grpcio_exporter_client.py reports what it saw; the assertions are here).

import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { MockPowerDriver } from "../../drivers/power/mock_power.ts";
import { ignoreUnlessInstalled } from "../fixtures/optional_tools.ts";
import { withLocalExporter } from "../fixtures/local_exporter.ts";
import { withTempDir } from "../fixtures/temp_dir.ts";
import { grpcioMissing, runPythonClient } from "./grpcio_runner.ts";

const DEMO = join(dirname(fileURLToPath(import.meta.url)), "../../examples/demo-exporter.yaml");
const POWER_CLIENT = "jumpstarter_driver_power.client.PowerClient";
const SHELL_CLIENT = "jumpstarter_driver_shell.client.ShellClient";
const NAME = "jumpstarter.dev/name";
const CLIENT = "jumpstarter.dev/client";

/** A DriverCall result as decoded by json_format, and the Value kind that carried it. */
interface CallFact {
  result: unknown;
  kind: string | null;
}

/** The JSON grpcio_exporter_client.py prints. */
interface Facts {
  report_uuid: string;
  reports: {
    uuid: string;
    parent_uuid: string;
    labels: Record<string, string>;
    description: string;
    methods_description: Record<string, string>;
  }[];
  on: CallFact;
  off: CallFact;
  readings: unknown[];
  methods: unknown;
  greet_chunks: unknown[][];
  greet_stdout: string;
  greet_stderr: string;
  greet_returncode: number | null;
  missing_method: { method: string; code: string; details: string };
}

/** A power log line with the MockPower state seen when the driver wrote it. */
interface PowerEvent {
  message: string;
  isOn: boolean;
}

const missing = grpcioMissing();

Deno.test({
  name: `Python grpcio drives the demo exporter's power and shell over its Unix socket${
    missing ? ` (ignored: ${missing})` : ""
  }`,
  ignore: ignoreUnlessInstalled(missing),
  async fn(t) {
    let facts!: Facts;
    const powerEvents: PowerEvent[] = [];
    let finalIsOn: boolean | undefined;

    await withLocalExporter(readFileSync(DEMO, "utf8"), async ({ address, exporter }) => {
      const node = exporter.session.tree.nodes.find((n) => n.name === "power");
      assert.ok(node, "no power node in the driver tree");
      const power = node.driver as MockPowerDriver;
      assert.equal(typeof power.isOn, "boolean", "MockPower exposes isOn");
      // The driver logs each switch right after making it; the next call needs a network round
      // trip from Python, so the state read when the line arrives is the state that call left.
      const stopLogs = new AbortController();
      const watching = (async () => {
        for await (const entry of exporter.session.logs.subscribe(stopLogs.signal)) {
          if (entry.name === "power") {
            powerEvents.push({ message: entry.message, isOn: power.isOn });
          }
        }
      })();
      const run = await runPythonClient("grpcio_exporter_client.py", ["--target", address]);
      stopLogs.abort();
      await watching;
      finalIsOn = power.isOn;
      assert.equal(
        run.code,
        0,
        `grpcio client failed (code ${run.code}, signal ${run.signal}): ${run.stderr.trim()}`,
      );
      facts = JSON.parse(run.stdout) as Facts;
    });

    await t.step(
      "GetReport lists the root first, without a parent, then power, board, shell",
      () => {
        const [root, ...rest] = facts.reports;
        assert.equal(root.uuid, facts.report_uuid);
        assert.equal(root.parent_uuid, "");
        const byName = new Map(rest.map((r) => [r.labels[NAME], r]));
        assert.deepEqual([...byName.keys()], ["power", "board", "shell"]);
        const power = byName.get("power")!;
        assert.deepEqual(power.labels, { [CLIENT]: POWER_CLIENT, [NAME]: "power" });
        assert.equal(power.parent_uuid, root.uuid);
        assert.equal(power.description, "Simulated power switch of the board");
        assert.equal(byName.get("board")!.parent_uuid, root.uuid);
        const shell = byName.get("shell")!;
        assert.equal(shell.parent_uuid, byName.get("board")!.uuid);
        assert.equal(shell.labels[CLIENT], SHELL_CLIENT);
        assert.equal(shell.methods_description.greet, "Greet someone (argument - a name)");
      },
    );

    await t.step("DriverCall on and off return null and switch the MockPower", () => {
      assert.equal(facts.on.result, null);
      assert.equal(facts.off.result, null);
      // Upstream's exporter sends None as an explicit null_value, not an absent result.
      assert.equal(facts.on.kind, "null_value");
      assert.equal(facts.off.kind, "null_value");
      assert.deepEqual(powerEvents, [
        { message: "power on", isOn: true },
        { message: "power off", isOn: false },
      ]);
      assert.equal(finalIsOn, false);
    });

    await t.step("StreamingDriverCall read streams upstream's two MockPower readings", () => {
      assert.deepEqual(facts.readings, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
    });

    await t.step("Shell get_methods lists the configured commands in config order", () => {
      assert.deepEqual(facts.methods, ["uname", "greet", "fail"]);
    });

    await t.step("Shell call_method streams [stdout, stderr, returncode], the code last", () => {
      assert.ok(facts.greet_chunks.length > 0, "no chunks");
      for (const chunk of facts.greet_chunks) assert.equal(chunk.length, 3);
      for (const chunk of facts.greet_chunks.slice(0, -1)) assert.equal(chunk[2], null);
      assert.equal(facts.greet_stdout, "hello, grpcio\n");
      assert.equal(facts.greet_stderr, "");
      assert.equal(facts.greet_returncode, 0);
    });

    await t.step("DriverCall of an unknown method fails with NOT_FOUND naming it", () => {
      assert.equal(facts.missing_method.code, "NOT_FOUND");
      assert.match(facts.missing_method.details, new RegExp(`"${facts.missing_method.method}"`));
      assert.match(facts.missing_method.details, /not found on driver power/);
    });
  },
});

Deno.test({
  name: `Python grpcio writes a gzip image to a storage mux as upstream's client sends resources${
    missing ? ` (ignored: ${missing})` : ""
  }`,
  ignore: ignoreUnlessInstalled(missing),
  fn: withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    const raw = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i >> 8) & 0xff);
    const gz = join(dir, "disk.img.gz");
    writeFileSync(gz, gzipSync(raw));
    const config = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: storage }
export:
  storage:
    type: StorageMux
    config: { path: ${image} }
`;
    await withLocalExporter(config, async ({ address }) => {
      const run = await runPythonClient("grpcio_exporter_client.py", [
        ...["--target", address, "--upload-gzip", gz],
      ]);
      assert.equal(run.code, 0, `grpcio client failed: ${run.stderr.trim()}`);
      const facts = JSON.parse(run.stdout);
      assert.equal(facts.accepted, "gzip", "the exporter accepts gzip");
      assert.equal(facts.handle.kind, "client_stream");
      assert.equal(facts.handle.x_jmp_content_encoding, "gzip");
      assert.equal(facts.write.bytes, raw.length);
      assert.equal(facts.write.sha256, createHash("sha256").update(raw).digest("hex"));
      assert.deepEqual(new Uint8Array(readFileSync(image)), raw);
    });
  }),
});
