#!/usr/bin/env python3
"""Times PyTorch (CPU) on the cases of `tessera bench attention` and `tessera bench train`, printing
the same JSON lines with "impl": "pytorch". Exits quietly (status 0, a note on stderr) when torch is
not importable.

Usage: Scripts/compare-pytorch.py [attention|train|all] [--quick]
       Scripts/compare-pytorch.py train --against .build/release/tessera [--rounds N]
       Scripts/compare-pytorch.py sparse --against .build/release/tessera [--quick]
       Scripts/compare-pytorch.py moe --against .build/release/tessera [--quick]

With --against, the train step is timed in alternating rounds: PyTorch in this process, then
`tessera bench train --filter tiled` as a child process, N times (default 7). Each round prints
both times and their ratio; the last line is the median ratio (tessera ÷ pytorch). On a shared
machine whose speed drifts from minute to minute, pairing the two in time is what keeps the ratio
honest.

`sparse` times, per sequence length, PyTorch's `flex_attention` (compiled with `torch.compile`, block
masks of 128 built once by `create_block_mask` from the same predicates as Tessera's static patterns)
and `scaled_dot_product_attention` (causal), then runs `tessera bench sparse --filter T<length>` as a
child process right after, and prints ours ÷ theirs for each pattern.

`moe` times an eager mixture-of-experts block written like HF's Mixtral loop (E 8, 16, 64; top-2) and a
dense SwiGLU with the same active FLOPs, forward and backward, in alternating rounds, then runs
`tessera bench moe --filter top-2` and prints ours ÷ theirs per layer."""
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


def mix_bits(a, b, c):
    """Tessera's SplitMix64 hash of three words (BigBird's random blocks)."""
    m = (1 << 64) - 1
    z = (a + 0x9E3779B97F4A7C15 * (b + 1) + 0xBF58476D1CE4E5B9 * (c + 1)) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def bigbird_random_blocks(i, window, global_blocks, random_blocks, seed=0):
    """Tessera's BigBirdPattern.isRandomBlock, drawn as a set."""
    candidates = i - window - global_blocks + 1
    if random_blocks <= 0 or candidates <= 0:
        return set()
    if random_blocks >= candidates:
        return set(range(global_blocks, i - window + 1))
    found, attempt = [], 0
    while len(found) < random_blocks:
        c = global_blocks + mix_bits(seed, i, attempt) % candidates
        attempt += 1
        if c not in found:
            found.append(c)
    return set(found)


