// `j storage ...` and `j flasher ...` inside `jmp shell`, with upstream's type names.

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runToEnd } from "./fixtures/processes_io.ts";
import { ignoreUnlessInstalled, toolMissing } from "./fixtures/optional_tools.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

Deno.test(
  "j storage host / write / dut work in a shell and the image is verified",
  withTempDir(async (dir) => {
    const config = join(dir, "bench.yaml");
    writeFileSync(
      config,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: s}\n" +
        "export:\n  storage: {type: jumpstarter_driver_opendal.driver.MockStorageMux}\n",
    );
    const image = join(dir, "disk.img");
    const data = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
    writeFileSync(image, data);
    const sha = createHash("sha256").update(data).digest("hex");
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith("jmp-mock-storage-")).length;
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--exporter-config", config, "--"],
      ...[
        "sh",
        "-c",
        `j storage write ${image}; j storage host && j storage write ${image} && ` +
        `j storage read ${join(dir, "back.img")} && j storage dut`,
      ],
    ], process.env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^error: storage\.write_sparse: write_sparse: the disk is connected to off; call host\(\) first\n/,
    );
    assert.equal(
      run.stdout,
      `storage: host\nwrote ${data.length} bytes, sha256 ${sha} (verified)\n` +
        `read ${data.length} bytes into ${join(dir, "back.img")}, sha256 ${sha} (verified)\n` +
        "storage: dut\n",
    );
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, "back.img"))), data);
    const after = readdirSync(tmpdir()).filter((n) => n.startsWith("jmp-mock-storage-")).length;
    assert.equal(after, before, "the mock's image is removed with the exporter");
  }),
);

const XZ_MISSING = toolMissing("xz");
Deno.test({
  name: `j flasher flash / dump a partition, and a storage mux flasher's flash${
    XZ_MISSING ? ` (ignored: ${XZ_MISSING})` : ""
  }`,
  ignore: ignoreUnlessInstalled(XZ_MISSING),
  fn: withTempDir(async (dir) => {
    const config = join(dir, "bench.yaml");
    writeFileSync(
      config,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: f}\n" +
        "export:\n  flasher: {type: jumpstarter_driver_opendal.driver.MockFlasher}\n" +
        "  sdwire: {type: jumpstarter_driver_opendal.driver.MockStorageMuxFlasher}\n",
    );
    const image = join(dir, "fw.img");
    const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 5) % 253);
    writeFileSync(image, data);
    execFileSync("xz", ["-k", image]);
    const sha = createHash("sha256").update(data).digest("hex");
    const back = join(dir, "back.img");
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--exporter-config", config, "--"],
      ...[
        "sh",
        "-c",
        `j flasher dump ${back} --partition boot; ` +
        `j flasher flash ${image}.xz --partition boot && ` +
        `j flasher dump ${back} --partition boot && j sdwire flash ${image} && j flasher flash --help`,
      ],
    ], process.env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^error: flasher\.dump: dump: partition boot was never flashed\n/,
    );
    const [flashed, dumped, written, ...help] = run.stdout.split("\n");
    assert.match(
      flashed,
      new RegExp(
        `^wrote ${data.length} bytes \\(sent .* compressed\\), sha256 ${sha} \\(verified\\)$`,
      ),
    );
    assert.equal(dumped, `read ${data.length} bytes into ${back}, sha256 ${sha} (verified)`);
    assert.equal(written, `wrote ${data.length} bytes, sha256 ${sha} (verified)`);
    assert.match(help.join("\n"), /j flasher flash IMAGE[\s\S]*--bmap FILE[\s\S]*--partition NAME/);
    assert.deepEqual(new Uint8Array(readFileSync(back)), data);
  }),
});
