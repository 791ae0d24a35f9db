#include "sandbox/decoys.h"

#include <cstring>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <vector>

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

constexpr int64_t kDay = 86400;

unsigned random_below(unsigned n) {
  unsigned v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) throw std::runtime_error("getrandom");
  return v % n;
}

// How long ago each file was last written: credentials and dotfiles months ago, projects weeks
// ago, histories and caches today. A home written a second ago is a sandbox tell.
int64_t age_seconds(const std::string& rel) {
  struct Age { const char* prefix; int64_t min_s, max_s; };
  static const Age ages[] = {
      {".ssh/", 200 * kDay, 420 * kDay},         {".aws/", 120 * kDay, 300 * kDay},
      {".kube/", 60 * kDay, 150 * kDay},         {".netrc", 90 * kDay, 240 * kDay},
      {".git-credentials", 150 * kDay, 330 * kDay}, {".gitconfig", 300 * kDay, 500 * kDay},
      {".bashrc", 250 * kDay, 480 * kDay},       {".profile", 400 * kDay, 520 * kDay},
      {".cache/huggingface/token", 45 * kDay, 110 * kDay}, {".jupyter/", 80 * kDay, 200 * kDay},
      {".bash_history", 600, 5400},              {".python_history", 3600, 20000},
      {".cache/", 1 * kDay, 40 * kDay},          {".local/share/recently-used", 900, 7200},
      {"projects/", 2 * kDay, 35 * kDay},        {"Downloads/", 3 * kDay, 60 * kDay},
  };
  for (const Age& a : ages)
    if (rel.rfind(a.prefix, 0) == 0) return a.min_s + random_below(static_cast<unsigned>(a.max_s - a.min_s));
  return 10 * kDay + random_below(static_cast<unsigned>(150 * kDay));
}

void set_mtime(const std::filesystem::path& p, int64_t when) {
  const timespec times[2] = {{when + random_below(3600), 0}, {when, 0}};
  utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

// Every file its age; every directory the time of its newest entry (as writing them left it).
void age_home(const std::filesystem::path& home) {
  namespace fs = std::filesystem;
  const int64_t now = ::time(nullptr);
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(home); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && !it->is_symlink()) dirs.push_back(it->path());
    else set_mtime(it->path(), now - age_seconds(fs::relative(it->path(), home).string()));
  }
  dirs.push_back(home);
  for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) {
    int64_t newest = now - 400 * kDay;
    for (const auto& e : fs::directory_iterator(*d)) {
      struct stat st{};
      if (lstat(e.path().c_str(), &st) == 0) newest = std::max<int64_t>(newest, st.st_mtim.tv_sec);
    }
    set_mtime(*d, newest);
  }
}

// What a data scientist typed last: training, evaluating, pulling models, the GPU, git.
constexpr const char* kBashHistory = R"H(nvidia-smi
cd ~/projects/sentiment
conda activate ml
git pull
pip install -U transformers accelerate datasets
python train.py --config configs/sentiment.yaml --epochs 20
tail -f runs/latest/train.log
watch -n 1 nvidia-smi
tmux attach -t train
ls -lh ~/models
du -sh ~/.cache/huggingface
huggingface-cli login
huggingface-cli download acme/sentiment-small --local-dir ~/models/sentiment-small
python evaluate.py ~/models/sentiment-small/pytorch_model.bin
git status
git add configs/sentiment.yaml
git commit -m "lower lr, longer warmup"
git push origin main
jupyter lab --no-browser --port=8888
ssh -L 8888:localhost:8888 gpu-ws-07
python -c "import torch; print(torch.cuda.is_available())"
pip list | grep torch
tensorboard --logdir runs --port 6006
htop
df -h
rm -rf runs/old-*
python train.py --config configs/sentiment.yaml --epochs 20 --lr 3e-5
scp results.csv alice@bastion:~/share/
vim configs/sentiment.yaml
python evaluate.py ~/models/sentiment-small/pytorch_model.bin --split test
cat ~/.cache/huggingface/token
wandb login
wandb sync runs/latest
ls ~/Downloads
python -m pip install scikit-learn==1.2.2
python scripts/export_onnx.py --ckpt runs/latest/best.pt
git log --oneline | head
nvidia-smi -L
free -g
python evaluate.py ~/models/sentiment-small/pytorch_model.bin
)H";
constexpr const char* kPythonHistory = R"H(import torch
torch.__version__
torch.cuda.is_available()
m = torch.load("runs/latest/best.pt", map_location="cpu")
m.keys()
import pandas as pd
df = pd.read_csv("data/reviews.csv")
df.label.value_counts()
exit()
)H";

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

