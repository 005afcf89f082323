"""Print the path of an executable built by `just build`.

Usage: built.py BUILT_JSON KIND NAME, with KIND one of bench, example, test, bin.
BUILT_JSON is cargo's --message-format=json output of that build; running the
binary it names (instead of `cargo run -p ...`) keeps the feature set of the
whole-workspace build, so nothing compiles twice.
"""
import json
import sys

path, kind, name = sys.argv[1:4]
found = []
with open(path) as f:
    for line in f:
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        target = msg["target"]
        if kind in target["kind"] and target["name"] == name:
            found.append(msg["executable"])
if len(found) != 1:
    sys.exit(f"expected one built {kind} `{name}` in {path}, found {found or 'none'}: run `just build` first")
print(found[0])
