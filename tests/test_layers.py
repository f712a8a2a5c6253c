"""The layering: the kernel `bot.core` <- `agent` <- services in `bot` <- `adapters` <- the wiring
(`bot.app`, `bot.serve`, `bot.cli`). Each module's imports, read from its source (function-level
imports included), must keep to the rules in `RULES`; and the CLI must start without its heavy parts.
The tests share helpers only through `tests/support`: no test module imports another, or a conftest.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "agent", "adapters")
WIRING = ("bot.app", "bot.serve", "bot.cli")
PLATFORMS = ("adapters.slack", "adapters.discord", "adapters.console", "adapters.fake", "adapters.http")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_imports(path: Path) -> set[str]:
    """Every module of ours `path` imports, at any level (in functions, under TYPE_CHECKING, ...)."""
    return {m for m in imports_in(path) if m.split(".")[0] in PACKAGES}


def imports_in(path: Path) -> set[str]:
    """Every module `path` imports, at any level, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from bot import settings` imports the module bot.settings
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def all_modules() -> dict[str, set[str]]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = our_imports(path)
    return modules


def _is_module(name: str) -> bool:
    """True for names of our modules and packages (`from bot import x` also yields `bot.x`, which may be a name)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _bot_services() -> tuple[str, ...]:
    """Every module of `bot` but the wiring (`bot` itself left out: allowing it would allow all)."""
    names = {module_name(path) for path in (ROOT / "bot").rglob("*.py")}
    return tuple(sorted(n for n in names if n != "bot" and not any(_within(n, w) for w in WIRING)))


@dataclass(frozen=True)
class Rule:
    """Modules within `layer` may import, of ours, only what is within `allowed`; `except_for`
    are modules of the layer the rule does not cover."""

    name: str
    layer: str
    allowed: tuple[str, ...]
    except_for: tuple[str, ...] = ()

    def violations(self, modules: dict[str, set[str]]) -> list[str]:
        found = []
        for module, imports in sorted(modules.items()):
            if not _within(module, self.layer) or any(_within(module, e) for e in self.except_for):
                continue
            for imported in sorted(imports):
                if _is_module(imported) and not any(_within(imported, a) for a in self.allowed):
                    found.append(f"{module} imports {imported}")
        return found


RULES = [
    Rule("the kernel imports nothing of ours", layer="bot.core", allowed=("bot.core",)),
    Rule("the agent imports only itself and the kernel", layer="agent", allowed=("agent", "bot.core")),
    # Adapters get the core as the `bot.core.ports.BotCore` port, never `bot.app.Teambot`.
    Rule("adapters do not import the composition root", layer="adapters",
         allowed=("adapters", "agent", *_bot_services())),
    *(Rule(f"the {platform} adapter imports no other platform's", layer=f"adapters.{platform}",
           allowed=(f"adapters.{platform}", "adapters.base", "agent", *_bot_services()))
      for platform in ("slack", "discord", "console", "fake", "http")),
    # Services in `bot` (everything but the kernel and the wiring) never import an adapter: reports, for
    # one, post through the kernel's `ReportDestination` port, which the adapters implement.
    Rule("services in bot import no adapter", layer="bot", allowed=("bot", "agent"), except_for=WIRING),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_layer_rule(rule: Rule) -> None:
    assert rule.violations(all_modules()) == []


def test_the_import_reader_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    modules = all_modules()
    assert "bot.core.values" in modules["bot.core.visibility"]
    assert "bot.app" in modules["bot.cli"], "bot.cli imports bot.app inside a function"
    assert "bot.app" not in _bot_services() and "bot.commands" in _bot_services()
    broken = Rule("demo", layer="bot.cli", allowed=("bot.core",))
    assert "bot.cli imports bot.app" in broken.violations(modules)


def test_the_kernel_is_there() -> None:
    """What the layers rest on: moved, not copied (the modules that name kernel types import them)."""
    from adapters.base import ReplyStream
    from bot import history, parsers, usage
    from bot.core import errors, ports, values

    assert history.Turn is values.Turn and usage.QuestionRecord is values.QuestionRecord
    assert parsers.IngestError is errors.IngestError
    assert ReplyStream is ports.ReplyStream
    # The kernel's former homes are gone, not kept as aliases beside it.
    for retired in ("events", "permissions", "scoping"):
        assert not (ROOT / "bot" / f"{retired}.py").exists(), f"bot/{retired}.py is back"


def imports_of_tests() -> dict[str, set[str]]:
    """For every module under tests/, what it imports from `tests`."""
    return {module_name(path): {m for m in imports_in(path) if _within(m, "tests")}
            for path in sorted((ROOT / "tests").rglob("*.py"))}


def imports_besides_support(modules: dict[str, set[str]]) -> list[str]:
    """Imports of tests' modules other than `tests.support`: another test module's, or a conftest's
    (each module named once, not once more for every name taken from it)."""
    found = []
    for module, imports in sorted(modules.items()):
        outside = {m for m in imports if m != "tests" and not _within(m, "tests.support")}
        found += [f"{module} imports {m}" for m in sorted(outside) if m.rpartition(".")[0] not in outside]
    return found


def test_tests_share_helpers_only_through_support() -> None:
    """Helpers used by more than one test module live in `tests/support`, fixtures in a conftest that
    pytest loads: no test module imports another, or a conftest, by name."""
    assert imports_besides_support(imports_of_tests()) == []


def test_the_tests_import_check_sees_other_test_modules_and_conftests() -> None:
    modules = imports_of_tests()
    assert "tests.support.cli" in modules["tests.test_cli"] and "tests.support.fake_slack" in modules["tests.conftest"]
    imported = {"tests.test_a": {"tests", "tests.test_b", "tests.test_b.helper", "tests.support.cli"},
                "tests.slack.test_c": {"tests.slack.conftest", "tests.slack.conftest.payload"}}
    assert imports_besides_support(imported) == [
        "tests.slack.test_c imports tests.slack.conftest", "tests.test_a imports tests.test_b"]


HEAVY = ("chromadb", "langgraph", "langchain_openai")


def test_the_cli_parser_loads_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from bot.cli import build_parser\n"
        "build_parser()\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


def _imported(stderr: str) -> set[str]:
    """Top-level package names in `-X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_teambot_help_imports_nothing_heavy() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "usage: teambot" in result.stdout
    assert not _imported(result.stderr) & set(HEAVY)


def test_ask_without_a_model_never_loads_the_model_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEAMBOT_", "REDIS_", "SLACK_",
                                                                      "DISCORD_"))}
    env.update(TEAMBOT_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", "ask", "--json", "anyone there?"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"mode": "none"' in result.stdout
    imported = _imported(result.stderr)
    assert "langgraph" in imported, "the check would see it (ask does load the agent)"
    assert "langchain_openai" not in imported
