"""Malicious twins of the library-written benign files (library.py): the same real-library
pickles, with the file itself doing what the library does on its own — running `uname -p`,
writing to /dev/shm, dlopen'ing a library of its choosing, binding a socket, importing a module
(by string, through importlib) whose import runs a process, opening a browser itself or through a
standard-library module whose import opens one (antigravity). The library's own behaviour is context;
the file's is a finding, so these stay malicious (issue #15).

Defanged like the rest of the corpus: `uname -p`, a file in the jail's /dev/shm, xgboost's own
library (nothing is called in it), a socket bound to ::1 port 0 (never listened on or
connected), browser pages under .invalid. antigravity's page is the standard library's own fixed
xkcd address: only ever opened inside the jail, where the browser is a recording decoy and the
network is the fake one.
"""
import os

import library
from catalog import Sample
from pickle_asm import Call, Global, attr, inject


def _twin(file, technique, description, evidence, make_carrier, payload):
    def write(path):
        with open(path, "wb") as f:
            f.write(inject(make_carrier(), payload))
    return Sample(f"malicious/twins/{file}", "malicious", technique, "pickle", description, evidence, write)


def _pickle_bytes(make, protocol=4):
    import pickle
    return lambda: pickle.dumps(make(), protocol=protocol)


def _pandas_frame_bytes():
    import io
    buf = io.BytesIO()
    library._frame().to_pickle(buf)
    return buf.getvalue()


def _libxgboost_path():
    import xgboost
    return os.path.join(os.path.dirname(xgboost.__file__), "lib", "libxgboost.so")


def samples():
    yield _twin("pandas_frame_popen_uname.pkl", "twin-pandas-popen-uname-p",
                "a real DataFrame.to_pickle with subprocess.Popen(['uname', '-p']) spliced in front (pandas' own "
                "import runs the same command: that one is context)", "exec uname",
                _pandas_frame_bytes, Call(Global("subprocess", "Popen"), (["uname", "-p"],)))
    yield _twin("sklearn_vectorizer_devshm_write.pkl", "twin-sklearn-devshm-write",
                "a real CountVectorizer pickle that itself opens /dev/shm/sem.mv_twin for writing (joblib's "
                "semaphore on import is context)", "write /dev/shm/sem.mv_twin",
                _pickle_bytes(library._sk("count_vectorizer")),
                Call(Global("builtins", "open"), ("/dev/shm/sem.mv_twin", "w")))
    yield _twin("xgboost_booster_ctypes_dlopen.pkl", "twin-xgboost-ctypes-dlopen",
                "a real xgboost Booster pickle that itself calls ctypes.CDLL on xgboost's libxgboost.so (xgboost's "
                "own dlopen on import is context)", "dlopen libxgboost.so",
                _pickle_bytes(library._booster), Call(Global("ctypes", "CDLL"), (_libxgboost_path(),)))
    yield _twin("pandas_series_socket_bind.pkl", "twin-socket-bind-loopback",
                "a real Series.to_pickle that itself binds an IPv6 socket to ::1 port 0 (urllib3's probe on import "
                "is context)", "bind ::1",
                _pickle_bytes(lambda: __import__("pandas").Series([1.0, 2.0])),
                Call(attr(Call(Global("socket", "socket"), (10, 1)), "bind"), (("::1", 0),)))
    yield _twin("config_importlib_pandas.pkl", "twin-importlib-pandas-by-string",
                "a config dict whose pickle imports pandas by string (importlib.import_module): the import and "
                "its `uname -p` are the file's doing, not a global the victim's process had loaded", "exec uname",
                _pickle_bytes(lambda: {"lr": 0.001, "epochs": 3}, protocol=2),
                Call(Global("importlib", "import_module"), ("pandas",)))
    yield _twin("sklearn_tree_webbrowser_open.pkl", "twin-webbrowser-open",
                "a real DecisionTreeClassifier pickle that itself calls webbrowser.open on a page of its choosing "
                "(on a desktop the victim's browser opens the attacker's page)", "exec browser",
                _pickle_bytes(library._sk("decision_tree")),
                Call(Global("webbrowser", "open"), ("http://landing.mv-twin.invalid/welcome",)))
    yield _twin("config_global_antigravity.pkl", "twin-import-antigravity",
                "a config dict whose pickle names a global of antigravity, a standard-library module whose "
                "import opens a browser: the import is the file's choice, so its effect is the file's",
                "exec browser",
                _pickle_bytes(lambda: {"lr": 0.001, "epochs": 3}, protocol=2),
                Call(Global("builtins", "repr"), (Global("antigravity", "geohash"),)))
    yield _twin("pandas_frame_importlib_antigravity.pkl", "twin-importlib-antigravity-by-string",
                "a real DataFrame.to_pickle whose pickle imports antigravity by string through importlib "
                "(no antigravity global in the file)", "exec browser",
                _pandas_frame_bytes, Call(Global("importlib", "import_module"), ("antigravity",)))
