"""The extension's allocator keeps memory a call freed for the next call (src/python/allocator.rs),
and hands back at once what a tokenizer's engine build freed (src/runtime/memory.rs).

Counted in page faults, not time: a numpy `encode_batch` writes its padded matrices into
memory the previous call freed. With mimalloc's default purge delay (100 ms for large blocks)
that memory went back to the OS between two calls, and every 4 KiB of output faulted again.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _support import tokenizer_zoo

# Runs in a fresh interpreter, so no other test's allocations change the allocator's state.
SCRIPT = r"""
import json, resource, sys, time
from tokenizers import Tokenizer, models, pre_tokenizers
import fastmask

tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "hi": 1}, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
tok = fastmask.ChatTokenizer.from_parts(tokenizer.to_str(), chat_template=sys.argv[1], special_tokens={"pad_token": "[UNK]"})
rows, width = 500, 8192  # 4 int64 matrices of 32 MiB each, 8,192 pages each
conversations = [[{"role": "user", "content": "hi " * (i % 50)}] for i in range(rows)]

def faults_of_one_call():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = tok.encode_batch(conversations, padding="max_length", max_length=width, return_tensors="np")
    assert out["input_ids"].shape == (rows, width)
    del out
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

first = faults_of_one_call()
later = []
for _ in range(3):
    time.sleep(2)  # the default purged in this time; the extension keeps memory 10 s
    later.append(faults_of_one_call())
print(json.dumps({"first": first, "later": later, "pages": 4 * rows * width * 8 // 4096}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="minor page faults are counted by Linux's getrusage")
def test_the_next_call_reuses_the_output_memory_instead_of_faulting_it_again():
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    run = subprocess.run([sys.executable, "-c", SCRIPT, template], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout)
    # The first call faults its matrices in; the later ones reuse them, except that the allocator
    # may once place a call's matrices in fresh memory of its arena (the search for free blocks
    # moves on), after which two sets of matrices alternate. With mimalloc's default purge
    # delay every later call faulted about as often as the first.
    assert counts["first"] >= counts["pages"], counts
    assert sum(faults > counts["pages"] * 0.25 for faults in counts["later"]) <= 1, counts


BUILD_SCRIPT = r"""
import json, sys
import fastmask

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

tok = fastmask.ChatTokenizer.from_file(sys.argv[1], chat_template="{{ messages[0].content }}")
assert tok.backend == "tokenizers1"  # waits for the engine's build
print(json.dumps({"rss": status("VmRSS"), "peak": status("VmHWM")}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RSS is read from Linux's /proc")
def test_memory_the_engine_build_freed_goes_back_to_the_os():
    # tokenizers 1.0 parses the whole tokenizer.json (18 MB for Qwen2's 151k vocabulary) to build
    # the engine and keeps a fraction of it; the allocator's ten-second purge delay kept the rest
    # resident under the calls that followed (RSS equal to the peak: 422 MiB, now about 313).
    path = str(tokenizer_zoo.model_dir("qwen2") / "tokenizer.json")
    run = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, path], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    memory = json.loads(run.stdout)
    assert memory["rss"] < 0.9 * memory["peak"], memory
