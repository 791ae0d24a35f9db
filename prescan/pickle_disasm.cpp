// Pickle disassembler: walks the opcodes of every protocol (0-5) and simulates just enough of
// the unpickler's stack and memo to resolve STACK_GLOBAL operands and to see which globals
// get called. No object is ever built, so pickle bombs cost nothing; lengths are checked
// against the bytes actually present before anything is read; stack, memo and string sizes
// are capped so hostile input cannot make this allocate more than a few tens of MB.
#include <cstring>
#include <memory>
#include <unordered_set>
#include <unordered_map>

#include <fmt/format.h>

#include "prescan/internal.h"
#include "prescan/prescan.h"

namespace modelvet::prescan {
namespace {

constexpr size_t kMaxStack = 1u << 20;         // simulated stack entries
constexpr size_t kMaxMemo = 1u << 19;          // memo entries
constexpr size_t kMaxStringBytes = 16u << 20;  // distinct string bytes kept in all
constexpr size_t kMaxKeptString = 1024;        // only short strings can name a global
constexpr size_t kMaxGlobals = 50000;          // recorded global references per stream
constexpr size_t kMaxAnomalies = 64;           // per stream; the rest are counted

// What the simulation knows about a stack value: only strings and globals matter.
struct Value {
  enum Kind : uint8_t { kOther, kString, kGlobal, kUnknown } kind = kOther;
  int32_t global = -1;  // index into PickleScan::globals for kGlobal
  std::shared_ptr<const std::string> text;  // for kString: shared, so DUP/GET copy nothing
};

class Disassembler {
 public:
  Disassembler(std::string_view data, PickleScan& out) : data_(data), out_(out) {}

  // Parses one pickle from `pos`; returns true when it reached STOP.
  bool run(size_t& pos);

 private:
  void anomaly(std::string msg) {
    if (out_.anomalies.size() < kMaxAnomalies) out_.anomalies.push_back(std::move(msg));
    else ++dropped_anomalies_;
  }
  bool need(size_t pos, uint64_t n, const char* what) {
    if (n <= data_.size() - pos) return true;
    anomaly(fmt::format("truncated at offset {} ({} needs {} bytes, {} left)", op_at_, what, n,
                        data_.size() - pos));
    return false;
  }
  bool read_line(size_t& pos, std::string_view& line, const char* what) {
    const void* nl = std::memchr(data_.data() + pos, '\n', data_.size() - pos);
    if (!nl) {
      anomaly(fmt::format("truncated at offset {} ({} has no end of line)", op_at_, what));
      return false;
    }
    size_t end = static_cast<const char*>(nl) - data_.data();
    line = data_.substr(pos, end - pos);
    pos = end + 1;
    return true;
  }

