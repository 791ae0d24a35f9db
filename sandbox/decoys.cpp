#include "sandbox/decoys.h"

#include <cstring>
#include <sys/random.h>

#include <filesystem>
#include <fstream>

#include <fmt/core.h>

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

// Random characters from the alphabet real tokens use, so a decoy looks like the real thing.
std::string random_token(size_t n, const char* alphabet) {
  std::string out(n, 'x');
  std::string bytes(n, '\0');
  if (getrandom(bytes.data(), n, 0) != static_cast<ssize_t>(n)) throw std::runtime_error("getrandom");
  size_t len = std::char_traits<char>::length(alphabet);
  for (size_t i = 0; i < n; ++i) out[i] = alphabet[static_cast<unsigned char>(bytes[i]) % len];
  return out;
}

constexpr const char* kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kUpperNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

class HomeWriter {
 public:
  HomeWriter(std::string host_dir, Decoys* decoys) : host_dir_(std::move(host_dir)), decoys_(decoys) {}

  void file(const std::string& rel, const std::string& content, fs::perms perms = fs::perms(0644)) {
    fs::path p = fs::path(host_dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    fs::permissions(p, perms);
  }
  // A file holding a secret: recorded so the policy can recognise it in outbound bytes.
  void secret_file(const std::string& rel, const std::string& secret, const std::string& content,
                   fs::perms perms = fs::perms(0600)) {
    file(rel, content, perms);
    std::string jail_path = std::string(kJailHome) + "/" + rel;
    decoys_->files[jail_path] = secret;
    decoys_->secrets["~/" + rel] = secret;
  }
  void env(const std::string& name, const std::string& value) {
    decoys_->env[name] = value;
    decoys_->secrets["env " + name] = value;
  }

 private:
  std::string host_dir_;
  Decoys* decoys_;
};

}  // namespace

bool write_decoy_home(const std::string& host_dir, Decoys* decoys, std::string* error) {
  try {
    HomeWriter home(host_dir, decoys);
    std::string aws_key = "AKIA" + random_token(16, kUpperNum);
    std::string aws_secret = random_token(40, kAlnum);
    home.secret_file(".aws/credentials", aws_secret,
                     fmt::format("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n", aws_key,
                                 aws_secret));
    home.file(".aws/config", "[default]\nregion = us-west-2\noutput = json\n");

    std::string hf_token = "hf_" + random_token(34, kAlnum);
    home.secret_file(".cache/huggingface/token", hf_token, hf_token + "\n");
    home.file(".cache/huggingface/hub/models--acme--sentiment-small/refs/main", "3f1c2a9\n");
    home.file(".cache/huggingface/hub/models--acme--sentiment-small/snapshots/3f1c2a9/config.json",
              "{\"architectures\": [\"BertForSequenceClassification\"], \"hidden_size\": 256}\n");
    home.file(".cache/huggingface/hub/models--acme--sentiment-small/snapshots/3f1c2a9/pytorch_model.bin",
              std::string(4096, '\0'));

    std::string ssh_body = random_token(280, kAlnum);
    home.secret_file(".ssh/id_ed25519", ssh_body,
                     "-----BEGIN OPENSSH PRIVATE KEY-----\n" + ssh_body +
                         "\n-----END OPENSSH PRIVATE KEY-----\n");
    home.file(".ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + random_token(43, kAlnum) +
                                          " alice@gpu-ws-07\n");
    home.file(".ssh/known_hosts", "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n");

    std::string netrc_pw = random_token(24, kAlnum);
    home.secret_file(".netrc", netrc_pw,
                     "machine api.wandb.ai\n  login user\n  password " + netrc_pw + "\n");
    std::string gh_token = "ghp_" + random_token(36, kAlnum);
    home.secret_file(".git-credentials", gh_token, "https://alice:" + gh_token + "@github.com\n");
    home.file(".gitconfig", "[user]\n\tname = Alice Chen\n\temail = alice@example.com\n[credential]\n\thelper = store\n");

    std::string kube_token = random_token(48, kAlnum);
    home.secret_file(".kube/config", kube_token,
                     "apiVersion: v1\nkind: Config\nusers:\n- name: alice\n  user:\n    token: " + kube_token + "\n");

    home.file(".bashrc", "# ~/.bashrc\nexport PATH=$HOME/.local/bin:$PATH\nalias ll='ls -l'\nconda activate ml 2>/dev/null\n");
    home.file(".profile", "# ~/.profile\n[ -f ~/.bashrc ] && . ~/.bashrc\n");
    home.file("projects/sentiment/train.py", "import torch\n# fine-tune the sentiment model\n");
    home.file("projects/sentiment/notes.md", "# Experiments\n- lr 3e-5 best so far\n");
    home.file("Documents/meeting-notes.txt", "Q3 roadmap: ship the ranking model.\n");
    fs::create_directories(fs::path(host_dir) / "models");
    fs::create_directories(fs::path(host_dir) / ".local/bin");
    fs::create_directories(fs::path(host_dir) / ".config");

    home.env("AWS_ACCESS_KEY_ID", aws_key);
    home.env("AWS_SECRET_ACCESS_KEY", aws_secret);
    home.env("HF_TOKEN", hf_token);
    home.env("OPENAI_API_KEY", "sk-proj-" + random_token(40, kAlnum));
    home.env("WANDB_API_KEY", random_token(40, "0123456789abcdef"));
    return true;
  } catch (const std::exception& e) {
    *error = std::string("decoy home: ") + e.what();
    return false;
  }
}

}  // namespace modelvet::sandbox
