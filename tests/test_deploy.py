"""The deployment files (deploy/Dockerfile, deploy/compose.yaml, deploy/nginx.conf,
deploy/k8s/*.yaml) against the code they start.

Nothing here builds an image or talks to Docker or Kubernetes. What is checked is what can go
stale silently: every command and flag they run is one the CLI parser accepts, every
environment variable they set is a setting (or a known variable of uvicorn, Python or the
postgres image), every probe path is a route of the app, the user and ports agree between the
Dockerfile, the Deployment and the Service, the load balancer names every replica, the shutdown
budget covers what the service needs after SIGTERM, and the image's command, run as it is
written (migrate, then serve), answers its probes and exits 0 on SIGTERM.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml

from app import cli
from app.db import database_urls
from app.main import create_app
from app.settings import Settings
from app.workers import Workers
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
NGINX = DEPLOY / "nginx.conf"
K8S = DEPLOY / "k8s"
IMAGE_SERVICES = ("migrate", "wecom-mod-1", "wecom-mod-2")
REPLICAS = ("wecom-mod-1", "wecom-mod-2")

SETTINGS = {name.upper() for name in Settings.model_fields}
# Variables the deployment files may set that are not wecom-mod settings, and who reads them.
NOT_SETTINGS = {
    "FORWARDED_ALLOW_IPS": "uvicorn: addresses whose X-Forwarded-For is trusted",
    "PATH": "the shell",
    "PYTHONDONTWRITEBYTECODE": "Python",
    "PYTHONUNBUFFERED": "Python",
    "PIP_NO_CACHE_DIR": "pip (build stage)",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip (build stage)",
    "PYTHON_IMAGE": "deploy/Dockerfile's build argument: the base image",
}
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}


# -- readers ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list), f"not the exec (JSON) form: {rest}"
    return [str(part) for part in value]


def image_command() -> list[str]:
    """ENTRYPOINT + CMD of the final stage, as the container runs them."""
    stage = dict(final_stage())
    return exec_form(stage["ENTRYPOINT"]) + exec_form(stage["CMD"])


def healthcheck_command() -> list[str]:
    rest = dict(final_stage())["HEALTHCHECK"]
    _options, _, command = rest.partition("CMD ")
    return exec_form(command)


def image_user() -> tuple[int, int | None]:
    user = dict(final_stage())["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric, so that runAsNonRoot can check it"
    assert not gid or gid.isdigit(), f"USER {user}: numeric group"
    return int(uid), int(gid) if gid else None


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def services() -> dict[str, Any]:
    return compose()["services"]


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                documents.append((path, document))
    return documents


def k8s(kind: str) -> list[dict[str, Any]]:
    return [document for _path, document in k8s_documents() if document.get("kind") == kind]


def one(kind: str) -> dict[str, Any]:
    found = k8s(kind)
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def pod_spec(kind: str) -> dict[str, Any]:
    return one(kind)["spec"]["template"]["spec"]


def server_container() -> dict[str, Any]:
    (container,) = pod_spec("Deployment")["containers"]
    return container


def parse(argv: list[str]) -> Any:
    """The CLI's parse of argv (argparse exits on an unknown command or flag: a failure)."""
    try:
        return cli._parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`wecom-mod {shlex.join(argv)}` is refused by the CLI parser ({exc})")


def nginx_upstreams() -> dict[str, list[str]]:
    text = re.sub(r"#[^\n]*", "", NGINX.read_text(encoding="utf-8"))
    return {
        name: re.findall(r"^\s*server\s+([^\s;]+)[^;]*;", body, flags=re.MULTILINE)
        for name, body in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", text)
    }


def nginx_location_root() -> str:
    text = re.sub(r"#[^\n]*", "", NGINX.read_text(encoding="utf-8"))
    match = re.search(r"location\s+/\s*\{([^}]*)\}", text)
    assert match, "deploy/nginx.conf has no `location /`"
    return match.group(1)


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (match,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(match)


# -- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim_with_the_venv_copied() -> None:
    instructions = dockerfile_instructions()
    args = {
        name: default
        for keyword, rest in instructions
        if keyword == "ARG"
        for name, _, default in [rest.partition("=")]
    }
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0])
        for keyword, rest in instructions
        if keyword == "FROM"
    ]
    assert len(bases) >= 2 and set(bases) == {"python:3.11-slim"}
    copies = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    assert any(rest.startswith("--from=builder /opt/wecom-mod /opt/wecom-mod") for rest in copies)
    # The builder installs the package itself (not editable) into that venv.
    installs = [
        rest for keyword, rest in instructions if keyword == "RUN" and "pip install" in rest
    ]
    assert installs and all("-e " not in rest and "--editable" not in rest for rest in installs)


