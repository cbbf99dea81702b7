"""extract_program: one program out of an LLM reply, wrappers removed, everything else left to the sandbox."""

from __future__ import annotations

import pytest

from hawk_tvm.errors import HawkError
from hawk_tvm.llm.parse import extract_program

BODY = "b = sch.get_sblock(MAIN)\nsch.parallel(sch.get_loops(b)[0])\n"


@pytest.mark.parametrize(
    "reply",
    [
        f"Here you go:\n```python\n{BODY}```\n",
        f"```\n{BODY}```",
        f"```py\n{BODY}```",
        f"```Python3\n{BODY}```",
        f"~~~python\n{BODY}~~~",
        f"Some text\n```text\nnot code\n```\nand then\n```python\n{BODY}```",
        f"```python\nimport tvm\nfrom tvm import s_tir\nsch = tvm.s_tir.Schedule(mod)\n{BODY}```",
        '```python\ndef schedule(sch):\n    """Doc."""\n    b = sch.get_sblock(MAIN)\n'
        "    sch.parallel(sch.get_loops(b)[0])\n    return sch\n```",
        "```python\nimport tvm\n\ndef apply(mod):\n    sch = tvm.s_tir.Schedule(mod)\n"
        "    b = sch.get_sblock(MAIN)\n    sch.parallel(sch.get_loops(b)[0])\n    return sch\n\nsch = apply(mod)\n```",
        f"  ```python\n  {BODY.splitlines()[0]}\n  {BODY.splitlines()[1]}\n  ```",
    ],
)
def test_program_is_extracted(reply: str) -> None:
    assert extract_program(reply) == BODY


def test_first_python_block_wins() -> None:
    text = "```python\nx = 1\n```\n```python\nx = 2\n```"
    assert extract_program(text) == "x = 1\n"


def test_comments_are_kept() -> None:
    assert extract_program("```python\n# tile for L1\nx = 1  # note\n```") == "# tile for L1\nx = 1  # note\n"


def test_suspicious_code_is_left_for_the_sandbox() -> None:
    program = extract_program("```python\nimport os\nos.system('id')\n```")
    assert program == "import os\nos.system('id')\n"


def test_syntax_errors_are_left_for_the_sandbox() -> None:
    assert extract_program("```python\nb = sch.get_sblock(MAIN\n```") == "b = sch.get_sblock(MAIN\n"


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("b = sch.get_sblock(MAIN)", "no fenced code block"),
        ("```python\n\n```", "no program"),
        ("```python\nimport tvm\n```", "no program"),
        ("```python\ndef f(sch):\n    return sch\n```", "no program"),
        ("```python\nb = sch.get_sblock(MAIN)\n", "not closed"),
        ("```json\n{}\n```", "no python code block"),
    ],
)
def test_unusable_replies(reply: str, words: str) -> None:
    error = extract_program(reply)
    assert isinstance(error, HawkError) and error.kind == "llm.parse" and words in error.message
