"""The production deployment files agree with the package: compose file, Dockerfile, ignores.

No Docker engine is needed: the compose file is read with yaml and interpolated the way Compose
does it, its URLs go through the package's own :class:`~filterbets_nb.config.Settings`, and the
Celery facts the stack relies on (registered tasks, routes, the beat schedule) are read from the
app itself in a fresh interpreter, over Celery's in-process ``memory://`` broker, which is what
``celery inspect registered`` would report from a running worker.
"""

from __future__ import annotations

import graphlib
import importlib.util
import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from filterbets_nb import compose_init
from tests.conftest import APP, ROOT, embedded_env, run_py

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

REQUIRED_SERVICES = {"redis", "db", "worker", "beat", "flower", "jupyter", "migrate"}
#: Services that run the package and so need its settings.
APP_SERVICES = ("migrate", "worker", "beat", "flower", "jupyter")
QUEUES = {"backtest", "stats"}
CHAIN_TASKS = (
    "filterbets_nb.tasks.backtest_tasks.fetch_matches",
    "filterbets_nb.tasks.backtest_tasks.evaluate_filter",
    "filterbets_nb.tasks.backtest_tasks.save_results",
)
STATS_TASKS = (
    "filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task",
    "filterbets_nb.tasks.stats_tasks.refresh_league_stats_task",
)
BEAT_ENTRY = "refresh-team-stats-daily"

# ------------------------------------------------------------------------------ interpolation
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution (``$$``, ``$V``, ``${V}``, ``${V:-d}``, ``${V-d}``,
    ``${V:?err}``, ``${V?err}``) applied to every string of a loaded compose document.

    Written out here because the test must see the values a real ``docker compose up`` would
    hand the containers, and no Compose implementation is installed.
    """
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        usable = present and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return env[name] if usable else arg
        if op in (":?", "?"):
            if not usable:
                raise KeyError(f"required variable {name} is unset: {arg}")
            return env[name]
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


#: Host secrets for the tests that need a startable stack (the file has no defaults).
SECRETS_SET = {
    "POSTGRES_PASSWORD": "pg-S3cret",
    "REDIS_PASSWORD": "redis-S3cret",
    "FLOWER_BASIC_AUTH": "admin:flower-S3cret",
    "JUPYTER_TOKEN": "jupyter-S3cret",
}


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with anchors and merge keys resolved and variables substituted
    (with :data:`SECRETS_SET` unless ``env`` is given)."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return interpolate(document, SECRETS_SET if env is None else env)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_args(service: Mapping[str, Any]) -> list[str]:
    """A service's command as argv (Compose splits string commands shell-style)."""
    command = service.get("command")
    assert command, "service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as ``KEY=value`` lines."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def option(args: list[str], *names: str) -> str | None:
    """Value of a ``-X value`` / ``--long value`` / ``--long=value`` option in ``args``."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


# --------------------------------------------------------------------------------- the services
def test_required_services_present(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES, REQUIRED_SERVICES - set(services)


def test_app_services_run_the_projects_image(services: dict[str, dict[str, Any]]) -> None:
    images = set()
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "")
        assert (context / dockerfile).resolve() == DOCKERFILE, name
        if name != "jupyter":
            images.add(services[name].get("image"))
    assert len(images) == 1, f"app services tag different images: {images}"


def test_only_jupyter_installs_the_notebook_extra(services: dict[str, dict[str, Any]]) -> None:
    """Workers, beat, migrate and Flower run the lean core; JupyterLab's image adds the
    notebook extra through the Dockerfile's EXTRAS argument, under an image name of its own."""
    for name in APP_SERVICES:
        build = services[name]["build"]
        extras = (build.get("args") or {}).get("EXTRAS", "") if isinstance(build, dict) else ""
        assert extras == ("[notebook]" if name == "jupyter" else ""), name
    assert services["jupyter"]["image"] != services["worker"]["image"]
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    assert '"filterbets-nb${EXTRAS}"' in runs and '".${EXTRAS}"' in runs


@pytest.mark.parametrize("name", ["worker", "beat", "flower"])
def test_celery_commands_name_the_app(services: dict[str, dict[str, Any]], name: str) -> None:
    args = command_args(services[name])
    assert args[0] == "celery"
    assert option(args, "-A", "--app") == APP
    assert importlib.util.find_spec(APP) is not None
    assert name in args[1:], f"{name} service does not run `celery ... {name}`"


def test_worker_consumes_both_queues(services: dict[str, dict[str, Any]]) -> None:
    args = command_args(services["worker"])
    queues = option(args, "-Q", "--queues")
    assert queues is not None, "without -Q the worker's queues depend on the app's defaults"
    assert set(queues.split(",")) == QUEUES


