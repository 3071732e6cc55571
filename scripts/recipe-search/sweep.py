"""Search pretraining recipes for the embedded models on a GPU, before committing to a long `lab train` on the CPU.

The device machine has PyTorch but no node, so this is a second, independent implementation of the parts that
matter for emergence: the synthetic world's pretraining stream (from token ids exported by export-world.ts), a
GPT-2 with the same initialisation, AdamW with warmup + cosine and clipping, loss on label tokens, and the
evaluation `lab train` prints (ZSL and ICL on the six tasks, accuracy on context-only sequences). Draws differ from
the TypeScript stream; distributions are the same. Only `lab train` makes shipped models.

  python3 scripts/recipe-search/sweep.py OUT_DIR WORLD_DIR [--only NAME,...] [--jobs N] [--deadline SECONDS]
      [--steps-scale X]

Each variant runs in its own process and writes OUT_DIR/<name>.json (its curve, rewritten at every evaluation, so a
deadline loses nothing); the driver prints a summary. The worlds come from export-world.ts (WORLD_DIR/<world>.json,
e.g. w96x4 = 96 clusters of 4 words) and travel to the device machine with `carry`. On one H100, start CUDA MPS
first (`nvidia-cuda-mps-control -d`): eight 4-layer runs then make ~70 steps/s each, against ~22 for fourteen without
it. Findings are in RESULTS.md beside this file.
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

# ---------------------------------------------------------------- recipes

BASE = dict(
    world='w96x4', layers=4, d=128, heads=4, batch=16, lr=1e-3, warmup=200, steps=15000, min_lr=0.1, wd=0.1,
    context_only=0.6, min_demos=4, max_demos=16, max_tokens=192, mixed=True, ctx_max_words=3, ctx_filler=0.25,
    bare=0.0, repeat=0.0, repeat_targets=0, first_steps=0, first=None, eval_every=500, seed=1, loss='labels',
)


def variant(**changes):
    v = dict(BASE)
    v.update(changes)
    return v


VARIANTS = {
    'L-base': variant(),
    'L-ctx1word': variant(ctx_max_words=1, ctx_filler=0.0),
    'L-repeat': variant(repeat=0.2, repeat_targets=4),
    'L-bare': variant(bare=0.5),
    'L-w256x2': variant(world='w256x2'),
    'L-w96x2': variant(world='w96x2'),
    'L-lr3e-3': variant(lr=3e-3),
    'L-ctx90': variant(context_only=0.9),
    'L-combo': variant(ctx_max_words=1, ctx_filler=0.0, repeat=0.2, repeat_targets=4, bare=0.3),
    'L-combo-w96x2': variant(world='w96x2', ctx_max_words=2, ctx_filler=0.0, repeat=0.2, repeat_targets=4, bare=0.3),
    'M-combo': variant(layers=3, d=96, ctx_max_words=1, ctx_filler=0.0, repeat=0.2, repeat_targets=4, bare=0.3),
    'S-combo': variant(layers=2, d=64, ctx_max_words=1, ctx_filler=0.0, repeat=0.2, repeat_targets=4, bare=0.3),
    'L-long': variant(steps=40000),
    'L-all': variant(loss='all', steps=20000),
    'L-all-ctx1': variant(loss='all', steps=20000, ctx_max_words=1, ctx_filler=0.0),
    'L-all-rep': variant(loss='all', steps=20000, repeat=0.2),
    'L-all-bare': variant(loss='all', steps=20000, bare=0.5),
    'L-all-w96x2': variant(loss='all', steps=20000, world='w96x2'),
    'L-all-fewdemos': variant(loss='all', steps=20000, min_demos=2, max_demos=8),
    'L-all-lr2e-3': variant(loss='all', steps=20000, lr=2e-3),
    'M-all': variant(loss='all', steps=20000, layers=3, d=96),
    'S-all20k': variant(loss='all', steps=20000, layers=2, d=64),
    'L-all-ctx1-w96x2': variant(loss='all', steps=20000, ctx_max_words=1, ctx_filler=0.0, world='w96x2'),
    'L-fewdemos': variant(steps=20000, min_demos=2, max_demos=6),
    'L-all-classic-first': variant(loss='all', steps=20000, first_steps=2000, first=dict(context_only=0.9, bare=1.0, ctx_max_words=1, ctx_filler=0.0)),
    'L-all-ctxonly': variant(loss='all', steps=20000, context_only=1.0),
    'L-all-8L64': variant(loss='all', steps=20000, layers=8, d=64),
    'S-all': variant(layers=2, d=64, loss='all'),
    'S-all-ctx1': variant(layers=2, d=64, loss='all', ctx_max_words=1, ctx_filler=0.0),
    'S-labels': variant(layers=2, d=64),
    'S-all-rep': variant(layers=2, d=64, loss='all', repeat=0.2),
    'L-classic-first': variant(first_steps=2000, first=dict(context_only=0.9, bare=1.0, ctx_max_words=1, ctx_filler=0.0)),
}

# ---------------------------------------------------------------- world and stream


class World:
    def __init__(self, path):
        w = json.load(open(path))
        self.vocab = w['vocabSize']
        self.bos = w['bos']
        self.sep = w['separator']
        self.clusters = w['clusters']
        self.known = [c for c in self.clusters if c['known']]
        self.novel = [c for c in self.clusters if not c['known']]
        self.fillers = w['fillers']
        self.bare_word = {int(k): v for k, v in w['bareWord'].items()}
        self.templates = w['templates']
        self.words = [x for c in self.clusters for x in c['words']] + self.fillers

    def sentence(self, rng, cluster, max_words=3, filler=0.25):
        n = 1 + rng.randrange(max_words)
        words = [rng.choice(cluster['words']) for _ in range(n)]
        if rng.random() < filler:
            words.insert(rng.randrange(len(words) + 1), rng.choice(self.fillers))
        return words

    def format(self, template, fields):
        """Ids of a filled template; `template` None is the bare format ' {sentence}'."""
        if template is None:
            return list(fields['sentence'])
        ids = []
        for s in self.templates[template]['segments']:
            if 'lit' in s:
                ids += s['lit']
            else:
                words = fields[s['slot']]
                for i, x in enumerate(words):
                    ids += self.bare_word[x] if i == 0 and not ids else [x]
        return ids


SINGLE = [  # id, template, known class (None: only the context), task seed
    ('sentiment2', 'sst2', lambda c: c['polarity'], 11),
    ('ordinal5', 'sst5', lambda c: c['intensity'], 12),
    ('review2', 'mr', None, 13),
    ('subjectivity2', 'subj', None, 14),
    ('topic4', 'agnews', lambda c: c['topic'], 15),
]


class SingleTask:
    def __init__(self, world, spec, seed=None):
        self.id, self.template, self.known_class, task_seed = spec
        self.world = world
        classes = len(world.templates[self.template]['labels'])
        ids = [c['id'] for c in world.novel]
        random.Random(task_seed if seed is None else seed).shuffle(ids)
        self.novel = {cid: i for i, cid in enumerate(ids[:classes])}
        self.novel_ids = list(self.novel)

    def sample(self, rng):
        w = self.world
        if self.known_class is not None and rng.random() < 0.5:
            c = rng.choice(w.known)
            label = self.known_class(c)
        else:
            c = w.clusters[rng.choice(self.novel_ids)]
            label = self.novel[c['id']]
        return w.format(self.template, {'sentence': w.sentence(rng, c)}), label


class RelationTask:
    id, template = 'relation3', 'cb'

    def __init__(self, world):
        self.world = world

    def sample(self, rng):
        w = self.world
        p = rng.choice(w.known)
        label = rng.randrange(3)
        o = p
        if label == 1:
            o = w.clusters[p['partner']]
        if label == 2:
            while o['id'] in (p['id'], p['partner']):
                o = rng.choice(w.known)
        return w.format('cb', {'premise': w.sentence(rng, p), 'hypothesis': w.sentence(rng, o)}), label


def eval_tasks(world):
    return [SingleTask(world, s) for s in SINGLE] + [RelationTask(world)]


def context_only_demos(world, rng, r, n, bare_share):
    names = ['sst2', 'sst5', 'mr', 'subj', 'agnews']
    t = rng.choice(names)
    label_words = list(world.templates[t]['labels'])
    bare = bare_share > 0 and rng.random() < bare_share
    classes = 2 + rng.randrange(len(label_words) - 1)
    rng.shuffle(label_words)
    labels = label_words[:classes]
    pool = world.novel if r['mixed'] else world.clusters
    cl = rng.sample(pool, classes)
    template = None if bare else t
    mk = lambda k: (world.format(template, {'sentence': world.sentence(rng, cl[k], r['ctx_max_words'], r['ctx_filler'])}), labels[k])
    ks = [rng.randrange(classes) for _ in range(n)]
    seen = sorted(set(ks[:-1]))
    ks[-1] = rng.choice(seen)
    return [mk(k) for k in ks]


def canonical_demos(world, rng, r, n, tasks):
    k = rng.randrange(4)
    if k == 3:
        task = tasks[5]
    else:
        spec = SINGLE[[0, 1, 4][k]]
        task = SingleTask(world, spec, seed=rng.randrange(2 ** 31)) if r['mixed'] else tasks[[0, 1, 4][k]]
    out = []
    while len(out) < n:
        ids, label = task.sample(rng)
        if not r['mixed'] and k < 3 and label_from_novel(task, ids):
            continue
        out.append((ids, world.templates[task.template]['labels'][label]))
    return out


def label_from_novel(task, ids):
    novel_words = {x for cid in task.novel_ids for x in task.world.clusters[cid]['words']}
    return any(x in novel_words for x in ids)


def encode(world, demos, max_tokens):
    """BOS, demonstrations (input, label, separator), query input and label; loss flags on label targets."""
    parts = [ids + [label] for ids, label in demos]
    first = 0
    length = 1 + sum(len(p) + len(world.sep) for p in parts[:-1]) + len(parts[-1])
    while length > max_tokens and first < len(parts) - 1:
        length -= len(parts[first]) + len(world.sep)
        first += 1
    ids, labels = [world.bos], set()
    for p in parts[first:-1]:
        ids += p
        labels.add(len(ids) - 1)
        ids += world.sep
    ids += parts[-1]
    labels.add(len(ids) - 1)
    return ids, [t + 1 in labels for t in range(len(ids) - 1)]


def repeated(world, rng, r):
    longest = max(2, min(48, (r['max_tokens'] - 1) // 2))
    words = [rng.choice(world.words) for _ in range(2 + rng.randrange(longest - 1))]
    ids = [world.bos] + words + words
    first = 1 + len(words) + 1
    mask = [t + 1 >= first for t in range(len(ids) - 1)]
    if r['repeat_targets'] > 0:  # only the last few copies count, so repeats do not drown the labels
        on = [t for t, m in enumerate(mask) if m][-r['repeat_targets']:]
        mask = [t in on for t in range(len(mask))]
    return ids, mask


def stream_sequence(world, rng, r, tasks):
    if r['repeat'] > 0 and rng.random() < r['repeat']:
        ids, mask = repeated(world, rng, r)
    else:
        n = r['min_demos'] + rng.randrange(r['max_demos'] - r['min_demos'] + 1)
        if rng.random() < r['context_only']:
            demos = context_only_demos(world, rng, r, n, r['bare'])
        else:
            demos = canonical_demos(world, rng, r, n, tasks)
        ids, mask = encode(world, demos, r['max_tokens'])
    if r['loss'] == 'all':  # next-token loss on every token, as a language model learns
        mask = [True] * len(mask)
    return ids, mask


def recipe_at(r, step):
    if r['first'] and step < r['first_steps']:
        return {**r, **r['first']}
    return r

# ---------------------------------------------------------------- model


def build_model(torch, r, vocab, n_positions=256):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = r['d']
            self.ln1 = nn.LayerNorm(d, eps=1e-5)
            self.qkv = nn.Linear(d, 3 * d)
            self.o = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d, eps=1e-5)
            self.fc = nn.Linear(d, 4 * d)
            self.proj = nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, d = x.shape
            h = r['heads']
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
            return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate='tanh'))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, r['d'])
            self.wpe = nn.Embedding(n_positions, r['d'])
            self.blocks = nn.ModuleList([Block() for _ in range(r['layers'])])
            self.lnf = nn.LayerNorm(r['d'], eps=1e-5)
            g = torch.Generator().manual_seed(r['seed'])
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * r['layers']) if name.endswith(('o.weight', 'proj.weight')) else 0.02
                    with torch.no_grad():
                        p.copy_(torch.randn(p.shape, generator=g) * std)
                elif 'ln' in name and name.endswith('weight'):
                    nn.init.ones_(p)
                else:
                    nn.init.zeros_(p)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.blocks:
                x = blk(x)
            return self.lnf(x) @ self.wte.weight.T

    return GPT()


def pad(torch, seqs, device):
    t = max(len(s) for s in seqs)
    x = torch.zeros(len(seqs), t, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s)
    return x.to(device)

# ---------------------------------------------------------------- evaluation


def classify(torch, model, prompts, candidates, device):
    with torch.no_grad():
        logits = model(pad(torch, prompts, device))
        last = torch.tensor([len(p) - 1 for p in prompts], device=device)
        rows = logits[torch.arange(len(prompts), device=device), last]
        return rows[:, torch.tensor(candidates, device=device)].argmax(1).tolist()


def evaluate(torch, model, world, tasks, r, device, n_tests=96, n_demos=16, n_ctx=96):
    rng = random.Random(r['seed'] + 2)
    out = {'zsl': {}, 'icl': {}}
    for task in tasks:
        labels = world.templates[task.template]['labels']
        demos = [task.sample(rng) for _ in range(n_demos)]
        tests = [task.sample(rng) for _ in range(n_tests)]
        prefix = [world.bos]
        for ids, y in demos:
            prefix += ids + [labels[y]] + world.sep
        prefix = prefix[-(256 - 40):]  # keep the newest demonstrations within the positions
        zsl = classify(torch, model, [[world.bos] + ids for ids, _ in tests], labels, device)
        icl = classify(torch, model, [prefix + ids for ids, _ in tests], labels, device)
        out['zsl'][task.id] = sum(p == y for p, (_, y) in zip(zsl, tests)) / n_tests
        out['icl'][task.id] = sum(p == y for p, (_, y) in zip(icl, tests)) / n_tests
    correct = 0
    prompts, cands, golds = [], [], []
    for _ in range(n_ctx):
        demos = context_only_demos(world, rng, r, n_demos, 0.0)
        ids, _ = encode(world, demos, 256)
        labels = sorted({y for _, y in demos})
        prompts.append(ids[:-1])
        cands.append(labels)
        golds.append(demos[-1][1])
    with torch.no_grad():
        logits = model(pad(torch, prompts, device))
        for i, (p, c, g) in enumerate(zip(prompts, cands, golds)):
            row = logits[i, len(p) - 1]
            correct += c[int(row[torch.tensor(c, device=device)].argmax())] == g
    out['ctx'] = correct / n_ctx
    out['zsl_mean'] = sum(out['zsl'].values()) / 6
    out['icl_mean'] = sum(out['icl'].values()) / 6
    return out

# ---------------------------------------------------------------- training


def train(name, r, world_dir, out_dir, deadline):
    import torch
    torch.set_num_threads(1)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    world = World(os.path.join(world_dir, r['world'] + '.json'))
    tasks = eval_tasks(world)
    torch.manual_seed(r['seed'])
    model = build_model(torch, r, world.vocab).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': r['wd']}, {'params': other, 'weight_decay': 0.0}],
                            lr=r['lr'], betas=(0.9, 0.95), eps=1e-8)
    rng = random.Random(r['seed'] + 1)
    curve, loss_sum, loss_n, t0 = [], 0.0, 0, time.time()
    for step in range(r['steps']):
        if time.time() > deadline:
            break
        if step < r['warmup']:
            lr = r['lr'] * (step + 1) / r['warmup']
        else:
            prog = min(1.0, (step - r['warmup']) / max(1, r['steps'] - r['warmup']))
            lr = r['lr'] * (r['min_lr'] + 0.5 * (1 - r['min_lr']) * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g['lr'] = lr
        rs = recipe_at(r, step)
        batch = [stream_sequence(world, rng, rs, tasks) for _ in range(r['batch'])]
        x = pad(torch, [s for s, _ in batch], device)
        mask = pad(torch, [[int(m) for m in ms] for _, ms in batch], device).bool()
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[mask[:, :logits.shape[1]]], x[:, 1:][mask[:, :logits.shape[1]]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_sum += loss.item()
        loss_n += 1
        if (step + 1) % r['eval_every'] == 0 or step + 1 == r['steps']:
            model.eval()
            e = evaluate(torch, model, world, tasks, r, device)
            model.train()
            curve.append({'step': step + 1, 'loss': loss_sum / loss_n, 'seconds': time.time() - t0, **e})
            loss_sum, loss_n = 0.0, 0
            with open(os.path.join(out_dir, name + '.json'), 'w') as f:
                json.dump({'name': name, 'recipe': r, 'curve': curve}, f)
    return curve


def summary(out_dir):
    rows = []
    for f in sorted(os.listdir(out_dir)):
        if not f.endswith('.json') or f.startswith('_'):
            continue
        d = json.load(open(os.path.join(out_dir, f)))
        c = d['curve']
        if not c:
            continue
        last = c[-1]
        emerged = next((p['step'] for p in c if p['ctx'] >= 0.8), None)
        ctx_path = ' '.join(f"{p['ctx']:.2f}" for p in c)
        rows.append(f"{d['name']:18s} step {last['step']:6d} loss {last['loss']:.3f} ZSL {last['zsl_mean']:.3f} ICL {last['icl_mean']:.3f} "
                    f"ctx>=.8 at {emerged}  ctx: {ctx_path}\n    per task ZSL/ICL: " +
                    ' '.join(f"{k} {last['zsl'][k]:.2f}/{last['icl'][k]:.2f}" for k in last['zsl']))
    for f in sorted(os.listdir(out_dir)):  # runs that never evaluated: show why
        if f.startswith('_') and f.endswith('.log') and not os.path.exists(os.path.join(out_dir, f[1:-4] + '.json')):
            rows.append(f'{f[1:-4]}: no evaluation; log tail: ' + open(os.path.join(out_dir, f)).read()[-600:])
    return '\n'.join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('worlds')
    ap.add_argument('--only', default='')
    ap.add_argument('--jobs', type=int, default=4)
    ap.add_argument('--deadline', type=float, default=480, help='seconds from now after which every run stops')
    ap.add_argument('--steps-scale', type=float, default=1.0)
    ap.add_argument('--one', default='', help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.one:
        r = dict(VARIANTS[a.one])
        r['steps'] = max(1, int(r['steps'] * a.steps_scale))
        r['eval_every'] = max(1, int(r['eval_every'] * a.steps_scale))
        train(a.one, r, a.worlds, a.out, time.time() + a.deadline)
        return
    names = [n for n in (a.only.split(',') if a.only else VARIANTS) if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f'unknown variants {unknown}; known: {list(VARIANTS)}')
    start = time.time()
    running, queue = [], list(names)
    while queue or running:
        while queue and len(running) < a.jobs:
            n = queue.pop(0)
            left = a.deadline - (time.time() - start)
            log = open(os.path.join(a.out, f'_{n}.log'), 'w')
            running.append(subprocess.Popen([sys.executable, __file__, a.out, a.worlds, '--one', n, '--deadline', str(left),
                                             '--steps-scale', str(a.steps_scale)], stdout=log, stderr=subprocess.STDOUT))
        time.sleep(2)
        running = [p for p in running if p.poll() is None]
    print(summary(a.out))


if __name__ == '__main__':
    main()
