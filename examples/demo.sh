# What `deno task demo` runs inside `jmp shell --exporter-config examples/demo-exporter.yaml`:
# the same commands a developer types at the bench.
set -e
step() {
  printf '\n$ %s\n' "$*"
  "$@"
}
echo "jmp shell started the exporter of examples/demo-exporter.yaml on $JUMPSTARTER_HOST"
step j
step j power on
step j power cycle --wait 1
step j power read
step j board shell uname
step j board shell greet jumpstarter
printf '\n$ j board shell fail   (a failing command: its exit code comes back)\n'
if j board shell fail; then exit 1; else echo "exit code $?"; fi
step j power off
echo
echo "done: the exporter stops and its socket is removed when this shell exits"
