"""`python -m fastmask.conformance`: the report users run on their own templates.

A folder holds a real TRL template (identical), a template whose output fastmask deliberately
does not reproduce (a bound method printed by jinja2 with its memory address: differs), and one
fastmask refuses at compile time (the `random` filter: unsupported). The report must say so,
name the first differing case and position, and exit with 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from _support.trl_templates import template

import fastmask
from fastmask.conformance import DIFFERS, IDENTICAL, UNSUPPORTED, main, run_conformance
from fastmask.conformance.corpus import BY_NAME

# Quick subset: plain chat, tools rendered through tojson, parts, and a case gemma rejects.
CASES = "single_turn,tool_call_round_trip,content_parts_tuple,system_single_turn"
METHOD_REPR = "{% for m in messages %}{{ m.role }}: {{ m.items }}\n{% endfor %}"
RANDOM_FILTER = "{% for m in messages %}\n{{ m.content }}{{ ['a', 'b']|random }}{% endfor %}"


@pytest.fixture(scope="module")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    (folder / "qwen3_training.jinja").write_text(template("qwen3_training"), encoding="utf-8")
    (folder / "gemma.jinja").write_text(template("gemma"), encoding="utf-8")
    (folder / "method_repr.jinja").write_text(METHOD_REPR, encoding="utf-8")
    (folder / "random_filter.jinja").write_text(RANDOM_FILTER, encoding="utf-8")
    (folder / "notes.txt").write_text("not a template", encoding="utf-8")
    return folder


def test_command_reports_each_template_and_exits_1_on_a_difference(template_dir, capsys):
    status = main(["--templates", str(template_dir), "--cases", CASES])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    by_name = {
        line.split()[1].rstrip(":"): line for line in out if line.split()[0] in (IDENTICAL, DIFFERS, UNSUPPORTED)
    }
    assert sorted(by_name) == ["gemma", "method_repr", "qwen3_training", "random_filter"]
    assert by_name["qwen3_training"].startswith(f"{IDENTICAL}  ")
    assert "4 cases, 0 raise in both engines" in by_name["qwen3_training"]
    assert "2 raise in both engines" in by_name["gemma"]  # gemma refuses system and tool messages
    assert by_name["method_repr"].startswith(DIFFERS)
    assert "case 'single_turn': text differs at char 43" in by_name["method_repr"]
    assert by_name["random_filter"].startswith(UNSUPPORTED)
    assert "'random' is not supported" in by_name["random_filter"] and "line 2" in by_name["random_filter"]
    assert out[-1] == "4 templates: 2 identical, 1 differ, 1 unsupported"


def test_context_of_the_first_difference(template_dir):
    (report,) = run_conformance({"method_repr": METHOD_REPR}, cases=[BY_NAME["single_turn"]])
    (difference,) = report.differences
    # "user: <built-in method items of dict object" agrees; jinja2 then prints the address.
    assert (difference.case, difference.what, difference.position) == ("single_turn", "text", 43)
    assert difference.transformers.startswith("'in method items of dict object at 0x")
    assert difference.fastmask == repr("in method items of dict object>\nassistant: <built-in method ")


def test_identical_folder_exits_0_and_compares_ids_with_a_real_tokenizer(template_dir, deepseek_json, capsys):
    folder = template_dir.parent / "only_qwen"
    folder.mkdir(exist_ok=True)
    (folder / "qwen3_training.jinja").write_text(template("qwen3_training"), encoding="utf-8")
    status = main(["--templates", str(folder), "--tokenizer", str(deepseek_json.parent), "--cases", CASES])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.splitlines()[-1] == "1 templates: 1 identical, 0 differ, 0 unsupported"


def test_ids_and_masks_are_compared(monkeypatch):
    """A fastmask whose masks were off by one token would be reported as `assistant_masks` differing."""
    real = fastmask.apply_chat_template

    def shifted(*args, **kwargs):
        out = real(*args, **kwargs)
        if kwargs.get("return_assistant_tokens_mask"):
            out["assistant_masks"] = [0] + list(out["assistant_masks"])[:-1]
        return out

    monkeypatch.setattr(fastmask, "apply_chat_template", shifted)
    (report,) = run_conformance({"qwen3_training": template("qwen3_training")}, cases=[BY_NAME["single_turn"]])
    assert report.status == DIFFERS
    assert report.differences[0].what == "assistant_masks"


def test_module_entry_point_and_usage_errors(template_dir):
    run = subprocess.run(
        [sys.executable, "-m", "fastmask.conformance", "--templates", str(template_dir), "--cases", "no_such_case"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "unknown cases ['no_such_case']" in run.stderr
    assert main(["--templates", str(template_dir / "missing"), "--cases", "single_turn"]) == 2