  void push(Value v) {
    if (stack_.size() >= kMaxStack) {
      if (!stack_overflow_) anomaly(fmt::format("stack deeper than {} entries; simulation reset", kMaxStack));
      stack_overflow_ = true;
      stack_.clear();
      marks_.clear();
    }
    stack_.push_back(std::move(v));
  }
  void push_other() { push(Value{}); }
  void push_mark() {
    if (marks_.size() >= kMaxStack) {
      if (!stack_overflow_) anomaly(fmt::format("more than {} nested MARKs; simulation reset", kMaxStack));
      stack_overflow_ = true;
      stack_.clear();
      marks_.clear();
    }
    marks_.push_back(stack_.size());
  }
  void push_string(std::string_view s) {
    s = s.substr(0, kMaxKeptString);
    if (string_bytes_ + s.size() > kMaxStringBytes) {  // beyond the budget a string is just "a value"
      if (!strings_overflow_) anomaly(fmt::format("more than {} bytes of strings; later ones unknown", kMaxStringBytes));
      strings_overflow_ = true;
      Value v;
      v.kind = Value::kUnknown;
      push(std::move(v));
      return;
    }
    string_bytes_ += s.size();
    Value v;
    v.kind = Value::kString;
    v.text = std::make_shared<const std::string>(s);
    push(std::move(v));
  }
  Value pop(size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      if (!stack_overflow_) anomaly(fmt::format("stack underflow at offset {}", at));
      Value v;
      v.kind = Value::kUnknown;
      return v;
    }
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Value* top() { return stack_.empty() ? nullptr : &stack_.back(); }
  // Pops everything above the last MARK (and the mark itself); returns those values.
  std::vector<Value> pop_mark(size_t at) {
    std::vector<Value> items;
    if (marks_.empty()) {
      if (!stack_overflow_) anomaly(fmt::format("no MARK on the stack at offset {}", at));
      return items;
    }
    size_t m = std::min(marks_.back(), stack_.size());
    marks_.pop_back();
    items.assign(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void mark_called(const Value& v) {
    if (v.kind == Value::kGlobal && v.global >= 0) out_.globals[v.global].called = true;
  }
  void memo_put(uint64_t index, size_t at) {
    if (stack_.empty()) {
      anomaly(fmt::format("memo store from an empty stack at offset {}", at));
      return;
    }
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) {
      if (!memo_overflow_) anomaly(fmt::format("memo larger than {} entries; later entries unknown", kMaxMemo));
      memo_overflow_ = true;
      return;
    }
    memo_[index] = stack_.back();
  }
  void memo_get(uint64_t index, size_t at) {
    auto it = memo_.find(index);
    if (it == memo_.end()) {
      anomaly(fmt::format("memo index unknown ({}) at offset {}", index, at));
      Value v;
      v.kind = Value::kUnknown;
      push(std::move(v));
      return;
    }
    push(it->second);
  }
  // Every occurrence is recorded up to kMaxGlobals; past that only globals not seen before,
  // so padding a pickle with benign imports cannot push a dangerous one out of the report.
  int32_t add_global(std::string module, std::string name, size_t at, const char* opcode) {
    std::string key = module + '\n' + name;
    bool fresh = seen_globals_.insert(key).second;
    if (out_.globals.size() >= kMaxGlobals && (!fresh || out_.globals.size() >= 2 * kMaxGlobals)) {
      if (!globals_overflow_) anomaly(fmt::format("more than {} global references; repeats not recorded", kMaxGlobals));
      globals_overflow_ = true;
      return -1;
    }
    GlobalRef g;
    g.module = std::move(module);
    g.name = std::move(name);
    g.offset = at;
    g.opcode = opcode;
    out_.globals.push_back(std::move(g));
    return static_cast<int32_t>(out_.globals.size() - 1);
  }
  void push_global(int32_t index) {
    Value v;
    v.kind = index >= 0 ? Value::kGlobal : Value::kOther;
    v.global = index;
    push(std::move(v));
  }
  // Text of a STACK_GLOBAL operand; "unknown" when it is not a string we can see, as the
  // scanners do (both treat an unresolvable operand as a dangerous import).
  static std::string operand_text(const Value& v) {
    return v.kind == Value::kString && v.text ? *v.text : std::string("unknown");
  }
  // Strips the quotes of a protocol-0 STRING argument ('abc' or "abc").
  static std::string_view unquote(std::string_view s) {
    if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
      return s.substr(1, s.size() - 2);
    return s;
  }
  static std::string strip_cr(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return std::string(s.substr(0, kMaxKeptString));
  }

  std::string_view data_;
  PickleScan& out_;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::unordered_set<std::string> seen_globals_;
  bool stack_overflow_ = false, memo_overflow_ = false, globals_overflow_ = false, strings_overflow_ = false;
  size_t string_bytes_ = 0;
  size_t op_at_ = 0;  // offset of the opcode being decoded
  size_t dropped_anomalies_ = 0;

 public:
  size_t dropped_anomalies() const { return dropped_anomalies_; }
};

bool Disassembler::run(size_t& pos) {
  while (pos < data_.size()) {
    const size_t at = op_at_ = pos;
    const uint8_t op = static_cast<uint8_t>(data_[pos++]);
    std::string_view line;
    switch (op) {
      // --- control ---
      case '.':  // STOP
        pos = at + 1;
        return true;
      case 0x80: {  // PROTO
        if (!need(pos, 1, "PROTO")) { pos = data_.size(); return false; }
        int proto = static_cast<uint8_t>(data_[pos++]);
        if (out_.protocol < 0) out_.protocol = proto;
        if (proto > 5) anomaly(fmt::format("unsupported protocol {} at offset {}", proto, at));
        break;
      }
      case 0x95: {  // FRAME
        if (!need(pos, 8, "FRAME")) { pos = data_.size(); return false; }
        uint64_t len = read_le(data_.substr(pos, 8));
        pos += 8;
        if (len > data_.size() - pos)
          anomaly(fmt::format("FRAME at offset {} announces {} bytes, {} left", at, len, data_.size() - pos));
        break;
      }
      // --- marks and stack shuffling ---
      case '(': push_mark(); break;                                           // MARK
      case '0': if (!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back())) stack_.pop_back();
                else pop_mark(at);
                break;                                                         // POP
      case '1': pop_mark(at); break;                                           // POP_MARK
      case '2': if (Value* t = top()) push(Value(*t)); else pop(at); break;    // DUP
      // --- scalars with a text line ---
      case 'F': case 'I': case 'L':                                           // FLOAT, INT, LONG
        if (!read_line(pos, line, "number")) { pos = data_.size(); return false; }
        push_other();
        break;
      case 'S':                                                                // STRING
        if (!read_line(pos, line, "STRING")) { pos = data_.size(); return false; }
        push_string(unquote(strip_cr(line)));
        break;
      case 'V':                                                                // UNICODE
        if (!read_line(pos, line, "UNICODE")) { pos = data_.size(); return false; }
        push_string(strip_cr(line));
        break;
      case 'P':                                                                // PERSID
        if (!read_line(pos, line, "PERSID")) { pos = data_.size(); return false; }
        push_other();
        break;
      // --- fixed-size scalars ---
      case 'J': if (!need(pos, 4, "BININT")) { pos = data_.size(); return false; } pos += 4; push_other(); break;
      case 'K': if (!need(pos, 1, "BININT1")) { pos = data_.size(); return false; } pos += 1; push_other(); break;
      case 'M': if (!need(pos, 2, "BININT2")) { pos = data_.size(); return false; } pos += 2; push_other(); break;
      case 'G': if (!need(pos, 8, "BINFLOAT")) { pos = data_.size(); return false; } pos += 8; push_other(); break;
      case 'N': case 0x88: case 0x89: push_other(); break;                    // NONE, NEWTRUE, NEWFALSE
      case 0x8a: case 0x8b: {                                                  // LONG1, LONG4
        size_t width = op == 0x8a ? 1 : 4;
        if (!need(pos, width, "LONG size")) { pos = data_.size(); return false; }
        uint64_t len = read_le(data_.substr(pos, width));
        pos += width;
        if (!need(pos, len, op == 0x8a ? "LONG1" : "LONG4")) { pos = data_.size(); return false; }
        pos += len;
        push_other();
        break;
      }
      // --- length-prefixed strings and bytes ---
      case 'T': case 'X': case 'B': case 'U': case 'C': case 0x8c:
      case 0x8d: case 0x8e: case 0x96: {
        size_t width = (op == 'U' || op == 'C' || op == 0x8c) ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
        const char* name = op == 'T' ? "BINSTRING" : op == 'X' ? "BINUNICODE" : op == 'B' ? "BINBYTES"
                         : op == 'U' ? "SHORT_BINSTRING" : op == 'C' ? "SHORT_BINBYTES"
                         : op == 0x8c ? "SHORT_BINUNICODE" : op == 0x8d ? "BINUNICODE8"
                         : op == 0x8e ? "BINBYTES8" : "BYTEARRAY8";
        if (!need(pos, width, name)) { pos = data_.size(); return false; }
        uint64_t len = read_le(data_.substr(pos, width));
        if (op == 'T' && (len & 0x80000000u)) {
          anomaly(fmt::format("negative BINSTRING length at offset {}", at));
          pos = data_.size();
          return false;
        }
        pos += width;
        if (!need(pos, len, name)) { pos = data_.size(); return false; }
        bool is_text = op == 'T' || op == 'X' || op == 'U' || op == 0x8c || op == 0x8d;
        if (is_text) push_string(data_.substr(pos, len));
        else push_other();
        pos += len;
        break;
      }
      // --- containers ---
      case ')': case ']': case '}': case 0x8f: push_other(); break;   // EMPTY_TUPLE/LIST/DICT/SET
      case 't': case 'l': case 'd': case 0x91:                          // TUPLE, LIST, DICT, FROZENSET
        pop_mark(at);
        push_other();
        break;
      case 0x85: pop(at); push_other(); break;                          // TUPLE1
      case 0x86: pop(at); pop(at); push_other(); break;                 // TUPLE2
      case 0x87: pop(at); pop(at); pop(at); push_other(); break;        // TUPLE3
      case 'a': pop(at); break;                                         // APPEND
      case 's': pop(at); pop(at); break;                                // SETITEM
      case 'e': case 'u': case 0x90: pop_mark(at); break;               // APPENDS, SETITEMS, ADDITEMS
      // --- memo ---
      case 'p': {                                                        // PUT
        if (!read_line(pos, line, "PUT")) { pos = data_.size(); return false; }
        uint64_t index = 0;
        if (!parse_decimal(strip_cr(line), index)) anomaly(fmt::format("bad PUT index at offset {}", at));
        else memo_put(index, at);
        break;
      }
      case 'q': if (!need(pos, 1, "BINPUT")) { pos = data_.size(); return false; }
                memo_put(static_cast<uint8_t>(data_[pos]), at); pos += 1; break;
      case 'r': if (!need(pos, 4, "LONG_BINPUT")) { pos = data_.size(); return false; }
                memo_put(read_le(data_.substr(pos, 4)), at); pos += 4; break;
      case 0x94: memo_put(memo_.size(), at); break;                      // MEMOIZE
      case 'g': {                                                        // GET
        if (!read_line(pos, line, "GET")) { pos = data_.size(); return false; }
        uint64_t index = 0;
        if (!parse_decimal(strip_cr(line), index)) {
          anomaly(fmt::format("bad GET index at offset {}", at));
          Value v; v.kind = Value::kUnknown; push(std::move(v));
        } else {
          memo_get(index, at);
        }
        break;
      }
      case 'h': if (!need(pos, 1, "BINGET")) { pos = data_.size(); return false; }
                memo_get(static_cast<uint8_t>(data_[pos]), at); pos += 1; break;
      case 'j': if (!need(pos, 4, "LONG_BINGET")) { pos = data_.size(); return false; }
                memo_get(read_le(data_.substr(pos, 4)), at); pos += 4; break;
      // --- globals and calls ---
      case 'c': case 'i': {                                              // GLOBAL, INST
        std::string_view module, name;
        if (!read_line(pos, module, op == 'c' ? "GLOBAL" : "INST") ||
            !read_line(pos, name, op == 'c' ? "GLOBAL" : "INST")) { pos = data_.size(); return false; }
        int32_t g = add_global(strip_cr(module), strip_cr(name), at, op == 'c' ? "GLOBAL" : "INST");
        if (op == 'c') {
          push_global(g);
        } else {  // INST builds an instance of module.name from the items above MARK: a call
          pop_mark(at);
          if (g >= 0) out_.globals[g].called = true;
          push_other();
        }
        break;
      }
      case 0x93: {                                                       // STACK_GLOBAL
        Value name = pop(at);
        Value module = pop(at);
        if (module.kind != Value::kString || name.kind != Value::kString)
          anomaly(fmt::format("STACK_GLOBAL operand not a known string at offset {}", at));
        push_global(add_global(operand_text(module), operand_text(name), at, "STACK_GLOBAL"));
        break;
      }
      case 'R': { Value args = pop(at); Value fn = pop(at); mark_called(fn); push_other(); break; }  // REDUCE
      case 0x81: { Value args = pop(at); Value cls = pop(at); mark_called(cls); push_other(); break; }  // NEWOBJ
      case 0x92: { pop(at); pop(at); Value cls = pop(at); mark_called(cls); push_other(); break; }     // NEWOBJ_EX
      case 'o': {                                                        // OBJ
        std::vector<Value> items = pop_mark(at);
        if (!items.empty()) mark_called(items.front());
        push_other();
        break;
      }
      case 'b': {                                                        // BUILD
        pop(at);
        if (Value* t = top()) mark_called(*t);
        break;
      }
      case 'Q': pop(at); push_other(); break;                            // BINPERSID
      case 0x82: case 0x83: case 0x84: {                                 // EXT1, EXT2, EXT4
        size_t width = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
        if (!need(pos, width, "EXT")) { pos = data_.size(); return false; }
        anomaly(fmt::format("extension registry code {} at offset {} (global not visible)", read_le(data_.substr(pos, width)), at));
        pos += width;
        push_other();
        break;
      }
      case 0x97: anomaly(fmt::format("out-of-band buffer (NEXT_BUFFER) at offset {}", at)); push_other(); break;
      case 0x98: break;                                                  // READONLY_BUFFER
      default:
        anomaly(fmt::format("unknown opcode 0x{:02x} at {}", op, at));
        pos = at;
        return false;
    }
  }
  anomaly(fmt::format("truncated at offset {} (no STOP)", pos));
  return false;
}

// Could `bytes` begin a second pickle? Only trailers that start with a real opcode are tried.
bool starts_like_pickle(std::string_view bytes) {
  if (bytes.empty()) return false;
  uint8_t b = static_cast<uint8_t>(bytes[0]);
  if (b == 0x80) return bytes.size() > 1 && static_cast<uint8_t>(bytes[1]) <= 5;
  return std::strchr("(cid}]N)KJIFSVXU", b) != nullptr && b != 0;
}

}  // namespace

uint64_t pickle_stream_length(std::string_view bytes, PickleScan& out) {
  Disassembler d(bytes, out);
  size_t pos = 0;
  out.complete = d.run(pos);
  out.length = pos;
  if (d.dropped_anomalies()) out.anomalies.push_back(fmt::format("{} more anomalies not listed", d.dropped_anomalies()));
  return pos;
}

PickleScan disassemble_pickle(std::string_view bytes) {
  PickleScan out;
  uint64_t end = pickle_stream_length(bytes, out);
  if (!out.complete || end >= bytes.size()) return out;

  out.anomalies.push_back(fmt::format("{} bytes after STOP", bytes.size() - end));
  // Scanners keep reading pickles after STOP (and loaders such as torch's legacy format do):
  // follow further pickles while each one parses to its STOP.
  int extra = 0;
  while (end < bytes.size() && starts_like_pickle(bytes.substr(end)) && extra < 1000) {
    PickleScan next;
    uint64_t used = pickle_stream_length(bytes.substr(end), next);
    if (next.globals.empty() && !next.complete) break;
    if (extra++ == 0) out.anomalies.push_back("multiple pickles");
    for (auto& g : next.globals) {
      g.offset += end;
      out.globals.push_back(std::move(g));
    }
    for (auto& a : next.anomalies) out.anomalies.push_back(fmt::format("pickle #{} at {}: {}", extra + 1, end, a));
    end += used;
    out.length = end;
    if (!next.complete || used == 0) break;
  }
  return out;
}

}  // namespace modelvet::prescan
