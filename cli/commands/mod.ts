// The commands that every Jumpstarter binary offers.
export { helpCommand } from "./help.ts";
export { versionCommand } from "./version.ts";
