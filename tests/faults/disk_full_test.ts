// The controller's disk fills up, or its data folder turns read-only: writes (new leases) are
// refused with a clear message, reads (listings) go on, and once the disk is back everything
// works, with nothing lost. The data folder is a 2 MiB tmpfs, filled with a file or remounted
// read-only, so these need the right to mount (root).

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

// A controller (plaintext, loopback) whose data is in `disk/controller`.
function startOn(disk: string) {
  return startControllerServer({
    dataDir: join(disk, "controller"),
    listen: "127.0.0.1:0",
    routerListen: "127.0.0.1:0",
  });
}

// A connection of client "alice" (made in the store when `create`) to `server`.
async function aliceOf(
  server: Awaited<ReturnType<typeof startOn>>,
  dir: string,
  create: boolean,
): Promise<ControllerConnection> {
  const { store, issuer } = server.controller;
  const record = create
    ? await store.createClient({ namespace: "lab", name: "alice", labels: {} })
    : (await store.getClient("lab", "alice"))!;
  const token = await issuer.issueIdentityToken({
    kind: "client",
    namespace: "lab",
    name: "alice",
    uid: record.uid,
  });
  return new ControllerConnection(parseClientConfig(
    `metadata: {namespace: lab, name: alice}\n` +
      `endpoint: "http://${formatAddress(server.server.address)}"\ntoken: ${token}\n`,
    join(dir, "alice.yaml"),
  ));
}

// A fresh 2 MiB tmpfs at `dir/disk` for the duration of `fn`.
async function withTmpfs(dir: string, fn: (disk: string) => Promise<void>): Promise<void> {
  const disk = join(dir, "disk");
  mkdirSync(disk);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk]);
  try {
    await fn(disk);
  } finally {
    execFileSync("umount", [disk]);
  }
}

// Asks for leases until the store refuses one (SQLite may still have room in pages it holds).
async function refusedLease(alice: ControllerConnection): Promise<unknown> {
  for (let i = 0; i < 200; i++) {
    try {
      await alice.createLease({ selector: `board=x${i}`, durationMs: 60_000 });
    } catch (err) {
      return err;
    }
  }
  return undefined;
}

const IGNORED = MOUNTABLE ? "" : " (ignored: cannot mount a tmpfs here)";

Deno.test({
  name: `a full disk refuses new leases clearly, keeps serving reads, and recovers${IGNORED}`,
  ignore: !MOUNTABLE,
  fn: withTempDir((dir) =>
    withTmpfs(dir, async (disk) => {
      const server = await startOn(disk);
      try {
        using alice = await aliceOf(server, dir, true);
        const first = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
        // Fill the disk to the last byte.
        const filler = join(disk, "filler");
        spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore" });
        const refused = await refusedLease(alice);
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
    })
  ),
});

// A folder turns read-only while files in it are open only by force (the kernel's
// errors=remount-ro); here the controller is started again on a folder mounted read-only.
Deno.test({
  name:
    `a controller on a read-only data folder serves reads and refuses changes clearly${IGNORED}`,
  ignore: !MOUNTABLE,
  fn: withTempDir((dir) =>
    withTmpfs(dir, async (disk) => {
      let server = await startOn(disk);
      let first;
      try {
        using alice = await aliceOf(server, dir, true);
        first = await alice.createLease({ selector: "board=rpi4", durationMs: 600_000 });
      } finally {
        await server.close();
      }
      execFileSync("mount", ["-o", "remount,ro", disk]);
      try {
        server = await startOn(disk);
        try {
          using alice = await aliceOf(server, dir, false);
          const listed = await alice.listLeases({ all: true });
          assert.ok(listed.some((l) => l.name === first.name), "reads go on");
          const refused = await alice
            .createLease({ selector: "board=rpi4", durationMs: 60_000 })
            .catch((e) => e);
          assert.ok(refused instanceof ConnectError, `refused: ${refused}`);
          assert.equal(Code[refused.code], Code[Code.Unavailable], refused.message);
          assert.match(refused.rawMessage, /state\.db: the file system is read-only/);
          assert.ok(!refused.rawMessage.includes("\n"), "one line");
        } finally {
          await server.close();
        }
      } finally {
        execFileSync("mount", ["-o", "remount,rw", disk]);
      }
      server = await startOn(disk);
      try {
        using alice = await aliceOf(server, dir, false);
        const after = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
        const names = (await alice.listLeases({ all: true })).map((l) => l.name);
        assert.ok(names.includes(first.name) && names.includes(after.name), "nothing was lost");
      } finally {
        await server.close();
      }
    })
  ),
});
