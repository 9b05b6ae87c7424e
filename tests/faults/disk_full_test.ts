// The controller's disk fills up: writes (new leases) are refused with a clear message, reads
// (listings) go on, and once there is room again everything works, with nothing lost. The data
// folder is a 2 MiB tmpfs filled with a file, so this needs the right to mount (root).

import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ControllerConnection } from "../../client/mod.ts";
import { parseClientConfig } from "../../config/mod.ts";
import { startControllerServer } from "../../controller/mod.ts";
import { formatAddress } from "../../transport/mod.ts";
import { withTempDir } from "../fixtures/temp_dir.ts";

// Whether a tmpfs can be mounted here (root in a container that allows it).
function canMount(): boolean {
  const probe = `/tmp/jmp-mount-probe-${Deno.pid}`;
  mkdirSync(probe, { recursive: true });
  const mounted =
    spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]).status === 0;
  if (mounted) spawnSync("umount", [probe]);
  rmSync(probe, { recursive: true, force: true });
  return mounted;
}

const MOUNTABLE = canMount();

Deno.test({
  name: `a full disk refuses new leases clearly, keeps serving reads, and recovers${
    MOUNTABLE ? "" : " (ignored: cannot mount a tmpfs here)"
  }`,
  ignore: !MOUNTABLE,
  fn: withTempDir(async (dir) => {
    const disk = join(dir, "disk");
    mkdirSync(disk);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk]);
    try {
      const server = await startControllerServer({
        dataDir: join(disk, "controller"),
        listen: "127.0.0.1:0",
        routerListen: "127.0.0.1:0",
      });
      try {
        const { store, issuer } = server.controller;
        const record = await store.createClient({ namespace: "lab", name: "alice", labels: {} });
        const token = await issuer.issueIdentityToken({
          kind: "client",
          namespace: "lab",
          name: "alice",
          uid: record.uid,
        });
        using alice = new ControllerConnection(parseClientConfig(
          `metadata: {namespace: lab, name: alice}\n` +
            `endpoint: "http://${formatAddress(server.server.address)}"\ntoken: ${token}\n`,
          join(dir, "alice.yaml"),
        ));
        const first = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
        // Fill the disk to the last byte.
        const filler = join(disk, "filler");
        spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore" });
        const refused = await (async () => {
          // SQLite may still have room in pages it holds; keep asking until the disk says no.
          for (let i = 0; i < 200; i++) {
            try {
              await alice.createLease({ selector: `board=x${i}`, durationMs: 60_000 });
            } catch (err) {
              return err;
            }
          }
          return undefined;
        })();
        assert.ok(refused instanceof ConnectError, `refused: ${refused}`);
        assert.notEqual(refused.code, Code.Unauthenticated);
        assert.match(refused.rawMessage, /full/i);
        assert.ok(!refused.rawMessage.includes("\n"), "one line");
        // Reads go on.
        const listed = await alice.listLeases({ all: true });
        assert.ok(listed.some((l) => l.name === first.name));
        // Room again: writes work, nothing was lost.
        writeFileSync(filler, "");
        rmSync(filler);
        const after = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
        const names = (await alice.listLeases({ all: true })).map((l) => l.name);
        assert.ok(names.includes(first.name) && names.includes(after.name));
      } finally {
        await server.close();
      }
    } finally {
      execFileSync("umount", [disk]);
    }
  }),
});
