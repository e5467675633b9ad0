import random, sys, tempfile, os
sys.path.insert(0, "/work/main/tests")
from textgen import rich_prose, rewrite
from dedup import Index
def page(ps): return "\n\n".join(ps)
url = sys.argv[1]
flips = 0; tot = 0
for seed in range(20):
    rng = random.Random(seed)
    P = [rich_prose(rng, rng.randint(40, 60)) for _ in range(6)]
    N = [rich_prose(rng, rng.randint(40, 60)) for _ in range(6)]
    art = page(P[:5] + N)   # a wire story, last paragraph trimmed, then local reporting
    u = url if url.startswith("redis") else os.path.join(tempfile.mkdtemp(), "i.dedup")
    if url.startswith("redis"): u = f"{url}?prefix=rv{seed}{os.getpid()}"
    with Index.open(u) as idx:
        idx.add(page(P), doc_id="wire")
        (_, v), = list(idx.filter([("local", art)]))
        tot += 1; flips += v.accepted
        if seed < 3: print(seed, v.accepted, v.relation, v.reason[:90])
        if url.startswith("redis"): idx.remove("wire")
print(f"{url}: accepted {flips} of {tot}")
