#!/usr/bin/env python3
"""Times PyTorch (CPU) on the cases of `tessera bench attention` and `tessera bench train`, printing
the same JSON lines with "impl": "pytorch". Exits quietly (status 0, a note on stderr) when torch is
not importable.

Usage: Scripts/compare-pytorch.py [attention|train|all] [--quick]
       Scripts/compare-pytorch.py train --against .build/release/tessera [--rounds N]

With --against, the train step is timed in alternating rounds: PyTorch in this process, then
`tessera bench train --filter tiled` as a child process, N times (default 7). Each round prints
both times and their ratio; the last line is the median ratio (tessera ÷ pytorch). On a shared
machine whose speed drifts from minute to minute, pairing the two in time is what keeps the ratio
honest."""
import json
import os
import statistics
import sys
import time


def emit(bench, case, metric, value, **extra):
    line = {"bench": bench, "case": case, "metric": metric, "value": round(value, 4),
            "threads": torch.get_num_threads(), "impl": "pytorch"}
    line.update(extra)
    print(json.dumps(line), flush=True)


def timed(fn, budget, minimum):
    fn()
    samples, start = [], time.perf_counter()
    while len(samples) < minimum or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def attention(quick):
    import torch.nn.functional as F
    heads, dim = 8, 64
    for t in ([1024, 2048] if quick else [1024, 2048, 4096, 8192]):
        q, k, v = (torch.randn(1, heads, t, dim) for _ in range(3))
        with torch.no_grad():
            seconds = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 0.2 if quick else 1.0, 2)
        name = f"B1 T{t} H{heads} D{dim} causal"
        emit("attention_forward", name, "ms", seconds * 1e3)
        emit("attention_forward", name, "gflops", 2 * 2 * t * t * dim * heads / 2 / seconds / 1e9)


def train(quick, against=None, rounds=7):
    import torch.nn as nn
    import torch.nn.functional as F

    d, layers, heads, t, batch, vocab = 256, 4, 4, 256, 8, 256

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = (p(x).view(b, n, heads, d // heads).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o_proj(o.transpose(1, 2).reshape(b, n, d))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.mixer = Attention()
            self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.mixer(self.norm1(x))
            return x + self.ffn(self.norm2(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.norm = nn.LayerNorm(d)

        def forward(self, tokens):
            x = self.embedding(tokens)
            for layer in self.layers:
                x = layer(x)
            return self.norm(x) @ self.embedding.weight.T

    torch.manual_seed(0)
    model = Model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    tokens = torch.randint(0, vocab, (batch, t))
    targets = torch.randint(0, vocab, (batch, t))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(tokens).view(-1, vocab), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    name = "gpt d256 L4 H4 T256 B8 V256 adamw"
    if against:
        paired(step, name, against, rounds)
        return
    seconds = timed(step, 1 if quick else 5, 3 if quick else 5)
    emit("train_step", name, "ms", seconds * 1e3)
    emit("train_step", name, "tokens_per_s", batch * t / seconds)


def paired(step, name, binary, rounds):
    import subprocess
    ratios = []
    for r in range(rounds):
        ours_ms = None
        seconds = timed(step, 3, 5)
        out = subprocess.run([binary, "bench", "train", "--filter", "tiled"], capture_output=True, text=True,
                             env=dict(os.environ, TESSERA_THREADS=str(torch.get_num_threads())), check=True)
        for line in out.stdout.splitlines():
            record = json.loads(line)
            if record.get("bench") == "train_step" and record.get("metric") == "ms":
                ours_ms = record["value"]
        ratio = ours_ms / (seconds * 1e3)
        ratios.append(ratio)
        emit("train_step_paired", name, "ratio", ratio, round=r, pytorch_ms=round(seconds * 1e3, 1),
             tessera_ms=ours_ms)
    emit("train_step_paired", name, "median_ratio", statistics.median(ratios), rounds=rounds,
         low=round(min(ratios), 3), high=round(max(ratios), 3))


if __name__ == "__main__":
    try:
        import torch
    except ImportError:
        print("compare-pytorch: torch is not importable; nothing to compare", file=sys.stderr)
        sys.exit(0)
    torch.set_num_threads(int(os.environ.get("TESSERA_THREADS", os.cpu_count() or 1)))
    group = next((a for i, a in enumerate(sys.argv[1:], 1)
                  if not a.startswith("--") and sys.argv[i - 1] not in ("--against", "--rounds")), "all")
    quick = "--quick" in sys.argv
    against = sys.argv[sys.argv.index("--against") + 1] if "--against" in sys.argv else None
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 7
    if group in ("attention", "all"):
        attention(quick)
    if group in ("train", "all"):
        train(quick, against, rounds)