def sparse(quick, binary):
    import subprocess
    import torch.nn.functional as F
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    heads, dim, block = 8, 32, 128
    # One compilation per (pattern, length): raise Dynamo's recompilation limit, or it falls back to the
    # unfused flex_attention, which materialises T × T scores (and runs out of memory at 16k).
    import torch._dynamo
    for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 512)
    compiled = torch.compile(flex_attention, dynamic=False)

    def patterns(t):
        blocks = (t + block - 1) // block
        layout = torch.zeros(blocks, blocks, dtype=torch.bool)
        for i in range(blocks):
            for j in range(blocks):
                layout[i, j] = abs(i - j) < 2 or i < 1 or j < 1
            for j in bigbird_random_blocks(i, 2, 1, 3):
                layout[i, j] = True
        return {
            "dense causal": lambda b, h, q, k: q >= k,
            "sliding window 1024": lambda b, h, q, k: (q >= k) & (q - k < 1024),
            "dilated window 512 × 2": lambda b, h, q, k: (q >= k) & ((q - k) % 2 == 0) & ((q - k) // 2 < 512),
            "longformer window 1024 + 128 global": lambda b, h, q, k: (q >= k) & ((q - k < 1024) | (q < 128) | (k < 128)),
            "bigbird blocks of 128 (2 local, 1 global, 3 random)":
                lambda b, h, q, k: (q >= k) & layout[q // block, k // block],
        }

    lengths = [2048, 4096] if quick else [4096, 16384, 32768]
    for t in lengths:
        q, k, v = (torch.randn(1, heads, t, dim) for _ in range(3))
        name = f"B1 T{t} H{heads} D{dim}"
        theirs = {}
        with torch.no_grad():
            seconds = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 1, 3)
            emit("sparse_forward", name, "ms", seconds * 1e3, pattern="sdpa causal")
            theirs["sdpa causal"] = seconds
            for pattern, predicate in patterns(t).items():
                mask = create_block_mask(predicate, None, None, t, t, device="cpu", BLOCK_SIZE=block)
                seconds = timed(lambda: compiled(q, k, v, block_mask=mask), 1, 3)
                theirs[pattern] = seconds
                emit("sparse_forward", name, "ms", seconds * 1e3, pattern=pattern, impl="pytorch flex_attention",
                     density=round(1 - mask.sparsity() / 100, 4))
        if binary is None:
            continue
        out = subprocess.run([binary, "bench", "sparse", "--filter", f"T{t} "], capture_output=True, text=True,
                             env=dict(os.environ, TESSERA_THREADS=str(torch.get_num_threads())), check=True)
        for line in out.stdout.splitlines():
            print(line, flush=True)  # Tessera's own lines (ms, time ratio, density, efficiency) pass through
            record = json.loads(line)
            if record.get("metric") != "ms" or record.get("pattern") not in theirs:
                continue
            pattern = record["pattern"]
            emit("sparse_forward_vs_pytorch", name, "ratio", record["value"] / (theirs[pattern] * 1e3), pattern=pattern,
                 tessera_ms=record["value"], pytorch_ms=round(theirs[pattern] * 1e3, 2))
            if pattern == "dense causal":
                emit("sparse_forward_vs_pytorch", name, "ratio_to_sdpa",
                     record["value"] / (theirs["sdpa causal"] * 1e3), pattern=pattern)


def moe(quick, binary, rounds=7):
    """An eager MoE block written like HF's Mixtral loop (a softmax router, top-2, renormalised; per
    expert the tokens that chose it by torch.where, its SwiGLU, index_add_ back; HF's load-balancing
    loss), and a dense SwiGLU with the same active FLOPs: forward and backward (every parameter's
    gradient and the input's) at width 256 over 4,096 tokens, experts of hidden width 512."""
    import subprocess
    import torch.nn as nn
    import torch.nn.functional as F

    d, hidden, tokens, k = 256, 512, 1024 if quick else 4096, 2

    class Expert(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.w1 = nn.Linear(d, width, bias=False)
            self.w3 = nn.Linear(d, width, bias=False)
            self.w2 = nn.Linear(width, d, bias=False)

        def forward(self, x):
            return self.w2(F.silu(self.w1(x)) * self.w3(x))

    class SparseMoE(nn.Module):
        def __init__(self, experts):
            super().__init__()
            self.experts_count = experts
            self.gate = nn.Linear(d, experts, bias=False)
            self.experts = nn.ModuleList(Expert(hidden) for _ in range(experts))

        def forward(self, x):
            logits = self.gate(x)
            probabilities = F.softmax(logits, dim=1, dtype=torch.float)
            weights, selected = torch.topk(probabilities, k, dim=-1)
            weights = weights / weights.sum(dim=-1, keepdim=True)
            out = torch.zeros_like(x)
            mask = F.one_hot(selected, num_classes=self.experts_count).permute(2, 1, 0)
            for e in range(self.experts_count):
                slot, token = torch.where(mask[e])
                if token.numel() == 0:
                    continue
                y = self.experts[e](x[token]) * weights[token, slot, None]
                out.index_add_(0, token, y)
            fraction = mask.sum(dim=(1, 2)).float() / x.shape[0]
            aux = self.experts_count * (fraction * probabilities.mean(dim=0)).sum()
            return out, aux

    torch.manual_seed(0)
    x = torch.randn(tokens, d, requires_grad=True)
    g = torch.randn(tokens, d)
    dense = Expert(k * hidden)
    shape = f"N{tokens} D{d}"
    theirs = {}
    for experts in (8, 16, 64):
        layer = SparseMoE(experts)

        def moe_step():
            out, aux = layer(x)
            ((out * g).sum() + 0.01 * aux).backward()

        def dense_step():
            (dense(x) * g).sum().backward()

        ratios, firsts, seconds = [], [], []
        for _ in range(rounds):
            a, b = timed(moe_step, 0, 1), timed(dense_step, 0, 1)
            firsts.append(a)
            seconds.append(b)
            ratios.append(a / b)
        name = f"moe-topk E{experts} top-2"
        theirs[name] = statistics.median(firsts)
        emit("moe_step", shape, "ms", theirs[name] * 1e3, layer=name, impl="pytorch eager (HF Mixtral loop)",
             dense_ms=round(statistics.median(seconds) * 1e3, 2))
        emit("moe_step", shape, "time_ratio", statistics.median(ratios), layer=name,
             impl="pytorch eager (HF Mixtral loop)", low=round(min(ratios), 3), high=round(max(ratios), 3))
    if binary is None:
        return
    out = subprocess.run([binary, "bench", "moe", "--filter", "top-2"] + (["--quick"] if quick else []),
                         capture_output=True, text=True,
                         env=dict(os.environ, TESSERA_THREADS=str(torch.get_num_threads())), check=True)
    for line in out.stdout.splitlines():
        print(line, flush=True)
        record = json.loads(line)
        if record.get("metric") == "ms" and record.get("layer") in theirs:
            name = record["layer"]
            emit("moe_step_vs_pytorch", shape, "ratio", record["value"] / (theirs[name] * 1e3), layer=name,
                 tessera_ms=record["value"], pytorch_ms=round(theirs[name] * 1e3, 2))


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
    if group == "sparse":
        sparse(quick, against)
    if group == "moe":
        moe(quick, against)