def test_dockerfile_runs_as_a_numeric_non_root_user_and_bakes_in_no_setting() -> None:
    uid, gid = image_user()
    assert uid != 0 and gid != 0
    baked = [
        name
        for keyword, rest in dockerfile_instructions()
        if keyword in ("ENV", "ARG")
        for name in re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", rest)
        + ([rest.split("=")[0]] if keyword == "ARG" else [])
    ]
    assert not [name for name in baked if name.upper() in SETTINGS], (
        "settings (and secrets) come from the environment at run time, not from the image"
    )
    assert set(baked) <= set(NOT_SETTINGS) | {"PYTHON_IMAGE", "EXTRAS"}


def test_dockerfile_command_is_serve_on_all_addresses_and_the_exposed_port() -> None:
    command = image_command()
    assert command[0] == "wecom-mod"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'wecom-mod = "app.cli:main"' in pyproject  # the console script the image runs
    args = parse(command[1:])
    assert args.command == "serve" and ipaddress.ip_address(args.host).is_unspecified
    (exposed,) = [rest for keyword, rest in final_stage() if keyword == "EXPOSE"]
    assert int(exposed) == args.port


def test_dockerfile_healthcheck_asks_healthz_on_the_served_port() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    (url,) = re.findall(r"http://[^'\"]+", command[2])
    assert url == f"http://127.0.0.1:{parse(image_command()[1:]).port}/healthz"


def test_the_default_sqlite_file_lands_in_the_workdir_the_user_owns() -> None:
    stage = final_stage()
    (workdir,) = [rest for keyword, rest in stage if keyword == "WORKDIR"]
    uid, _gid = image_user()
    made = " ".join(rest for keyword, rest in stage if keyword == "RUN")
    assert re.search(rf"install -d -o {uid} -g \d+ (-m \d+ )?{re.escape(workdir)}\b", made)
    default = Settings.model_fields["database_url"].default
    assert database_urls(default).is_sqlite and default.startswith("sqlite:///./")


# -- the CLI commands of compose and Kubernetes ----------------------------------------------


def container_commands() -> list[tuple[str, list[str]]]:
    found = [(f"compose {name}", services()[name]["command"]) for name in IMAGE_SERVICES]
    for _path, document in k8s_documents():
        if document["kind"] in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                assert "command" not in container, "the image's ENTRYPOINT runs wecom-mod"
                found.append((f"k8s {document['metadata']['name']}", container["args"]))
    return found


@pytest.mark.parametrize("where", [where for where, _argv in container_commands()])
def test_every_container_command_is_accepted_by_the_cli(where: str) -> None:
    argv = dict(container_commands())[where]
    args = parse(argv)
    assert args.command in ("serve", "migrate")
    if args.command == "serve":
        # Replicas never migrate: migrations run once, before them (migrate service / Job).
        assert args.no_migrate and ipaddress.ip_address(args.host).is_unspecified
        assert args.port == parse(image_command()[1:]).port


