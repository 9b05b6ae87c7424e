import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { CliError } from "./command.ts";
import { defaultDataDir, readControllerInfo, writeControllerInfo } from "./controller_data.ts";

Deno.test("the data folder defaults to the env variable, then root's, then the user's", () => {
  const env = { HOME: "/home/ada", XDG_DATA_HOME: "/xdg" };
  assert.equal(defaultDataDir({ ...env, JMP_CONTROLLER_DATA_DIR: "/srv/c" }, 0), "/srv/c");
  assert.equal(defaultDataDir(env, 0), "/var/lib/jumpstarter/controller");
  assert.equal(defaultDataDir(env, 1000), "/xdg/jumpstarter/controller");
  assert.equal(
    defaultDataDir({ HOME: "/home/ada", XDG_DATA_HOME: "relative" }, 1000),
    "/home/ada/.local/share/jumpstarter/controller",
  );
});

Deno.test(
  "controller.json reads back what was written; a missing one says to run the controller",
  withTempDir(async (dir) => {
    const info = { endpoint: "lab:8082", routerEndpoint: "lab:8083", ca: null, plaintext: false };
    await writeControllerInfo(dir, info);
    assert.deepEqual(readControllerInfo(dir), info);
    assert.throws(
      () => readControllerInfo(join(dir, "elsewhere")),
      (err: Error) => err instanceof CliError && /run `jmp-controller run`/.test(err.message),
    );
    mkdirSync(join(dir, "broken"));
    writeFileSync(join(dir, "broken", "controller.json"), '{"endpoint": 1}');
    assert.throws(() => readControllerInfo(join(dir, "broken")), /expected \{endpoint/);
  }),
);
