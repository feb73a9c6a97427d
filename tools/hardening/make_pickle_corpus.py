"""Writes the malicious-pickle corpus that the Swift tests feed to the restricted pickle machine.

Each payload is assembled opcode by opcode in the styles fickling and picklescan catalogue
(os.system, builtins eval/exec/getattr/__import__, subprocess, posix, runpy, webbrowser, nested
REDUCE, INST/OBJ/NEWOBJ_EX, BUILD with __setstate__, memo tricks, protocol 0/1 opcodes,
STACK_GLOBAL with hidden strings, a tensor storage whose key is a call …). Every "live" payload
creates the file /tmp/nextgpt-pickle-marker-<name> when Python unpickles it; `--live-check`
proves that by running each one with pickle.loads (or torch.load) in a child process.

Each payload is written three ways:
  <name>.pkl          the raw pickle
  <name>.pt / .bin    a torch.save zip (archive/data.pkl, archive/byteorder, archive/data/0, archive/version)
  <name>.legacy.pt    a pre-1.6 torch.save file with the payload as its object pickle
                      (payloads named sysinfo_* sit in the sys_info pickle instead)
and manifest.tsv lists: name, the text the refusal must contain, live (yes/no), description.

Usage: tools/.venv/bin/python tools/hardening/make_pickle_corpus.py [--out DIR] [--live-check]
"""

import argparse
import io
import os
import struct
import subprocess
import sys
import zipfile

MARKER_PREFIX = "/tmp/nextgpt-pickle-marker-"

# --- a tiny pickle assembler -------------------------------------------------------------------

MARK, STOP, POP, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b"(", b".", b"0", b"t", b"\x85", b"\x86", b"\x87"
REDUCE, BUILD, EMPTY_TUPLE, EMPTY_DICT, EMPTY_LIST = b"R", b"b", b")", b"}", b"]"
APPENDS, SETITEM, SETITEMS, MEMOIZE, STACK_GLOBAL = b"e", b"s", b"u", b"\x94", b"\x93"
NEWOBJ, NEWOBJ_EX, NONE, BINPERSID = b"\x81", b"\x92", b"N", b"Q"


