#include "harness/audit_hook.h"

#include <frameobject.h>

#include <fcntl.h>

#include <array>
#include <atomic>
#include <string_view>
#include <unordered_map>

#include "harness/event_sink.h"
#include "harness/py_describe.h"
#include "trace/bytes_text.h"

namespace modelvet::harness {
namespace {

// Always: what no model load needs, reported even during setup. From load on: everything else.
enum class Reach { always, from_load };

struct Watched {
  Reach reach;
  int cap;  // lines per event name, so one flood cannot starve the others
  std::atomic<int> reported{0};
  std::atomic<int> suppressed{0};
};

constexpr int kHigh = 256, kNoisy = 64;

using WatchTable = std::unordered_map<std::string_view, Watched>;

WatchTable& watch_table() {
  static WatchTable* table = [] {
    auto* t = new WatchTable;  // never destroyed: the hook may run during static destruction
    auto add = [t](Reach r, int cap, std::initializer_list<std::string_view> names) {
      for (auto n : names) {
        auto& w = (*t)[n];
        w.reach = r;
        w.cap = cap;
      }
    };
    add(Reach::always, kHigh,
        {"os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty", "os.spawn",
         "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "socket.connect", "socket.bind",
         "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
         "socket.gethostbyaddr", "socket.getnameinfo", "socket.__new__", "urllib.Request", "http.client.connect",
         "http.client.send", "ftplib.connect", "smtplib.connect", "poplib.connect", "imaplib.open", "nntplib.connect",
         "telnetlib.Telnet.open", "webbrowser.open"});
    add(Reach::from_load, kHigh,
        {"exec", "compile", "marshal.loads", "marshal.load", "code.__new__", "function.__new__", "pickle.find_class",
         "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
         "ctypes.string_at", "ctypes.addressof", "builtins.input", "sys.addaudithook", "sys.setprofile",
         "sys.settrace", "os.remove", "os.rename", "os.chmod", "os.chown", "os.mkdir", "os.rmdir", "os.symlink",
         "os.link", "os.truncate", "os.utime", "os.putenv", "os.unsetenv", "os.setxattr", "os.removexattr",
         "os.chdir", "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move",
         "shutil.rmtree", "shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp", "tempfile.mkdtemp",
         "mmap.__new__", "resource.setrlimit", "resource.prlimit", "sqlite3.connect", "syslog.openlog",
         "cpython.run_command", "cpython.run_file", "cpython.run_module", "gc.get_objects", "gc.get_referrers",
         "gc.get_referents", "sys._current_frames", "sys._current_exceptions", "builtins.breakpoint"});
    add(Reach::from_load, kNoisy,
        {"open", "import", "os.listdir", "os.scandir", "os.walk", "glob.glob", "sys._getframe", "time.sleep",
         "object.__setattr__", "object.__delattr__", "object.__getattr__", "exec/import", "compile/import"});
    return t;
  }();
  return *table;
}

std::atomic<int> g_phase{int(Phase::setup)};
std::atomic<int> g_total_reported{0};
constexpr int kTotalCap = 6000;
thread_local bool t_in_hook = false;

// Every module import runs exec (and compile without a .pyc) from importlib: that is import
// noise, kept in its own bucket so it cannot use up the cap that code from strings needs.
bool called_from_importlib() {
  PyFrameObject* frame = PyEval_GetFrame();
  if (!frame) return false;
  PyCodeObject* code = PyFrame_GetCode(frame);
  const char* file = PyUnicode_AsUTF8(code->co_filename);
  if (!file) PyErr_Clear();
  bool ours = file && std::string_view(file).starts_with("<frozen importlib");
  Py_DECREF(code);
  return ours;
}

// "open" args are (path, mode, flags): is it a write?
bool open_writes(PyObject* args) {
  if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 3) return false;
  PyObject* mode = PyTuple_GET_ITEM(args, 1);
  if (mode && PyUnicode_Check(mode)) {
    const char* m = PyUnicode_AsUTF8(mode);
    if (!m) {
      PyErr_Clear();
      return false;
    }
    std::string_view v(m);
    return v.find_first_of("wax+") != std::string_view::npos;
  }
  PyObject* flags = PyTuple_GET_ITEM(args, 2);
  if (flags && PyLong_Check(flags)) {
    long f = PyLong_AsLong(flags);
    if (f == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    return (f & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0;
  }
  return false;
}

// The import event carries sys.path and the meta path too: only the module and file matter.
std::string describe_args(std::string_view event, PyObject* args) {
  if (event == "import" && PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 2) {
    PyObject* pair = PyTuple_GetSlice(args, 0, 2);
    if (pair) {
      std::string r = bounded_repr(pair);
      Py_DECREF(pair);
      return r;
    }
    PyErr_Clear();
  }
  return bounded_repr(args);
}

// A path as the OS has it, in bytes text, the way the kernel's events carry it
// (tracer/record_decoder.cpp): a str is encoded back with surrogateescape (how Python decoded a
// name that is not UTF-8; a lone surrogate no byte decodes to is kept with surrogatepass, still
// exact), bytes are taken as they are. An fd or a path-like object is described as any argument.
nlohmann::json path_text(PyObject* path) {
  constexpr size_t kMaxPath = 4096;  // PATH_MAX
  PyObject* bytes = nullptr;
  if (PyBytes_Check(path)) {
    bytes = Py_NewRef(path);
  } else if (PyUnicode_Check(path)) {
    bytes = PyUnicode_AsEncodedString(path, "utf-8", "surrogateescape");
    if (!bytes) {
      PyErr_Clear();
      bytes = PyUnicode_AsEncodedString(path, "utf-8", "surrogatepass");
    }
  }
  if (!bytes) {
    PyErr_Clear();
    return to_json(path);
  }
  std::string_view raw(PyBytes_AS_STRING(bytes), size_t(PyBytes_GET_SIZE(bytes)));
  std::string text = escape_bytes(raw.substr(0, kMaxPath));
  Py_DECREF(bytes);
  return text;
}

void report(std::string_view event, PyObject* args, bool import_machinery) {
  nlohmann::json fields = {{"event", std::string(event)},
                           {"args", describe_args(event, args)},
                           {"phase", phase_name(current_phase())},
                           {"caller", current_python_frame()}};
  if (import_machinery) fields["import_machinery"] = true;
  if (event == "open") {
    if (PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 1) fields["path"] = path_text(PyTuple_GET_ITEM(args, 0));
    fields["write"] = open_writes(args);
  }
  emit("audit", std::move(fields));
}

}  // namespace

const char* phase_name(Phase p) {
  static constexpr std::array<const char*, 5> names = {"setup", "load", "exercise", "grace", "shutdown"};
  return names[size_t(p)];
}

bool phase_from_name(const std::string& name, Phase* out) {
  for (Phase p : {Phase::setup, Phase::load, Phase::exercise, Phase::grace, Phase::shutdown})
    if (name == phase_name(p)) {
      *out = p;
      return true;
    }
  return false;
}

void enter_phase(Phase p, nlohmann::json extra) {
  g_phase = int(p);
  if (!extra.is_object()) extra = nlohmann::json::object();
  extra["name"] = phase_name(p);
  emit("phase", std::move(extra));
}

Phase current_phase() { return Phase(g_phase.load()); }

HarnessCallScope::HarnessCallScope() : was_(t_in_hook) { t_in_hook = true; }
HarnessCallScope::~HarnessCallScope() { t_in_hook = was_; }

int audit_hook(const char* event, PyObject* args, void* /*user_data*/) {
  if (t_in_hook || !event) return 0;
  auto& table = watch_table();
  const std::string_view name(event);
  auto it = table.find(name);
  if (it == table.end()) return 0;
  if (it->second.reach == Reach::from_load && current_phase() == Phase::setup) return 0;  // the harness's own imports
  if (g_total_reported.load() >= kTotalCap) {
    ++it->second.suppressed;
    return 0;
  }
  t_in_hook = true;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  bool import_noise = (name == "exec" || name == "compile") && called_from_importlib();
  if (import_noise) it = table.find(name == "exec" ? "exec/import" : "compile/import");
  Watched& w = it->second;
  if (w.reported.load() < w.cap) {
    ++w.reported;
    ++g_total_reported;
    report(name, args, import_noise);
  } else {
    ++w.suppressed;
  }
  PyErr_Clear();
  PyErr_Restore(type, value, tb);
  t_in_hook = false;
  return 0;
}

nlohmann::json audit_summary() {
  nlohmann::json suppressed = nlohmann::json::object();
  for (auto& [name, w] : watch_table())
    if (w.suppressed.load()) suppressed[std::string(name)] = w.suppressed.load();
  return {{"reported", g_total_reported.load()}, {"suppressed", suppressed}};
}

}  // namespace modelvet::harness
