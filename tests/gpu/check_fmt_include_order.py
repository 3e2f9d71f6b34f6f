"""Checks that every translation unit resolves <fmt/...> to the system fmt.

usage: check_fmt_include_order.py COMPILE_COMMANDS.json SYSTEM_FMT_INCLUDE_DIR [LINK_DIR]

LibTorch from pip bundles fmt headers (torch/include/fmt) of another version
than the system fmt that spdlog and libfmt.so were built with, and
torch/include comes as -isystem, ahead of the implicit /usr/include. The
build adds a directory with a link to the system fmt as -I (CMakeLists.txt,
"fmt"); this walks each compile command in the compiler's search order for
<...> includes (-I, then -isystem, then the implicit directories, where the
system fmt lives) and fails naming every unit whose first fmt/core.h is not
the system one. A self-test first runs the same resolver on a made-up
command with a shadowing fmt, so the check is known to bite even on a
machine (Debian) whose LibTorch bundles no fmt; with LINK_DIR (the build's
-I directory of the link) every unit that sees LibTorch must also carry it,
so the protection is in place where nothing shadows fmt yet.
"""
import json
import os
import shlex
import sys
import tempfile


def search_path(arguments):
    """Directories searched for <...> includes, in the compiler's order (GCC, nvcc)."""
    quote, system = [], []
    i = 0
    while i < len(arguments):
        a = arguments[i]
        for flag, into in (("-I", quote), ("-isystem", system)):
            if a == flag and i + 1 < len(arguments):
                into.append(arguments[i + 1])
                i += 1
                break
            if a.startswith(flag) and len(a) > len(flag) and not (flag == "-I" and a.startswith("-isystem")):
                into.append(a[len(flag):])
                break
        i += 1
    return quote + system


def first_fmt(arguments, directory, implicit):
    for d in search_path(arguments) + implicit:
        d = d if os.path.isabs(d) else os.path.join(directory, d)
        if os.path.isfile(os.path.join(d, "fmt", "core.h")):
            return os.path.realpath(os.path.join(d, "fmt"))
    return None


def arguments_of(entry):
    return entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])


def self_test(system_fmt):
    with tempfile.TemporaryDirectory() as tmp:
        fake = os.path.join(tmp, "torch", "include")
        os.makedirs(os.path.join(fake, "fmt"))
        open(os.path.join(fake, "fmt", "core.h"), "w").close()
        link = os.path.join(tmp, "system-fmt")
        os.makedirs(link)
        os.symlink(os.path.join(system_fmt, "fmt"), os.path.join(link, "fmt"))
        want = os.path.realpath(os.path.join(system_fmt, "fmt"))
        shadowed = ["c++", "-isystem", fake, "-c", "x.cpp"]
        assert first_fmt(shadowed, tmp, [system_fmt]) == os.path.realpath(os.path.join(fake, "fmt")), \
            "self-test: a bundled fmt given as -isystem must shadow the implicit system fmt"
        fixed = ["c++", "-isystem", fake, f"-I{link}", "-c", "x.cpp"]
        assert first_fmt(fixed, tmp, [system_fmt]) == want, "self-test: -I must win over -isystem"


def main():
    commands_path, system_fmt = sys.argv[1], sys.argv[2]
    link_dir = os.path.realpath(sys.argv[3]) if len(sys.argv) > 3 else None
    self_test(system_fmt)
    want = os.path.realpath(os.path.join(system_fmt, "fmt"))
    with open(commands_path) as f:
        entries = json.load(f)
    bad, torch_units = [], 0
    for entry in entries:
        arguments = arguments_of(entry)
        sees_torch = any("torch" in d for d in search_path(arguments))
        torch_units += sees_torch
        got = first_fmt(arguments, entry.get("directory", "."), [system_fmt])
        if got != want:
            bad.append(f"{entry['file']}: <fmt/core.h> from {got}, not {want}")
        elif link_dir and sees_torch and link_dir not in (os.path.realpath(d) for d in search_path(arguments)):
            bad.append(f"{entry['file']}: no -I{link_dir} on its command line")
    print(f"{len(entries)} units, {torch_units} with LibTorch include directories on the command line; "
          f"system fmt {want}")
    if bad:
        print("units whose fmt is not the system one:\n  " + "\n  ".join(bad[:20]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