def test_migrations_run_once_before_the_replicas() -> None:
    all_services = services()
    assert parse(all_services["migrate"]["command"]).command == "migrate"
    assert all_services["migrate"]["restart"] == "no"
    for name in REPLICAS:
        depends = all_services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert all_services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    job = one("Job")["spec"]
    assert parse(job["template"]["spec"]["containers"][0]["args"]).command == "migrate"
    assert job["backoffLimit"] >= 1 and job["ttlSecondsAfterFinished"] > 0
    assert job["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


# -- environment variables -------------------------------------------------------------------


def compose_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, service in services().items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        found[name] = set(environment)
    return found


def k8s_variables() -> set[str]:
    names: set[str] = set()
    for path, document in k8s_documents():
        names |= set(document.get("data") or {}) | set(document.get("stringData") or {})
        # A commented-out variable in a template is one to uncomment: it must be real too.
        if document.get("kind") == "Secret":
            names |= set(re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]+):", path.read_text("utf-8"), re.M))
        spec = (document.get("spec") or {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            names |= {variable["name"] for variable in container.get("env", [])}
    return names


def test_every_variable_the_deployment_sets_is_a_setting_or_a_known_one() -> None:
    variables = compose_variables()
    assert variables["postgres"] <= POSTGRES_IMAGE_VARIABLES
    used = k8s_variables().union(*(variables[name] for name in IMAGE_SERVICES))
    unknown = sorted(used - SETTINGS - set(NOT_SETTINGS))
    assert not unknown, f"not wecom-mod settings: {unknown}"
    assert "DATABASE_URL" in used


def test_the_deploy_readme_names_only_real_variables_and_files() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE" in DOCKERFILE.read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)", text))
    unknown = sorted(named - SETTINGS - set(NOT_SETTINGS) - POSTGRES_IMAGE_VARIABLES)
    assert not unknown, f"deploy/README.md names variables that are not settings: {unknown}"
    for path in set(re.findall(r"deploy/[\w./-]+\w", text)) - {"deploy/.env"}:  # yours
        assert (ROOT / path).exists(), f"deploy/README.md names {path}, which does not exist"


def test_compose_database_url_names_the_postgres_service_and_its_database() -> None:
    all_services = services()
    postgres = all_services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "test" in postgres["healthcheck"]
    (volume,) = postgres["volumes"]
    assert volume.split(":")[0] in compose()["volumes"]
    for name in IMAGE_SERVICES:
        url = all_services[name]["environment"]["DATABASE_URL"]
        plain = re.sub(r"\$\{[^}]*\}", "secret", url)
        sync_url = database_urls(plain).sync_url
        assert sync_url.host == "postgres" and sync_url.port == 5432
        assert sync_url.username == postgres["environment"]["POSTGRES_USER"]
        assert sync_url.database == postgres["environment"]["POSTGRES_DB"]
        assert "${POSTGRES_PASSWORD" in url  # the password is not written in the file


# -- the load balancer -----------------------------------------------------------------------


def test_nginx_round_robins_over_every_replica_with_passive_failover() -> None:
    port = parse(image_command()[1:]).port
    upstreams = nginx_upstreams()
    location = nginx_location_root()
    (target,) = re.findall(r"proxy_pass\s+http://([^;/\s]+)", location)
    assert sorted(upstreams[target]) == sorted(f"{name}:{port}" for name in REPLICAS)
    text = NGINX.read_text(encoding="utf-8")
    for name in REPLICAS:
        assert re.search(rf"server\s+{name}:{port}\s+max_fails=\d+\s+fail_timeout=\d+s;", text)
    assert re.search(r"proxy_next_upstream\s+error\s+timeout\b", location)
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s", location)
    assert re.search(r"proxy_set_header\s+X-Request-ID\s", location)
    lb = services()["lb"]
    assert lb["ports"] == ["8080:80"] and re.search(r"listen\s+80;", text)
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    assert set(lb["depends_on"]) == set(REPLICAS)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed here")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    text = NGINX.read_text(encoding="utf-8")
    for index, name in enumerate(REPLICAS):  # the replicas' names resolve only inside compose
        text = text.replace(f"{name}:", f"127.0.0.{index + 1}:")
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- Kubernetes ------------------------------------------------------------------------------


def test_k8s_manifests_are_namespace_agnostic_and_the_secret_holds_placeholders_only() -> None:
    documents = k8s_documents()
    kinds = {document["kind"] for _path, document in documents}
    assert {"ConfigMap", "Secret", "Job", "Deployment", "Service"} <= kinds
    for path, document in documents:
        assert "namespace" not in document.get("metadata", {}), path.name
    secret = one("Secret")
    assert secret["metadata"]["name"] in {
        source["secretRef"]["name"]
        for source in server_container()["envFrom"]
        if "secretRef" in source
    }
    assert all("REPLACE_ME" in value for value in secret["stringData"].values())
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    resources = kustomization["resources"]
    assert all((K8S / resource).is_file() for resource in resources)
    # Applying the kustomization never overwrites the real Secret with the template, and the
    # Job is run (and waited for) on its own, before the Deployment.
    assert "secret.example.yaml" not in resources and "migrate-job.yaml" not in resources


