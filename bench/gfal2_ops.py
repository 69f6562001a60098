"""gridprobe bench P1b: the gfal2 operation list of P1 done the way ETF's
storage probes drive gfal2, through its Python API inside one process, with
one context for every operation (gfal2's own session reuse: davix keeps its
HTTPS sessions, XrdCl its channels).

Input (stdin, JSON): {"tokens": [...], "timeout": seconds, "ops": [{"args":
["gfal-copy", "-f", src, dst], "proxy": path} or {"args": [...], "token": i,
"prefix": "https://host:port"}]}. The tokens were fetched before this
process started and reach gfal2 only through its credential API (BEARER for
the http plugin) and the BEARER_TOKEN variable of this process (XrdCl's ztn
reads it); they are never printed. Output (stdout, JSON): the time of the
operation list alone (import and context creation are timed apart), and per
operation whether it succeeded, the gfal2 error (its first line, cut) and
its time.

Run with Debian's interpreter (/usr/bin/python3) and python3-gfal2; this
file is gridprobe's own, driven by bench/gfalpy.go.
"""

import json
import os
import stat as statmod
import sys
import time

T_START = time.monotonic()
import gfal2  # noqa: E402  (timed: importing is part of the set-up)


def set_proxy(ctx, path):
    ctx.cred_clean()
    os.environ.pop("BEARER_TOKEN", None)
    ctx.set_opt_string("X509", "CERT", path)
    ctx.set_opt_string("X509", "KEY", path)


def set_token(ctx, token, prefix):
    ctx.cred_clean()
    for key in ("CERT", "KEY"):
        try:
            ctx.remove_opt("X509", key)
        except gfal2.GError:
            pass
    ctx.cred_set(prefix, ctx.cred_new("BEARER", token))
    os.environ["BEARER_TOKEN"] = token


def rm_recursive(ctx, url):
    """gfal-rm -r: what gfal2-util does (list, unlink the files, recurse, rmdir)."""
    st = ctx.stat(url)
    if not statmod.S_ISDIR(st.st_mode):
        ctx.unlink(url)
        return
    for name in ctx.listdir(url):
        if name in (".", ".."):
            continue
        rm_recursive(ctx, url.rstrip("/") + "/" + name)
    ctx.rmdir(url)


def run(ctx, args, timeout):
    """One gfal-* command line, done through the context."""
    tool, rest = args[0], args[1:]
    flags = [a for a in rest if a.startswith("-")]
    words = [a for a in rest if not a.startswith("-")]
    if tool == "gfal-stat":
        ctx.stat(words[0])
    elif tool == "gfal-ls":
        ctx.listdir(words[0])
    elif tool == "gfal-sum":
        ctx.checksum(words[0], words[1])
    elif tool == "gfal-mkdir":
        if "-p" in flags:
            ctx.mkdir_rec(words[0], 0o755)
        else:
            ctx.mkdir(words[0], 0o755)
    elif tool == "gfal-rm":
        if "-r" in flags:
            rm_recursive(ctx, words[0])
        else:
            ctx.unlink(words[0])
    elif tool == "gfal-copy":
        params = ctx.transfer_parameters()
        params.overwrite = "-f" in flags
        params.timeout = timeout
        ctx.filecopy(params, words[0], words[1])
    else:
        raise ValueError("unknown tool " + tool)


def main():
    spec = json.load(sys.stdin)
    tokens, timeout = spec["tokens"], int(spec.get("timeout", 30))
    ctx = gfal2.creat_context()
    ctx.set_opt_integer("CORE", "NAMESPACE_TIMEOUT", timeout)
    ctx.set_opt_integer("HTTP PLUGIN", "OPERATION_TIMEOUT", timeout)
    ctx.set_opt_integer("XROOTD PLUGIN", "OPERATION_TIMEOUT", timeout)
    setup = time.monotonic() - T_START
    out = []
    start = time.monotonic()
    for op in spec["ops"]:
        if "proxy" in op:
            set_proxy(ctx, op["proxy"])
        else:
            set_token(ctx, tokens[op["token"]], op["prefix"])
        t0 = time.monotonic()
        err = ""
        try:
            run(ctx, op["args"], timeout)
        except gfal2.GError as e:
            err = (str(e).splitlines() or ["gfal2 error"])[0][:200] or "gfal2 error"
        out.append({"ok": err == "", "error": err, "seconds": time.monotonic() - t0})
    wall = time.monotonic() - start
    json.dump({"setup_seconds": setup, "wall_seconds": wall, "ops": out}, sys.stdout)


if __name__ == "__main__":
    main()
