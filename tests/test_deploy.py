"""Deployment files: the Dockerfile and docker-compose.yml, checked without a Docker engine.

The Dockerfile is parsed (dockerfile-parse) and its healthcheck command is run for
real against the shared web app on a loopback port. The compose file is loaded with
PyYAML and its wiring checked; `docker compose config -q` runs too when a compose
binary exists here (skipped otherwise).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from dockerfile_parse import DockerfileParser

from bot.app import Teambot
from bot.redis_server import free_port
from bot.serve import build_web_app
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# Every instruction the Dockerfile reference defines (MAINTAINER is deprecated and left out).
DOCKERFILE_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}


def _dockerfile() -> list[dict[str, Any]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def _stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """`.dockerignore` semantics for the simple patterns used here: last match wins, `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negate
    return ignored


def test_dockerfile_instructions_are_valid() -> None:
    instructions = _dockerfile()
    names = [i["instruction"] for i in instructions]
    assert set(names) <= DOCKERFILE_INSTRUCTIONS, set(names) - DOCKERFILE_INSTRUCTIONS
    # Only ARG may come before the first FROM.
    assert set(names[: names.index("FROM")]) <= {"ARG"}
    for instruction in instructions:
        assert instruction["value"].strip(), f"empty {instruction['instruction']} on line {instruction['startline']}"
    for name in ("CMD", "HEALTHCHECK", "USER", "ENTRYPOINT"):
        assert names.count(name) <= 1, f"more than one {name}: only the last would count"


def test_runtime_image_is_slim_non_root_with_healthcheck_and_cmd() -> None:
    runtime = _stages(_dockerfile())[-1]
    by_name = {i["instruction"]: i["value"] for i in runtime}
    assert re.fullmatch(r"python:(\$\{PYTHON_VERSION\}|3\.11)-slim", by_name["FROM"].split()[0])
    assert "PYTHON_VERSION=3.11" in [i["value"] for i in _dockerfile() if i["instruction"] == "ARG"]

    user = by_name["USER"].split(":")[0]
    assert user not in {"root", "0"}, "the bot must not run as root"
    assert by_name["CMD"] == '["teambot", "serve"]'
    assert "/healthz" in by_name["HEALTHCHECK"] and " CMD " in f" {by_name['HEALTHCHECK']} "
    assert "TEAMBOT_DATA_DIR=/data" in by_name["ENV"] and "/data" in by_name["VOLUME"]
    # USER must come before anything the container runs, and after the root-only setup.
    order = [i["instruction"] for i in runtime]
    assert order.index("USER") < order.index("CMD")
    assert not any(i["instruction"] == "RUN" and "pip install" in i["value"] for i in runtime), \
        "packages are installed in the build stage, not at run time"


def test_every_copied_file_exists_and_reaches_the_build_context() -> None:
    patterns = _dockerignore()
    copies = [i for i in _dockerfile() if i["instruction"] in {"COPY", "ADD"}]
    assert copies
    for copy in copies:
        args = shlex.split(copy["value"])
        if any(a.startswith("--from=") for a in args):
            continue
        sources = [a for a in args if not a.startswith("--")][:-1]
        assert sources, copy
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: excluded by .dockerignore"
    # Secrets and local state stay out of the image.
    for private in (".env", "data", ".git", ".venv"):
        assert _ignored(private, patterns), f"{private} must be in .dockerignore"
    # Every package the project installs is copied (pyproject's package list).
    copied = {shlex.split(c["value"])[0].rstrip("/") for c in copies}
    assert {"agent", "bot", "adapters"} <= copied


def test_dockerfile_installs_from_pyproject_with_all_extras() -> None:
    build = _stages(_dockerfile())[0]
    runs = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    assert 'pip install ".[all]"' in runs
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"wordllama[><=]', pyproject), "the offline embedding model comes with the wordllama package"


def test_embedding_model_loads_offline_as_the_image_checks() -> None:
    """The image's build-time check: WordLlama loads from the installed package, downloads disabled."""
    [check] = [i["value"] for i in _stages(_dockerfile())[-1]
               if i["instruction"] == "RUN" and "WordLlamaEmbedder" in i["value"]]
    command = shlex.split(check)
    assert command[:2] == ["python", "-c"]
    env = {"PATH": os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1", "HOME": "/nonexistent"}
    result = subprocess.run([sys.executable, "-c", command[2]], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


async def test_healthcheck_command_hits_healthz(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """Run the HEALTHCHECK's command (shell form) against the real web app on a loopback port."""
    healthcheck = next(i["value"] for i in _dockerfile() if i["instruction"] == "HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1].strip()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "TEAMBOT_HTTP_PORT": str(port)}

    async def run() -> int:
        import asyncio

        process = await asyncio.create_subprocess_shell(command, cwd=tmp_path, env=env,
                                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return await asyncio.wait_for(process.wait(), timeout=30)

    assert await run() == 1, "nothing listens yet: the check must fail"
    async with Teambot(make_settings()) as teambot:
        runner = web.AppRunner(build_web_app(teambot))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            assert await run() == 0
        finally:
            await runner.cleanup()


# --- docker-compose.yml ---------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def test_compose_wires_bot_redis_and_chroma() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"bot", "redis", "chroma"}
    bot, redis, chroma = services["bot"], services["redis"], services["chroma"]

    assert bot["build"] == "." or bot["build"].get("context") == "."
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert ".env" in [f if isinstance(f, str) else f["path"] for f in env_files]
    env = _environment(bot)
    assert re.fullmatch(r"redis://redis:6379(/\d+)?", env["REDIS_URL"])
    assert env["CHROMA_HOST"] == "chroma" and env["CHROMA_PORT"] == "8000"
    assert env["TEAMBOT_DATA_DIR"] == "/data"
    assert set(bot["depends_on"]) == {"redis", "chroma"}
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert any(str(p).endswith(f":{env['TEAMBOT_HTTP_PORT']}") for p in bot["ports"])

    assert redis["image"].startswith("redis:")
    command = redis["command"] if isinstance(redis["command"], list) else redis["command"].split()
    assert command[command.index("--appendonly") + 1] == "yes", "Redis persistence must be on"
    assert chroma["image"].startswith("chromadb/chroma:")

    # Every named volume is declared, and each stateful service keeps its data in one.
    declared = set(compose["volumes"])
    for name, service in services.items():
        mounts = [str(v).split(":") for v in service.get("volumes", [])]
        assert mounts, f"{name} has no volume"
        for source, target, *_ in mounts:
            assert source in declared, f"{name}: volume {source} is not declared"
            assert target == "/data", f"{name}: data directory is /data in all three images"


def test_env_example_names_what_compose_overrides() -> None:
    """The variables compose sets for the bot are real settings (documented in .env.example)."""
    example = (ROOT / ".env.example").read_text()
    for name in _environment(_compose()["services"]["bot"]):
        assert re.search(rf"^{name}=", example, re.MULTILINE), f"{name} is not a teambot setting"


def _compose_command() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        try:
            probe = subprocess.run([*command, "version"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return None


def test_compose_config_is_valid_for_docker_compose(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose plugin or docker-compose binary here")
    # A copy with an empty .env: the real one is private and may not exist.
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("")
    result = subprocess.run([*command, "-f", "docker-compose.yml", "config", "-q"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