def test_deployment_security_context_matches_the_image_user() -> None:
    uid, gid = image_user()
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    for kind in ("Deployment", "Job"):
        spec = pod_spec(kind)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        assert spec["securityContext"].get("runAsGroup", gid) == gid
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context.get("runAsUser", uid) == uid
            # A read-only root: /tmp is an emptyDir.
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            volumes = {volume["name"]: volume for volume in spec["volumes"]}
            (tmp,) = [path for path in mounts if PurePosixPath(path).parts == ("/", "tmp")]
            assert "emptyDir" in volumes[mounts[tmp]]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["image"] == server_container()["image"]
            assert container["envFrom"] == server_container()["envFrom"]


def test_deployment_probes_ports_and_service_agree() -> None:
    container = server_container()
    port = parse(container["args"]).port
    probes = {name: container[name] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in probes.values():
        assert named_port(container, probe["httpGet"]["port"]) == port
    service = one("Service")
    (service_port,) = service["spec"]["ports"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP" and service_port["port"] == 80
    assert named_port(container, service_port["targetPort"]) == port
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert one("Deployment")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    for budget in k8s("PodDisruptionBudget"):
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_probe_paths_are_routes_of_the_app(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path}/probe.db", tmp_path))
    routes = {path for path, methods in app.openapi()["paths"].items() if "get" in methods}
    container = server_container()
    paths = {
        container[name]["httpGet"]["path"]
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    paths |= {
        re.sub(r"^http://[^/]+", "", url)
        for url in re.findall(r"http://[^'\"]+", healthcheck_command()[2])
    }
    assert paths == {"/healthz", "/readyz"}
    assert paths <= routes


def test_termination_grace_covers_prestop_requests_and_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """preStop sleep + uvicorn's limit on in-flight requests + the workers' grace must end
    before Kubernetes sends SIGKILL (and, in compose, before stop_grace_period)."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(cli, "_configure_logging", lambda *args: None)
    assert cli.main(server_container()["args"]) == 0
    requests_grace = seen.get("timeout_graceful_shutdown")
    assert requests_grace is not None, "uvicorn would wait for open requests without limit"
    workers_grace = inspect.signature(Workers.stop).parameters["grace_seconds"].default
    after_sigterm = requests_grace + workers_grace
    container = server_container()
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod_spec("Deployment")["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + after_sigterm + 5
    for name in REPLICAS:
        assert int(services()[name]["stop_grace_period"].removesuffix("s")) >= after_sigterm + 5


# -- the image's command, run as written -----------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_image_command_migrates_serves_its_probes_and_stops_cleanly(tmp_path: Path) -> None:
    """What a container runs, from the installed console script, in an empty working directory
    (the image's /data) with no setting at all: `migrate` (compose's one-shot service), then
    the Dockerfile's CMD with --no-migrate on a free port; its HEALTHCHECK command and both
    probes answer; SIGTERM ends it with status 0."""
    script = Path(sys.executable).parent / "wecom-mod"
    if not script.exists():
        pytest.skip(f"no console script at {script}")
    env = {key: value for key, value in os.environ.items() if key.upper() not in SETTINGS}
    env.pop("WEB_CONCURRENCY", None)
    migrate = subprocess.run(
        [str(script), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "wecom-mod.db").is_file()  # the default DATABASE_URL, in the workdir

    port = _free_port()
    command = image_command()[1:]
    command[command.index("--port") + 1] = str(port)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(script), *command, "--no-migrate"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text("utf-8", "replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text("utf-8", "replace")
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        healthcheck = healthcheck_command()
        probe = healthcheck[2].replace(":8000/", f":{port}/")
        assert probe != healthcheck[2]
        checked = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=10
        )
        assert checked.returncode == 0, checked.stderr

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log_path.read_text("utf-8", "replace")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


K8S_VERSIONS = ("1.30.0", "1.37.0")  # the oldest and newest Kubernetes the manifests target


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_are_valid_kubernetes_resources(version: str) -> None:
    """Each manifest (kustomization.yaml, kustomize's own file, aside) against the Kubernetes
    JSON schemas of `version`, strict (no field Kubernetes does not know), offline: the schemas
    come with the kubernetes-validate package."""
    import kubernetes_validate

    checked = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not document:
                continue
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name} ({document.get('kind')}), Kubernetes {version}: {exc}")
            checked.append(f"{path.name}:{document['kind']}")
    assert {"deployment.yaml:Deployment", "service.yaml:Service", "migrate-job.yaml:Job"} <= set(
        checked
    ), checked