def proto(n):
    return b"\x80" + bytes([n])


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text):
    """A str: SHORT_BINUNICODE or BINUNICODE."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def u8(text):
    raw = text.encode()
    return b"\x8d" + struct.pack("<Q", len(raw)) + raw


def binunicode(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def py2str(text):
    """SHORT_BINSTRING: a Python 2 str (decoded as latin-1 / ASCII by Python 3)."""
    raw = text.encode()
    return b"U" + bytes([len(raw)]) + raw


def binput(i):
    return b"q" + bytes([i])


def binget(i):
    return b"h" + bytes([i])


def long_binput(i):
    return b"r" + struct.pack("<I", i)


def long_binget(i):
    return b"j" + struct.pack("<I", i)


def binint1(i):
    return b"K" + bytes([i])


def call(callable_bytes, *args):
    """callable(*args) with REDUCE."""
    return callable_bytes + MARK + b"".join(args) + TUPLE + REDUCE


def str_list(items):
    return EMPTY_LIST + MARK + b"".join(u(x) for x in items) + APPENDS


# --- payloads ----------------------------------------------------------------------------------


def marker(name):
    return MARKER_PREFIX + name


def shell(name):
    return f"touch {marker(name)}"


def python(name):
    return f"open({marker(name)!r}, 'w').close()"


def payloads():
    """(name, pickle bytes, text the refusal must contain, live, description)."""
    out = []

    def add(name, body, expect, description, live=True):
        out.append((name, body, expect, live, description))

    def refused(module, name):
        return f"refusing global '{module}.{name}'"

    # Direct calls of dangerous globals, protocol 2.
    for module, fn, arg_kind in [
        ("os", "system", "shell"), ("posix", "system", "shell"), ("os", "popen", "shell"),
        ("builtins", "eval", "python"), ("builtins", "exec", "python"),
        ("__builtin__", "eval", "python"),  # Python 2 name, mapped to builtins by fix_imports
        ("cProfile", "run", "python"), ("numpy.testing._private.utils", "runstring", "python+dict"),
        ("runpy", "_run_code", "python+dict"), ("subprocess", "call", "argv"),
        ("subprocess", "check_output", "argv"), ("subprocess", "run", "argv"), ("subprocess", "Popen", "argv"),
        ("os", "makedirs", "path"), ("os", "mknod", "path"), ("builtins", "open", "path+w"),
        ("_io", "FileIO", "path+w"), ("io", "open", "path+w"), ("pty", "spawn", "argv"),
    ]:
        name = f"{module.replace('.', '_').strip('_')}_{fn.strip('_')}"
        args = {
            "shell": u(shell(name)),
            "python": u(python(name)),
            "python+dict": u(python(name)) + EMPTY_DICT,
            "argv": str_list(["touch", marker(name)]),
            "path": u(marker(name)),
            "path+w": u(marker(name)) + u("w"),
        }[arg_kind]
        add(name, proto(2) + call(glob(module, fn), args) + STOP, refused(module, fn),
            f"{module}.{fn}(...) through GLOBAL + REDUCE")

    add("timeit_timeit", proto(2) + call(glob("timeit", "timeit"), u("pass"), u(python("timeit_timeit")), glob("time", "perf_counter"), binint1(1)) + STOP,
        refused("timeit", "timeit"), "timeit.timeit(stmt, setup=code): the setup string is executed")
    add("webbrowser_open", proto(2) + call(glob("webbrowser", "open"), u("file://" + marker("webbrowser_open"))) + STOP,
        refused("webbrowser", "open"), "webbrowser.open (opens a browser if one is configured; no marker)", live=False)
    add("nt_system", proto(2) + call(glob("nt", "system"), u(shell("nt_system"))) + STOP,
        refused("nt", "system"), "nt.system: os.system's Windows module (no marker on Linux)", live=False)

    # Nested REDUCE: getattr(__import__('os'), 'system')(cmd).
    name = "builtins_getattr_import"
    inner = call(glob("builtins", "getattr"), call(glob("builtins", "__import__"), u("os")), u("system"))
    add(name, proto(2) + inner + MARK + u(shell(name)) + TUPLE + REDUCE + STOP, refused("builtins", "getattr"),
        "getattr(__import__('os'), 'system')(cmd): nested REDUCE")
    # __import__ seen first, parked in the memo, then fetched: the memo trick.
    name = "builtins_import_via_memo"
    body = proto(2) + glob("builtins", "__import__") + binput(0) + POP
    body += glob("builtins", "getattr") + MARK + binget(0) + MARK + u("os") + TUPLE + REDUCE + u("system") + TUPLE + REDUCE
    body += MARK + u(shell(name)) + TUPLE + REDUCE + STOP
    add(name, body, refused("builtins", "__import__"), "__import__ stored in the memo and fetched later by BINGET")
    name = "exec_compile_nested"
    add(name, proto(2) + call(glob("builtins", "exec"), call(glob("builtins", "compile"), u(python(name)), u("<x>"), u("exec"))) + STOP,
        refused("builtins", "exec"), "exec(compile(code, '<x>', 'exec')): nested REDUCE")
    name = "eval_deep_nesting"
    body = proto(2) + glob("builtins", "eval") + MARK + u(python(name)) + TUPLE + REDUCE
    body = proto(2) + EMPTY_LIST * 0 + MARK * 40 + body[2:] + TUPLE * 40 + STOP
    add(name, body, refused("builtins", "eval"), "eval(...) buried in 40 nested tuples")
    name = "operator_methodcaller"
    body = proto(2) + call(glob("operator", "methodcaller"), u("system"), u(shell(name)))
    body += MARK + call(glob("builtins", "__import__"), u("os")) + TUPLE + REDUCE + STOP
    add(name, body, refused("operator", "methodcaller"), "methodcaller('system', cmd)(__import__('os'))")
    name = "functools_partial"
    body = proto(2) + call(glob("functools", "partial"), glob("os", "system"), u(shell(name))) + EMPTY_TUPLE + REDUCE + STOP
    add(name, body, refused("functools", "partial"), "functools.partial(os.system, cmd)()")
    name = "copyreg_extension"
    body = proto(2) + call(glob("copyreg", "add_extension"), u("os"), u("system"), binint1(240)) + POP
    body += b"\x82" + bytes([240]) + MARK + u(shell(name)) + TUPLE + REDUCE + STOP
    add(name, body, refused("copyreg", "add_extension"), "registers os.system as extension code 240, then EXT1 240")
    name = "torch_load_from_bytes"
    nested = proto(2) + call(glob("os", "system"), u(shell(name))) + STOP
    raw = b"C" + bytes([len(nested)]) + nested if len(nested) < 256 else b"B" + struct.pack("<I", len(nested)) + nested
    add(name, proto(2) + glob("torch.storage", "_load_from_bytes") + MARK + raw + TUPLE + REDUCE + STOP,
        refused("torch.storage", "_load_from_bytes"), "torch.storage._load_from_bytes(b): torch.load of a nested malicious pickle")

    # Protocol 0 and 1.
    name = "proto0_text"
    body = b"cos\nsystem\n(S'" + shell(name).encode() + b"'\ntR."
    add(name, body, refused("os", "system"), "protocol 0 text pickle: GLOBAL, MARK, STRING, TUPLE, REDUCE")
    name = "proto1_binary"
    body = b"cos\nsystem\nq\x00(" + binunicode(shell(name)) + b"tq\x01R."
    add(name, body, refused("os", "system"), "protocol 1: BINPUT, BINUNICODE, no PROTO opcode")
    name = "inst_os_system"
    body = MARK + binunicode(shell(name)) + b"ios\nsystem\n" + STOP
    add(name, body, "INST", "INST opcode: os.system(cmd) with the class read inline")
    name = "obj_os_system"
    body = MARK + glob("os", "system") + binunicode(shell(name)) + b"o" + STOP
    add(name, body, refused("os", "system"), "OBJ opcode: MARK, os.system, cmd, OBJ")
    name = "obj_allowed_class_then_system"
    body = MARK + glob("collections", "OrderedDict") + b"o" + POP + call(glob("os", "system"), u(shell(name))) + STOP
    add(name, body, "OBJ", "OBJ of an allowed class (the opcode itself is refused), then os.system")
    name = "newobj_ex_then_system"
    body = proto(4) + glob("collections", "OrderedDict") + EMPTY_TUPLE + EMPTY_DICT + NEWOBJ_EX + POP
    body += call(glob("os", "system"), u(shell(name))) + STOP
    add(name, body, "NEWOBJ_EX", "NEWOBJ_EX (protocol 4) of OrderedDict, then os.system")
    name = "newobj_popen"
    body = proto(2) + glob("subprocess", "Popen") + MARK + str_list(["touch", marker(name)]) + TUPLE + NEWOBJ + POP
    body += call(glob("subprocess", "call"), str_list(["touch", marker(name)])) + STOP
    add(name, body, refused("subprocess", "Popen"), "NEWOBJ of subprocess.Popen, then subprocess.call")

    # BUILD with __setstate__: set an instance attribute __setstate__ = os.system, then BUILD(cmd).
    name = "build_setstate"
    body = proto(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    body += NONE + EMPTY_DICT + u("__setstate__") + glob("os", "system") + SETITEM + TUPLE2 + BUILD
    body += u(shell(name)) + BUILD + STOP
    add(name, body, refused("os", "system"), "BUILD (None, {'__setstate__': os.system}) then BUILD(cmd) calls it")
    name = "build_setstate_stack_global"
    body = proto(4) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    body += NONE + EMPTY_DICT + u("__setstate__") + u("posix") + u("system") + STACK_GLOBAL + SETITEM + TUPLE2 + BUILD
    body += u(shell(name)) + BUILD + STOP
    add(name, body, refused("posix", "system"), "the same with posix.system named by STACK_GLOBAL")

    # STACK_GLOBAL with the names hidden.
    name = "stack_global_plain"
    add(name, proto(4) + u("os") + MEMOIZE + u("system") + MEMOIZE + STACK_GLOBAL + MEMOIZE
        + u(shell(name)) + TUPLE1 + REDUCE + STOP, refused("os", "system"), "STACK_GLOBAL('os', 'system')")
    name = "stack_global_memo_hidden"
    # The strings sit in an innocent-looking dict first, memoised, and are fetched much later.
    body = proto(4) + EMPTY_DICT + MEMOIZE + MARK + u("module") + u("subprocess") + MEMOIZE + u("fn") + u("call") + MEMOIZE
    body += SETITEMS + POP + long_binget(1) + long_binget(2) + STACK_GLOBAL + str_list(["touch", marker(name)]) + TUPLE1 + REDUCE + STOP
    add(name, body, refused("subprocess", "call"), "module and name strings memoised inside a dict, fetched by LONG_BINGET")
    name = "stack_global_binunicode8"
    add(name, proto(4) + u8("builtins") + u8("exec") + STACK_GLOBAL + u8(python(name)) + TUPLE1 + REDUCE + STOP,
        refused("builtins", "exec"), "STACK_GLOBAL of BINUNICODE8 strings")
    name = "stack_global_py2_strings"
    add(name, proto(2) + py2str("posix") + py2str("system") + STACK_GLOBAL + py2str(shell(name)) + TUPLE1 + REDUCE + STOP,
        refused("posix", "system"), "STACK_GLOBAL of SHORT_BINSTRING (Python 2 str) names")
    name = "stack_global_memo_swap"
    # memo[0] first holds an allowed name, then is overwritten with the dangerous one before use.
    body = proto(4) + u("collections") + long_binput(0) + POP + u("OrderedDict") + long_binput(1) + POP
    body += u("runpy") + long_binput(0) + POP + u("_run_code") + long_binput(1) + POP
    body += long_binget(0) + long_binget(1) + STACK_GLOBAL + u(python(name)) + EMPTY_DICT + TUPLE2 + REDUCE + STOP
    add(name, body, refused("runpy", "_run_code"), "memo entries overwritten between PUT and GET")

    # Checkpoint-shaped payloads: a state dict whose tensor is fine but whose storage is a call.
    def state_dict(storage_key_bytes, storage_type=glob("torch", "FloatStorage"), rebuild=glob("torch._utils", "_rebuild_tensor_v2")):
        pid = MARK + u("storage") + storage_type + storage_key_bytes + u("cpu") + binint1(4) + TUPLE
        tensor = rebuild + MARK + pid + BINPERSID + binint1(0) + MARK + binint1(4) + TUPLE + MARK + binint1(1) + TUPLE
        tensor += b"\x89" + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
        return proto(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + u("weight") + tensor + SETITEM + STOP

    name = "tensor_storage_key_is_call"
    add(name, state_dict(call(glob("os", "system"), u(shell(name)))), refused("os", "system"),
        "a state dict whose storage key is os.system(cmd): runs before torch's persistent_load")
    name = "tensor_storage_type_is_callable"
    add(name, state_dict(u("0"), storage_type=glob("os", "system")), refused("os", "system"),
        "a storage whose type is os.system (torch fails later; nothing here may even resolve it)", live=False)
    name = "tensor_rebuild_is_eval"
    add(name, proto(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + u("weight")
        + call(glob("builtins", "eval"), u(python(name))) + SETITEM + STOP, refused("builtins", "eval"),
        "a state dict whose tensor is rebuilt by builtins.eval")
    name = "tensor_then_system"
    body = state_dict(u("0"))[:-1] + u("bias") + call(glob("os", "system"), u(shell(name))) + SETITEM + STOP
    add(name, body, refused("os", "system"), "a valid tensor first, then os.system under the next key")
    name = "torch_other_rebuild"
    add(name, state_dict(u("0"), rebuild=glob("torch._utils", "_rebuild_device_tensor_from_numpy")),
        refused("torch._utils", "_rebuild_device_tensor_from_numpy"),
        "a torch rebuild function outside the allow-list", live=False)

    # Legacy file with the payload in its sys_info pickle (torch.load unpickles that too).
    name = "sysinfo_os_system"
    add(name, proto(2) + call(glob("os", "system"), u(shell(name))) + STOP, refused("os", "system"),
        "legacy torch file whose sys_info pickle calls os.system (raw/zip forms: the same payload as data.pkl)")
    return out


# --- containers --------------------------------------------------------------------------------

LEGACY_MAGIC = proto(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP
LEGACY_VERSION = proto(2) + b"M" + struct.pack("<H", 1001) + STOP
LEGACY_SYS_INFO = (proto(2) + EMPTY_DICT + MARK + u("protocol_version") + b"M" + struct.pack("<H", 1001)
                   + u("little_endian") + b"\x88" + u("type_sizes") + EMPTY_DICT + MARK + u("short") + binint1(2)
                   + u("int") + binint1(4) + u("long") + binint1(4) + SETITEMS + SETITEMS + STOP)
LEGACY_KEYS = proto(2) + EMPTY_LIST + MARK + u("0") + APPENDS + STOP


def legacy(name, pickle_bytes):
    storage = struct.pack("<q", 4) + b"\0" * 16
    if name.startswith("sysinfo_"):
        harmless = proto(2) + EMPTY_DICT + STOP
        return LEGACY_MAGIC + LEGACY_VERSION + pickle_bytes + harmless + proto(2) + EMPTY_LIST + STOP
    return LEGACY_MAGIC + LEGACY_VERSION + LEGACY_SYS_INFO + pickle_bytes + LEGACY_KEYS + storage


def torch_zip(pickle_bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        for entry, data in [("archive/data.pkl", pickle_bytes), ("archive/byteorder", b"little"),
                            ("archive/data/0", b"\0" * 16), ("archive/version", b"3\n")]:
            info = zipfile.ZipInfo(entry, date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return buffer.getvalue()


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for index, (name, body, expect, live, description) in enumerate(payloads()):
        assert body.endswith(STOP), name
        zip_ext = ".pt" if index % 2 == 0 else ".bin"
        for suffix, data in [(".pkl", body), (zip_ext, torch_zip(body)), (".legacy.pt", legacy(name, body))]:
            with open(os.path.join(out_dir, name + suffix), "wb") as f:
                f.write(data)
        rows.append(f"{name}\t{zip_ext}\t{expect}\t{'yes' if live else 'no'}\t{description}")
    with open(os.path.join(out_dir, "manifest.tsv"), "w") as f:
        f.write("# name\tzip extension\trefusal contains\tlive (creates /tmp/nextgpt-pickle-marker-<name> under pickle.loads)\tdescription\n")
        f.write("\n".join(rows) + "\n")
    return rows


CHILD = r"""
import pickle, sys
path, how = sys.argv[1], sys.argv[2]
try:
    if how == "pickle":
        pickle.loads(open(path, "rb").read())
    else:
        import torch
        torch.load(path, weights_only=False)
