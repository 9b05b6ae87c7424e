// `j storage ...` inside `jmp shell`, with upstream's MockStorageMux type name.

import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runToEnd } from "./fixtures/processes_io.ts";
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
