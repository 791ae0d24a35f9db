#include "tracer/seccomp_eval.h"

#include <linux/seccomp.h>
#include <sys/ptrace.h>

#include <cstring>

namespace modelvet::tracer {
namespace {

constexpr int kMaxFilters = 64;  // the kernel allows far more in theory; a jail installs one or two
constexpr int kMemWords = BPF_MEMWORDS;

// Runs one classic BPF program over seccomp_data; SECCOMP_RET_KILL_PROCESS for anything the
// kernel's checker would have refused (out-of-range loads or jumps, division by zero).
uint32_t run_filter(const SeccompProgram& prog, const seccomp_data& data) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(&data);
  uint32_t a = 0, x = 0, mem[kMemWords] = {};
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& ins = prog[pc];
    uint32_t k = ins.k;
    uint32_t src = BPF_SRC(ins.code) == BPF_X ? x : k;
    switch (BPF_CLASS(ins.code)) {
      case BPF_LD:
        if (BPF_MODE(ins.code) == BPF_ABS && BPF_SIZE(ins.code) == BPF_W && k % 4 == 0 && k + 4 <= sizeof(data)) memcpy(&a, bytes + k, 4);
        else if (BPF_MODE(ins.code) == BPF_IMM) a = k;
        else if (BPF_MODE(ins.code) == BPF_MEM && k < kMemWords) a = mem[k];
        else if (BPF_MODE(ins.code) == BPF_LEN) a = sizeof(data);
        else return SECCOMP_RET_KILL_PROCESS;
        break;
      case BPF_LDX:
        if (BPF_MODE(ins.code) == BPF_IMM) x = k;
        else if (BPF_MODE(ins.code) == BPF_MEM && k < kMemWords) x = mem[k];
        else if (BPF_MODE(ins.code) == BPF_LEN) x = sizeof(data);
        else return SECCOMP_RET_KILL_PROCESS;
        break;
      case BPF_ST: case BPF_STX:
        if (k >= kMemWords) return SECCOMP_RET_KILL_PROCESS;
        mem[k] = BPF_CLASS(ins.code) == BPF_ST ? a : x;
        break;
      case BPF_ALU:
        switch (BPF_OP(ins.code)) {
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_MUL: a *= src; break;
          case BPF_DIV: if (!src) return SECCOMP_RET_KILL_PROCESS; a /= src; break;
          case BPF_MOD: if (!src) return SECCOMP_RET_KILL_PROCESS; a %= src; break;
          case BPF_OR: a |= src; break;
          case BPF_AND: a &= src; break;
          case BPF_XOR: a ^= src; break;
          case BPF_LSH: a = src < 32 ? a << src : 0; break;
          case BPF_RSH: a = src < 32 ? a >> src : 0; break;
          case BPF_NEG: a = -a; break;
          default: return SECCOMP_RET_KILL_PROCESS;
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(ins.code) == BPF_JA) {
          pc += k;
          break;
        }
        bool taken;
        switch (BPF_OP(ins.code)) {
          case BPF_JEQ: taken = a == src; break;
          case BPF_JGT: taken = a > src; break;
          case BPF_JGE: taken = a >= src; break;
          case BPF_JSET: taken = (a & src) != 0; break;
          default: return SECCOMP_RET_KILL_PROCESS;
        }
        pc += taken ? ins.jt : ins.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(ins.code) == BPF_A ? a : k;
      case BPF_MISC:
        if (BPF_MISCOP(ins.code) == BPF_TAX) x = a;
        else a = x;
        break;
    }
  }
  return SECCOMP_RET_KILL_PROCESS;  // fell off the end: the kernel never loads such a program
}

// The kernel's order: the lowest action, compared as signed (KILL_PROCESS is 0x80000000).
int32_t action_rank(uint32_t ret) { return static_cast<int32_t>(ret & SECCOMP_RET_ACTION_FULL); }

}  // namespace

std::vector<SeccompProgram> seccomp_filters_of(pid_t tid) {
  std::vector<SeccompProgram> filters;
  for (long index = 0; index < kMaxFilters; ++index) {
    long count = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(index), nullptr);
    if (count <= 0) break;  // ENOENT: no more filters; EINVAL: none at all
    SeccompProgram prog(static_cast<size_t>(count));
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(index), prog.data()) != count) break;
    filters.push_back(std::move(prog));
  }
  return filters;
}

uint32_t seccomp_verdict(const std::vector<SeccompProgram>& filters, const TracedCall& call) {
  seccomp_data data{};
  data.nr = static_cast<int>(call.nr);
  data.arch = call.arch;
  data.instruction_pointer = call.ip;
  for (int i = 0; i < 6; ++i) data.args[i] = call.args[i];
  uint32_t verdict = SECCOMP_RET_ALLOW;
  for (const auto& prog : filters) {
    uint32_t ret = run_filter(prog, data);
    if (action_rank(ret) < action_rank(verdict)) verdict = ret;
  }
  return verdict;
}

bool seccomp_denies(const std::vector<SeccompProgram>& filters, const TracedCall& call) {
  return !filters.empty() && (seccomp_verdict(filters, call) & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO;
}

}  // namespace modelvet::tracer