except BaseException as e:
    print(type(e).__name__, str(e)[:100])
"""


def live_check(out_dir, rows):
    """Runs every payload in a child Python and reports whether its marker appeared."""
    import glob as globbing
    import time
    fired = {"pickle": 0, "torch": 0}
    confirmed = 0
    for row in rows:
        name, zip_ext, _, live, _ = row.split("\t")
        created_by = []
        for how, path in [("pickle", name + ".pkl"), ("torch", name + zip_ext)]:
            for stale in globbing.glob(MARKER_PREFIX + "*"):
                subprocess.run(["rm", "-rf", stale])
            subprocess.run([sys.executable, "-c", CHILD, os.path.join(out_dir, path), how],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            time.sleep(0.2)  # Popen / popen children
            created = os.path.exists(marker(name))
            fired[how] += created
            if created:
                created_by.append(how)
            subprocess.run(["rm", "-rf", marker(name)])
        confirmed += live == "yes" and bool(created_by)
        if live == "yes" and not created_by:
            print(f"  {name}: live payload created no marker")
    total = sum(1 for r in rows if r.split("\t")[3] == "yes")
    print(f"live payloads: {total} of {len(rows)}, confirmed (marker created): {confirmed}; "
          f"markers created by pickle.loads: {fired['pickle']}, by torch.load(weights_only=False) of the zip form: {fired['torch']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "Tests", "Fixtures", "malicious-pickles"))
    parser.add_argument("--live-check", action="store_true",
                        help="unpickle every payload with Python in a child process and check its marker appears")
    args = parser.parse_args()
    rows = write(args.out)
    print(f"wrote {len(rows)} payloads × 3 forms to {os.path.normpath(args.out)}")
    if args.live_check:
        live_check(args.out, rows)


if __name__ == "__main__":
    main()