def test_flower_listens_on_the_published_port(services: dict[str, dict[str, Any]]) -> None:
    flower = services["flower"]
    assert option(command_args(flower), "--port") == "5555"
    container_ports = {str(p).rsplit(":", 1)[-1].split("/")[0] for p in flower.get("ports", [])}
    assert container_ports == {"5555"}


def test_commands_are_console_scripts_the_image_installs(
    services: dict[str, dict[str, Any]],
) -> None:
    """``celery``, ``filterbets-nb`` and ``jupyter`` come with the project's dependencies: a
    misspelt executable would only show up as a container that exits at once."""
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    for name in APP_SERVICES:
        assert command_args(services[name])[0] in scripts, name
    assert dockerfile_instruction_args("CMD")[0] in scripts


def test_migrate_is_a_one_shot_upgrade(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert command_args(migrate) == ["filterbets-nb", "db", "upgrade"]
    # A restarting one-shot would never count as "completed successfully".
    assert migrate.get("restart", "no") == "no"


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    """``docker compose up --scale worker=N`` needs no fixed name and no fixed host port."""
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")


def test_db_is_postgres_16_with_healthcheck_and_volume(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["image"] == "postgres:16"
    assert db["healthcheck"]["test"]
    mounts = [str(v).split(":") for v in db.get("volumes", [])]
    data = [m for m in mounts if m[1:2] == ["/var/lib/postgresql/data"]]
    assert data, "the database files are not on a volume"
    assert data[0][0] in (compose.get("volumes") or {}), "not a declared named volume"


# ------------------------------------------------------------------------------ URLs + settings
ENVIRONMENTS = {"secrets set": SECRETS_SET, "compose-init": compose_init.generate()}


def service_settings(
    service_env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, cwd: Path
) -> Any:
    """The package's Settings exactly as a container with ``service_env`` would build them."""
    from filterbets_nb.config import Settings

    for key in list(os.environ):
        if key.startswith("FILTERBETS_"):
            monkeypatch.delenv(key)
    for key, value in service_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)  # no stray .env file
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("env_name", list(ENVIRONMENTS))
@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_urls_point_at_the_services(
    name: str, env_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    host_env = ENVIRONMENTS[env_name]
    services = load_compose(host_env)["services"]
    db_env = environment(services["db"])
    redis_env = environment(services["redis"])
    settings = service_settings(environment(services[name]), monkeypatch, tmp_path)

    assert settings.mode == "services"
    database = make_url(settings.database)
    assert database.drivername == "postgresql+asyncpg"
    assert (database.host, database.port) == ("db", 5432)
    assert database.username == db_env["POSTGRES_USER"]
    assert database.password == db_env["POSTGRES_PASSWORD"]
    assert database.database == db_env["POSTGRES_DB"]

    redis_command = " ".join(command_args(services["redis"]))
    for url in (settings.broker, settings.backend):
        parts = urlsplit(url)
        assert parts.scheme == "redis"
        assert (parts.hostname, parts.port) == ("redis", 6379)
        assert parts.password == redis_env["REDIS_PASSWORD"]
        assert "--requirepass" in redis_command and "$REDIS_PASSWORD" in redis_command
    assert database.password == host_env["POSTGRES_PASSWORD"]
    assert urlsplit(settings.broker).password == host_env["REDIS_PASSWORD"]
    for secret in (db_env["POSTGRES_PASSWORD"], redis_env["REDIS_PASSWORD"]):
        assert f":{secret}@" not in settings.describe()  # masked in logs


# ------------------------------------------------------------------------------------ secrets
@pytest.mark.parametrize("name", sorted(compose_init.SECRETS))
@pytest.mark.parametrize("value", [None, ""])
def test_every_secret_is_required(name: str, value: str | None) -> None:
    """No secret has a usable default: unset or empty, the stack refuses to start, saying
    which variable and how to make one."""
    env = dict(SECRETS_SET)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(KeyError, match=f"{name} is unset: .*compose-init"):
        load_compose(env)


def test_no_secret_is_written_with_a_default() -> None:
    text = COMPOSE_FILE.read_text()
    for name in compose_init.SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, f"{name} is not used"
        assert all(use.startswith(":?") for use in uses), (name, uses)


def test_jupyter_and_flower_require_their_secrets(services: dict[str, dict[str, Any]]) -> None:
    assert environment(services["jupyter"])["JUPYTER_TOKEN"] == SECRETS_SET["JUPYTER_TOKEN"]
    flower = environment(services["flower"])["FLOWER_BASIC_AUTH"]
    assert flower == SECRETS_SET["FLOWER_BASIC_AUTH"] and ":" in flower


def _read_env(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_init_writes_random_secrets_once(tmp_path: Path) -> None:
    """The real command, run in-process (Typer's runner): a subprocess per call costs seconds."""
    from typer.testing import CliRunner

    from filterbets_nb.cli import app

    runner = CliRunner()
    target = tmp_path / ".env"
    first = runner.invoke(app, ["compose-init", "--path", str(target)])
    assert first.exit_code == 0, first.output
    assert target.stat().st_mode & 0o777 == 0o600
    values = _read_env(target)
    assert set(values) == set(compose_init.SECRETS)
    for name, value in values.items():
        secret = value.split(":", 1)[1] if name == "FLOWER_BASIC_AUTH" else value
        assert len(secret) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret), name
    services = load_compose(values)["services"]  # the stack starts with exactly these
    assert environment(services["jupyter"])["JUPYTER_TOKEN"] == values["JUPYTER_TOKEN"]

    again = runner.invoke(app, ["compose-init", "--path", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output, again.output
    assert again.exception is None or isinstance(again.exception, SystemExit)
    assert _read_env(target) == values  # untouched

    forced = runner.invoke(app, ["compose-init", "--path", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    replaced = _read_env(target)
    assert all(replaced[name] != values[name] for name in values)


# ------------------------------------------------------------------------------- start ordering
def test_depends_on_graph(services: dict[str, dict[str, Any]]) -> None:
    graph: dict[str, dict[str, str]] = {}
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        graph[name] = {
            d: (spec or {}).get("condition", "service_started") for d, spec in deps.items()
        }

    for name, deps in graph.items():
        for dep, condition in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{dep} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} restarts"
    order = list(graphlib.TopologicalSorter({n: set(d) for n, d in graph.items()}).static_order())
    assert order.index("migrate") < order.index("worker")  # raises CycleError on a cycle

    assert graph["worker"] == {
        "redis": "service_healthy",
        "db": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    for name in ("beat", "jupyter"):
        assert graph[name]["migrate"] == "service_completed_successfully", name
        assert graph[name]["redis"] == "service_healthy", name
    assert graph["migrate"]["db"] == "service_healthy"
    assert "redis" in graph["flower"]


def test_cycles_are_detected() -> None:
    """The acyclicity check above relies on graphlib raising; make sure it does."""
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


# ---------------------------------------------------------------------------------- Dockerfile
def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def dockerfile_instruction_args(keyword: str) -> list[str]:
    """The last ``keyword`` instruction's exec-form arguments (the one Docker uses)."""
    values = [rest for kw, rest in dockerfile_instructions() if kw == keyword]
    assert values, f"no {keyword} in the Dockerfile"
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} is not in exec (JSON) form"
    return [str(a) for a in parsed]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def test_dockerfile_base_image_and_user() -> None:
    args = {
        m[0]: m[1]
        for kw, rest in dockerfile_instructions()
        if kw == "ARG" and "=" in rest
        for m in [rest.split("=", 1)]
    }
    stage = final_stage()
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), stage[0][1].split()[0])
    assert base == "python:3.11-slim"
    users = [rest for kw, rest in stage if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    user_at = max(i for i, (kw, _) in enumerate(stage) if kw == "USER")
    cmd_at = max(i for i, (kw, _) in enumerate(stage) if kw == "CMD")
    assert user_at < cmd_at


def test_dockerfile_cmd_is_the_compose_worker(services: dict[str, dict[str, Any]]) -> None:
    """``docker run IMAGE`` starts the same worker the compose file does, and no ENTRYPOINT
    prefixes the compose commands (``celery ...``, ``jupyter ...``) with something else."""
    assert not [rest for kw, rest in final_stage() if kw == "ENTRYPOINT"]
    assert dockerfile_instruction_args("CMD") == command_args(services["worker"])


def test_dockerfile_installs_the_project_and_flower() -> None:
    """The image installs the project from the repo; Flower, a dev extra, is added with the
    same requirement pyproject.toml gives it, so the two cannot drift apart unnoticed."""
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    flower = next(r for r in dev["dev"] if r.startswith("flower"))
    assert re.search(r"pip (?:install|wheel)\b[^&]*\s\.\s", runs), "project not installed"
    assert f'"{flower}"' in runs or f"'{flower}'" in runs, f"{flower} not installed"


# ------------------------------------------------------------------------------- .dockerignore
def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """``(is_exception, regex)`` per line, Docker's matching: ``*`` within a path segment,
    ``**`` across segments, a match on a directory covers everything below it."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif line.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif line[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif line[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif line[i] == "[":
                end = line.index("]", i)
                regex, i = regex + line[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(line[i]), i + 1
        patterns.append((negate, re.compile(regex + "(?:/.*)?")))
    return patterns


def ignored(path: str) -> bool:
    result = False
    for negate, pattern in dockerignore_patterns():
        if pattern.fullmatch(path):
            result = not negate
    return result


def build_inputs() -> Iterator[str]:
    """Every file the Dockerfile's COPY lines need from the build context."""
    for kw, rest in dockerfile_instructions():
        if kw != "COPY" or "--from" in rest:
            continue
        for source in [s for s in rest.split() if not s.startswith("--")][:-1]:
            path = ROOT / source
            if path.is_dir():
                for file in path.rglob("*"):
                    if file.is_file() and "__pycache__" not in file.parts:
                        yield file.relative_to(ROOT).as_posix()
            else:
                assert path.is_file(), f"COPY source {source} does not exist"
                yield source


def test_dockerignore_keeps_what_the_build_needs() -> None:
    needed = list(build_inputs())
    assert "pyproject.toml" in needed and "README.md" in needed
    assert any(p.startswith("filterbets_nb/db/migrations/versions/") for p in needed)
    assert [p for p in needed if ignored(p)] == []


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    for path in (".env", ".git/HEAD", ".venv/bin/python", "filterbets_nb/__pycache__/x.pyc"):
        assert ignored(path), path
    assert not ignored("filterbets_nb/db/migrations/env.py")


# ------------------------------------------------------------------- the Celery app, no broker
APP_FACTS = """
import json
from kombu.exceptions import ChannelError
from filterbets_nb.tasks.celery_app import celery_app as app
app.loader.import_default_modules()  # what a worker does at start: the `include` modules
registered = sorted(n for n in app.tasks if not n.startswith("celery."))
entry = app.conf.beat_schedule[{entry!r}]
schedule = entry["schedule"]
landed = {{}}
with app.connection_for_write() as conn:
    channel = conn.default_channel
    for name in registered:
        # The beat entry's own options, if any, go with its task, as beat would send it.
        options = entry.get("options", {{}}) if name == entry["task"] else {{}}
        app.send_task(name, connection=conn, **options)
        counts = {{}}
        for queue in {queues!r}:
            try:
                counts[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:  # never declared: nothing was sent there
                counts[queue] = 0
            if counts[queue]:
                channel.queue_purge(queue)
        landed[name] = counts
print(json.dumps({{
    "registered": registered,
    "routes": {{n: app.amqp.router.route({{}}, n, (), {{}})["queue"].name for n in registered}},
    "landed": landed,
    "beat": {{
        "task": entry["task"],
        "type": type(schedule).__name__,
        "minute": sorted(schedule.minute),
        "hour": sorted(schedule.hour),
        "day_of_week": sorted(schedule.day_of_week),
        "day_of_month": sorted(schedule.day_of_month),
        "month_of_year": sorted(schedule.month_of_year),
        "tz": str(schedule.tz),
    }},
    "timezone": app.conf.timezone,
    "enable_utc": app.conf.enable_utc,
}}))
"""


@pytest.fixture(scope="module")
def app_facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Registered tasks, routes, where a sent message lands, and the beat entry, from the app
    as a worker imports it (a fresh interpreter: the app reads its settings at import)."""
    env = embedded_env(tmp_path_factory.mktemp("app-facts"))
    env.update(FILTERBETS_BROKER_URL="memory://", FILTERBETS_RESULT_BACKEND="cache+memory://")
    facts: dict[str, Any] = run_py(
        env, APP_FACTS.format(entry=BEAT_ENTRY, queues=sorted(QUEUES)), timeout=120
    )
    return facts


def test_registered_tasks_include_the_chain(app_facts: dict[str, Any]) -> None:
    registered = set(app_facts["registered"])
    assert set(CHAIN_TASKS) <= registered
    assert set(STATS_TASKS) <= registered
    assert "filterbets_nb.tasks.diagnostics.echo" in registered


def test_every_task_lands_in_exactly_one_worker_queue(app_facts: dict[str, Any]) -> None:
    """The compose worker consumes ``backtest,stats``: each task must be routed into one of
    those, exactly once (a second copy would run it twice)."""
    for name, counts in app_facts["landed"].items():
        assert sum(counts.values()) == 1, (name, counts)
        (queue,) = [q for q, n in counts.items() if n]
        assert queue == app_facts["routes"].get(name, queue), name
    for name in CHAIN_TASKS:
        assert app_facts["routes"][name] == "backtest"
    for name in STATS_TASKS:
        assert app_facts["routes"][name] == "stats"


def test_beat_refreshes_team_stats_daily_at_two_utc(app_facts: dict[str, Any]) -> None:
    beat = app_facts["beat"]
    assert beat["task"] == "filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task"
    assert beat["task"] in app_facts["registered"]
    assert beat["type"] == "crontab"
    assert (beat["hour"], beat["minute"]) == ([2], [0])
    assert beat["day_of_week"] == list(range(7))
    assert beat["day_of_month"] == list(range(1, 32))
    assert beat["month_of_year"] == list(range(1, 13))
    assert beat["tz"] == "UTC"
    assert (app_facts["timezone"], app_facts["enable_utc"]) == ("UTC", True)
    landed = app_facts["landed"][beat["task"]]
    assert landed == {"backtest": 0, "stats": 1}