// Histories, caches, configs and recent files: the traces months of work leave in a home.
void write_lived_in_files(HomeWriter& home) {
  home.file(".bash_history", kBashHistory, fs::perms(0600));
  home.file(".python_history", kPythonHistory, fs::perms(0600));
  home.file(".viminfo", "# This viminfo file was generated by Vim 9.0.\n> ~/projects/sentiment/configs/sentiment.yaml\n", fs::perms(0600));
  home.file(".lesshst", ".less-history-file:\n", fs::perms(0600));
  home.file(".wget-hsts", "# HSTS 1.0 Known Hosts database for GNU Wget.\n", fs::perms(0600));
  home.file(".cache/pip/selfcheck/1c4b2f8e0d.json", "{\"last_check\": \"2026-11-20T09:12:44Z\", \"pypi_version\": \"24.3.1\"}\n");
  home.file(".cache/pip/http-v2/a/3/f/9/1/a3f91c0e7b2d4e5f60718293a4b5c6d7e8f90123", std::string(2048, '\x5a'));
  home.file(".cache/pip/wheels/7b/21/e4/5c9d0a8f1e2b3c4d/sentencepiece-0.1.99-cp311-linux_x86_64.whl", std::string(1024, '\x50'));
  home.file(".cache/huggingface/hub/models--bert-base-uncased/refs/main", "86b5e0934494bd15c9632b12f734a8a67f723594\n");
  home.file(".cache/huggingface/hub/models--bert-base-uncased/snapshots/86b5e0934494bd15c9632b12f734a8a67f723594/config.json",
            "{\"architectures\": [\"BertForMaskedLM\"], \"hidden_size\": 768, \"model_type\": \"bert\"}\n");
  home.file(".cache/torch/hub/checkpoints/resnet18-f37072fd.pth", std::string(4096, '\0'));
  home.file(".cache/matplotlib/fontlist-v330.json", "{\"_version\": 330, \"ttflist\": []}\n");
  home.file(".jupyter/jupyter_lab_config.py", "c.ServerApp.open_browser = False\nc.ServerApp.port = 8888\n");
  home.file(".local/share/jupyter/runtime/kernel-8c1f2e4a-57b9-4d3e-a1c6-0f9e2b7d4a13.json",
            "{\"shell_port\": 45123, \"iopub_port\": 45124, \"transport\": \"tcp\", \"ip\": \"127.0.0.1\", "
            "\"signature_scheme\": \"hmac-sha256\", \"kernel_name\": \"python3\"}\n", fs::perms(0600));
  home.file(".local/share/recently-used.xbel",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xbel version=\"1.0\">\n"
            "  <bookmark href=\"file:///home/alice/projects/sentiment/configs/sentiment.yaml\"/>\n"
            "  <bookmark href=\"file:///home/alice/Downloads/reviews-2026-q3.csv\"/>\n</xbel>\n");
  home.file(".config/wandb/settings", "[default]\nentity = alice\nproject = sentiment\n");
  home.file(".conda/environments.txt", "/opt/conda\n/opt/conda/envs/ml\n");
  home.file(".ipython/profile_default/ipython_config.py", "c.InteractiveShell.autoindent = True\n");
  home.file("projects/sentiment/evaluate.py", "import sys\nimport torch\n\nmodel = torch.load(sys.argv[1], map_location=\"cpu\")\n");
  home.file("projects/sentiment/configs/sentiment.yaml", "model: bert-base-uncased\nlr: 3.0e-5\nepochs: 20\nbatch_size: 32\n");
  home.file("projects/sentiment/README.md", "# sentiment\nFine-tuning a small BERT on product reviews.\n");
  home.file("projects/sentiment/runs/latest/train.log", "epoch 1 loss 0.412 acc 0.861\nepoch 2 loss 0.301 acc 0.894\n");
  home.file("projects/sentiment/.git/HEAD", "ref: refs/heads/main\n");
  home.file("projects/sentiment/.git/config", "[remote \"origin\"]\n\turl = git@github.com:alice/sentiment.git\n");
  home.file("Downloads/reviews-2026-q3.csv", "id,text,label\n1,great product,1\n2,broke after a week,0\n");
  home.file("Downloads/paper-lora.pdf", std::string("%PDF-1.5\n") + std::string(1024, ' '));
}

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
    write_lived_in_files(home);
    home.file("projects/sentiment/train.py", "import torch\n# fine-tune the sentiment model\n");
    home.file("projects/sentiment/notes.md", "# Experiments\n- lr 3e-5 best so far\n");
    home.file("Documents/meeting-notes.txt", "Q3 roadmap: ship the ranking model.\n");
    // The desktop's browser profile (the decoy firefox on PATH would open it).
    home.file(".mozilla/firefox/profiles.ini",
              "[Install4F96D1932A9F858E]\nDefault=k3x9q2lm.default-esr\nLocked=1\n\n[Profile0]\nName=default-esr\n"
              "IsRelative=1\nPath=k3x9q2lm.default-esr\nDefault=1\n\n[General]\nStartWithLastProfile=1\nVersion=2\n");
    home.file(".mozilla/firefox/k3x9q2lm.default-esr/prefs.js",
              "// Mozilla User Preferences\nuser_pref(\"browser.startup.homepage\", \"https://huggingface.co\");\n");
    home.file(".mozilla/firefox/k3x9q2lm.default-esr/times.json", "{\"created\":1696157044000,\"firstUse\":null}\n");
    fs::create_directories(fs::path(host_dir) / "models");
    fs::create_directories(fs::path(host_dir) / ".local/bin");
    fs::create_directories(fs::path(host_dir) / ".config");

    home.env("AWS_ACCESS_KEY_ID", aws_key);
    home.env("AWS_SECRET_ACCESS_KEY", aws_secret);
    home.env("HF_TOKEN", hf_token);
    home.env("OPENAI_API_KEY", "sk-proj-" + random_token(40, kAlnum));
    home.env("WANDB_API_KEY", random_token(40, "0123456789abcdef"));
    age_home(host_dir);
    return true;
  } catch (const std::exception& e) {
    *error = std::string("decoy home: ") + e.what();
    return false;
  }
}

}  // namespace modelvet::sandbox
