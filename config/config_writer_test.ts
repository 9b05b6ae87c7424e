import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { ConfigError } from "./errors.ts";
import { updateYaml, writeFileAtomic } from "./config_writer.ts";

Deno.test(
  "an atomic write replaces the file, with the mode asked, and leaves no temp file",
  withTempDir((dir) => {
    const file = join(dir, "clients", "lab.yaml");
    writeFileAtomic(file, "token: a\n", { mode: 0o600 });
    writeFileAtomic(file, "token: b\n", { mode: 0o600 });
    assert.equal(readFileSync(file, "utf8"), "token: b\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "clients")).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(dir, "clients")), ["lab.yaml"]);
  }),
);

Deno.test(
  "a failed write changes nothing and names the file",
  withTempDir((dir) => {
    // A parent that is a file cannot hold the new one (permission tests are moot as root).
    writeFileSync(join(dir, "clients"), "not a folder\n");
    const file = join(dir, "clients", "lab.yaml");
    assert.throws(
      () => writeFileAtomic(file, "token: new\n"),
      (err: unknown) =>
        err instanceof ConfigError && err.message.startsWith(`${file}: cannot write: `),
    );
    assert.equal(readFileSync(join(dir, "clients"), "utf8"), "not a folder\n");
    assert.deepEqual(readdirSync(dir), ["clients"]);
  }),
);

Deno.test("updating YAML keeps comments and order, and can remove keys", () => {
  const text = "# my lab\nconfig:\n  current-client: a # set by hand\n  other: 1\n";
  assert.equal(
    updateYaml(text, [[["config", "current-client"], "b"], [["config", "other"], undefined]]),
    "# my lab\nconfig:\n  current-client: b # set by hand\n",
  );
});
