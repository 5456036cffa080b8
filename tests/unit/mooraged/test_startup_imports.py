"""What the daemon's start-up imports and builds, each in a fresh interpreter (this
process has imported everything already): the subsystems a start does not need are
loaded at their first use (docs/DESIGN.md, "Start-up"), and the API models that are
deferred at import are all built by `build_deferred` and validate as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import libcontainerd

ROOT = Path(libcontainerd.__file__).parent.parent

# Loaded at first use only: the builder (and pathspec, which only it uses), the local
# backend, the cgroup metrics' protobuf classes (stats), the image operations that are
# not a start's (load, import, save, pull, push, login: archive and registry code), the
# containerd services a start does not call (their generated message classes), the
# embedded DNS server's dnslib (bridged containers only), prometheus_client (only with
# --metrics-addr), dateutil (a protobuf Timestamp parsed from JSON, never done by the
# daemon) and the test tools that must never reach the daemon.
_SERVICES = "libcontainerd.remote.gen.containerd.services."
LAZY = (
    "daemon.builder",
    "pathspec",
    "libcontainerd.local",
    "libcontainerd.remote.gen.io.containerd.cgroups",
    "daemon.images.load",
    "daemon.images.importer",
    "daemon.images.save",
    "daemon.images.pull",
    "daemon.images.push",
    "daemon.images.registry.login",
    _SERVICES + "diff",
    _SERVICES + "introspection",
    _SERVICES + "namespaces",
    "dnslib",
    "prometheus_client",
    "dateutil",
    "schemathesis",
    "hypothesis",
)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_main_module_leaves_rare_subsystems_unloaded() -> None:
    loaded = json.loads(
        _run("import json, sys, mooraged.main; print(json.dumps(list(sys.modules)))")
    )
    assert [m for m in loaded if m.split(".")[0] in LAZY or m.startswith(LAZY)] == []


def test_build_route_loads_the_builder_when_used() -> None:
    # The handlers import it themselves: options_from needs BuildOptions.
    out = _run(
        "import sys\n"
        "from aiohttp.test_utils import make_mocked_request\n"
        "from api.routes import build\n"
        "assert 'daemon.builder.build' not in sys.modules\n"
        "options = build.options_from(make_mocked_request('POST', '/build?t=a:b&q=1'))\n"
        "print(type(options).__module__, options.tags, options.quiet)\n"
    )
    assert out.split() == ["daemon.builder.build", "['a:b']", "True"]


def test_deferred_models_are_built_and_validate() -> None:
    out = _run(
        "from wire.base import build_deferred, deferred_models\n"
        "from wire.container import ContainerCreateRequest\n"
        "pending = deferred_models()\n"
        "assert ContainerCreateRequest in pending, pending\n"
        "for model in pending:\n"
        "    build_deferred(model)\n"
        "assert deferred_models() == []\n"
        "body = {'image': 'busybox', 'HostConfig': {'Memory': 5, 'Binds': None}}\n"
        "request = ContainerCreateRequest.model_validate(body)\n"
        "print(request.Image, request.HostConfig.Memory, request.HostConfig.Binds)\n"
    )
    assert out.split() == ["busybox", "5", "None"]


def test_no_api_model_is_built_at_import() -> None:
    # A model built while importing (e.g. made for a field's default) costs start-up its
    # validator; each is built after the daemon answers instead.
    out = _run(
        "import mooraged.main\n"
        "from wire.base import ApiModel, deferred_models\n"
        "pending, every = set(deferred_models()), [ApiModel]\n"
        "for model in every:\n"
        "    every.extend(model.__subclasses__())\n"
        "print(sorted(m.__name__ for m in every[1:] if m not in pending))\n"
    )
    assert out.split() == ["[]"]


def test_a_nested_models_zero_is_its_default_as_json() -> None:
    # What a field defaulting to a model writes when absent (ApiModel.encode) is that
    # model's default, dumped as the API writes it, though no instance was made for it.
    out = _run(
        "import json\n"
        "from wire.base import ApiModel, build_deferred, deferred_models\n"
        "import wire.container, wire.host_config\n"
        "for model in deferred_models():\n"
        "    build_deferred(model)\n"
        "checked, every = 0, [ApiModel]\n"
        "for model in every:\n"
        "    every.extend(model.__subclasses__())\n"
        "    for key, zero, _, _ in getattr(model, '_wire_keys', ()):\n"
        "        field = next(f for n, f in model.model_fields.items()\n"
        "                     if key in (f.serialization_alias, f.alias, n))\n"
        "        factory = field.default_factory\n"
        "        if isinstance(factory, type) and issubclass(factory, ApiModel):\n"
        "            assert zero == factory().model_dump(mode='json', by_alias=True), key\n"
        "            checked += 1\n"
        "print(checked)\n"
    )
    assert int(out) >= 3  # HostConfig's LogConfig and RestartPolicy, the create's


def test_the_route_modules_are_imported_by_the_start_and_all_listed() -> None:
    # mooraged.main imports them in a thread while the start waits on containerd; every
    # module of api/routes that adds routes is among them (the ping's is the server's).
    from mooraged.main import ROUTE_MODULES

    adding = {
        path.stem
        for path in (ROOT / "api" / "routes").glob("*.py")
        if "\ndef add_routes(" in path.read_text()
    }
    assert adding - {"system"} == set(ROUTE_MODULES)
    loaded = json.loads(
        _run("import json, sys, mooraged.main; print(json.dumps(list(sys.modules)))")
    )
    assert [m for m in loaded if m.removeprefix("api.routes.") in ROUTE_MODULES] == []
