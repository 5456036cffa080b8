"""One build: the stages of a parsed Dockerfile dispatched step by step, with the classic
builder's progress stream.

Each step starts from the stage's current image and its run config (the
container config the next image gets). Steps that change files (RUN, COPY, ADD,
WORKDIR) go through a container; steps that only change the config (ENV, CMD,
LABEL...) make a container too and commit it, as dockerd 20.10 does, so their
images carry the same `container_config` and history. Before any container is
made the cache is asked (see `cache`); a hit reuses the image and runs nothing.

Messages go to a queue the API streams from; the build itself runs in its own
task, so a client that leaves cancels it, and its `finally` still removes the
containers it must (`rm` on success, `forcerm` always) and the context.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import errors
from daemon.archive import archive_path, extract_to_dir, stat_path
from daemon.containerfs import scope
from daemon.containerfs.unpack import ExtractOptions, extract
from daemon.images import progress
from daemon.images.commit import LayerFile
from daemon.images.image import Image, ImageContent
from daemon.images.reference import parse_normalized_named, short_id
from daemon.images.registry.auth import AuthConfig
from daemon.images.service import ImageService
from daemon.oci.errors import SpecError
from daemon.oci.users import resolve_user

from . import cache, copier, gotext, words
from .containers import StepContainers, commit_layer
from .context import BuildContext, glob_in, has_magic
from .dockerfile import Instruction, Parsed, Stage, label, parse_line

if TYPE_CHECKING:
    from daemon.daemon import Daemon

log = logging.getLogger(__name__)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
# Build args any build may pass without an ARG; they never enter the cache key.
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)
# What a step does in its container (None: on FROM scratch, where it returns the layer).
Work = Callable[[str | None], Awaitable[LayerFile | None]]


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    nocache: bool = False
    pull: bool = False
    remove: bool = True  # `rm`
    force_remove: bool = False  # `forcerm`
    quiet: bool = False
    # HostConfig fields for the step containers: NetworkMode, Memory, CpuShares...
    host_config: dict[str, Any] = field(default_factory=dict)
    auths: dict[str, AuthConfig] = field(default_factory=dict)
    aux: bool = True  # API 1.31 on: the image ID as an aux message


@dataclass
class StageState:
    name: str
    image: ImageContent | None = None  # None: scratch, nothing committed yet
    config: dict[str, Any] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in the stage
    author: str = ""  # MAINTAINER
    cmd_set: bool = False  # a CMD in this stage (ENTRYPOINT then keeps it)

    @property
    def image_id(self) -> str:
        return self.image.id if self.image is not None else ""


class BuildFailed(Exception):
    """Ends the stream with dockerd's error message (and a RUN's exit code)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Build:
    def __init__(
        self,
        daemon: Daemon,
        images: ImageService,
        context: BuildContext,
        parsed: Parsed,
        options: BuildOptions,
    ) -> None:
        self.daemon = daemon
        self.images = images
        self.context = context
        self.parsed = parsed
        self.options = options
        self.containers = StepContainers(daemon, images, options.host_config)
        self.stages: list[StageState] = []
        self.used_args: set[str] = set()
        self.meta_args: dict[str, str | None] = {}
        self.step = 0
        self.total = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self._quiet_buffer: list[dict[str, Any]] = []
        self._work = Path(tempfile.mkdtemp(prefix="build-", dir=images.tmp_dir))
        self._started = False

    # -- the stream ----------------------------------------------------------------------

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """The progress stream; closing it early cancels the build."""
        task = asyncio.get_running_loop().create_task(self._run(), name="build")
        self._started = True
        try:
            while True:
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                while not self._queue.empty():  # what the build said before it ended
                    yield self._queue.get_nowait()
                break
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def discard(self) -> None:
        """For a build whose stream was never read: its context goes."""
        if not self._started:
            shutil.rmtree(self._work, ignore_errors=True)
            self.context.close()

    async def _send(self, message: dict[str, Any]) -> None:
        # Bounded: a client that reads slowly slows the build rather than filling memory.
        await self._queue.put(message)

    async def out(self, text: str) -> None:
        message = progress.stream_message(text)
        if self.options.quiet:
            self._quiet_buffer.append(message)
        else:
            await self._send(message)

    async def _run(self) -> None:
        try:
            try:
                image_id = await self._build()
            except BuildFailed as exc:
                await self._fail(exc.message, exc.code)
                return
            except errors.DaemonError as exc:
                await self._fail(exc.message, None)
                return
            except Exception as exc:
                # A fault of ours still ends the client's stream with an error message.
                log.exception("build failed")
                await self._fail(str(exc) or type(exc).__name__, None)
                return
            if self.options.quiet:
                await self._send(progress.stream_message(image_id + "\n"))
            else:
                await self.out(f"Successfully built {short_id(image_id)}\n")
            for tag in self.options.tags:
                familiar = await self.images.tag(image_id, tag, "")
                await self.out(f"Successfully tagged {familiar}\n")
        finally:
            # Shielded: a cancelled build (its client left) still removes what it must.
            await asyncio.shield(self._cleanup())

    async def _fail(self, message: str, code: int | None) -> None:
        for buffered in self._quiet_buffer:
            await self._send(buffered)
        self._quiet_buffer.clear()
        detail: dict[str, Any] = {"message": message}
        if code is not None:
            detail = {"code": code, "message": message}
        await self._send({"errorDetail": detail, "error": message})

    async def _cleanup(self) -> None:
        try:
            if self.options.force_remove:
                await self.remove_containers()
        except Exception:
            log.exception("could not remove the build's containers")
        finally:
            shutil.rmtree(self._work, ignore_errors=True)
            self.context.close()

    async def remove_containers(self) -> None:
        for container_id in await self.containers.remove_all():
            await self.out(f"Removing intermediate container {container_id[:12]}\n")

    # -- stages --------------------------------------------------------------------------

    async def _build(self) -> str:
        stages = self.parsed.stages
        if self.options.target:
            names = [stage.name for stage in stages]
            if self.options.target.lower() not in names:
                raise BuildFailed(
                    f"failed to reach build target {self.options.target} in Dockerfile"
                )
            stages = stages[: names.index(self.options.target.lower()) + 1]
        # The `labels` parameter: a LABEL step each, sorted, at the end of the last stage.
        labels = [label(k, v) for k, v in sorted(self.options.labels.items())]
        stages = [*stages[:-1], replace(stages[-1], commands=[*stages[-1].commands, *labels])]
        self.total = len(self.parsed.meta_args) + sum(1 + len(s.commands) for s in stages)
        await self._meta_args()
        for stage in stages:
            await self._stage(stage)
        last = self.stages[-1]
        if last.image is None:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        leftover = sorted(
            key
            for key in self.options.build_args
            if key not in self.used_args and key not in PREDEFINED_ARGS
        )
        if leftover:
            await self.out(
                f"[Warning] One or more build-args [{' '.join(leftover)}] were not consumed\n"
            )
        return last.image.id

    async def _meta_args(self) -> None:
        """ARGs before the first FROM: a step each (no image), values for FROM lines."""
        for item in self.parsed.meta_args:
            await self._header(item)
            for name, default in self._arg_pairs(item, self._meta_env()):
                value = self.options.build_args.get(name, default)
                if name in self.options.build_args:
                    self.used_args.add(name)
                self.meta_args[name] = value

    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta_args.items() if v is not None}

    def _arg_pairs(self, item: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        pairs: list[tuple[str, str | None]] = []
        for raw in item.args:
            name, eq, value = raw.partition("=")
            pairs.append((name, self._word(value, env) if eq else None))
        return pairs

    async def _header(self, item: Instruction | Stage) -> None:
        self.step += 1
        original = item.from_.original if isinstance(item, Stage) else item.original
        await self.out(f"Step {self.step}/{self.total} : {original}\n")

    async def _stage(self, stage: Stage) -> None:
        await self._header(stage)
        env = self._meta_env()
        base = self._word(stage.base, env, stage.from_)
        state = StageState(stage.name)
        if base.lower() == "scratch":
            state.config = {"Env": [DEFAULT_PATH]}
        else:
            state.image = (await self._image_for(base, pull=self.options.pull)).content
            state.config = _copy(state.image.config.get("config") or {})
        env_list = list(state.config.get("Env") or [])
        if not any(entry.startswith("PATH=") for entry in env_list):
            env_list.append(DEFAULT_PATH)
        state.config["Env"] = env_list
        state.config.pop("OpenStdin", None)
        state.config.pop("StdinOnce", None)
        self.stages.append(state)
        triggers = list(state.config.get("OnBuild") or [])
        if triggers:
            await self.out(
                f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n"
            )
            state.config["OnBuild"] = None
            for trigger in triggers:
                await self._dispatch(state, _trigger(trigger))
        await self.out(f" ---> {short_id(state.image_id) if state.image_id else ''}\n")
        for item in stage.commands:
            await self._header(item)
            await self._dispatch(state, item)
            await self.out(f" ---> {short_id(state.image_id)}\n")
        if self.options.aux and not self.options.quiet and state.image is not None:
            await self._send(progress.aux_message({"ID": state.image.id}))

    async def _image_for(self, ref: str, *, pull: bool) -> Image:
        """A local image, or one pulled now (its progress forwarded), as FROM needs it."""
        if not pull:
            try:
                return self.images.resolve(ref)
            except errors.NotFound:
                pass
        try:
            async for message in self.images.pull(ref, "", auth=self._auth_for(ref)):
                if not self.options.quiet:
                    await self._send(message)
        except errors.DaemonError as exc:
            raise BuildFailed(exc.message) from None
        return self.images.resolve(ref)

    def _auth_for(self, ref: str) -> AuthConfig | None:
        """X-Registry-Config's credentials for the registry of `ref` (the CLI names Docker
        Hub by its old index URL, other registries by host, maybe with a scheme)."""
        try:
            domain = parse_normalized_named(ref).domain
        except ValueError:
            return None
        keys = ["https://index.docker.io/v1/"] if domain == "docker.io" else []
        keys += [domain, f"https://{domain}", f"http://{domain}"]
        return next((self.options.auths[k] for k in keys if k in self.options.auths), None)

    # -- words and environments ----------------------------------------------------------

    def _word(self, text: str, env: dict[str, str], item: Instruction | None = None) -> str:
        if item is not None and item.literal:
            return text
        try:
            return words.word(text, env, self.parsed.escape)
        except words.WordError as exc:
            raise BuildFailed(
                f"dockerfile parse error line {item.line}: {exc}" if item else str(exc)
            ) from None

    def _args_env(self, state: StageState) -> dict[str, str]:
        """The values of the stage's ARGs (the run config's Env wins over them)."""
        found: dict[str, str] = {}
        for name, value in state.args.items():
            if value is not None:
                found[name] = value
        for name in PREDEFINED_ARGS:
            value = self.options.build_args.get(name)
            if value is not None:
                found[name] = value
        return found

    def _env(self, state: StageState) -> dict[str, str]:
        return self._args_env(state) | words.env_map(state.config.get("Env"))

    def _run_args(self, state: StageState) -> list[str]:
        """`k=v` of the ARGs a RUN sees that its Env does not set, sorted by name."""
        env = words.env_map(state.config.get("Env"))
        return [
            f"{name}={value}"
            for name, value in sorted(self._args_env(state).items())
            if name not in env
        ]

    # -- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, state: StageState, item: Instruction) -> None:
        handler = getattr(self, f"_do_{item.cmd.lower()}")
        await handler(state, item)

    def _shell(self, state: StageState) -> list[str]:
        return list(state.config.get("Shell") or DEFAULT_SHELL)

    def _command(self, state: StageState, item: Instruction) -> list[str]:
        if item.json:
            return list(item.args)
        return [*self._shell(state), " ".join(item.args)]

    async def _metadata(self, state: StageState, comment: str) -> None:
        """Commits a step that changes only the config (ENV, CMD, LABEL...)."""
        step_config = _with_cmd(state.config, [*self._shell(state), "#(nop) ", comment])
        await self._commit_step(state, step_config, None)

    async def _commit_step(
        self,
        state: StageState,
        step_config: dict[str, Any],
        work: Work | None,
        *,
        announce: bool = True,
        direct: bool = False,
    ) -> None:
        """The cache, or a container (made, given `work`, committed, removed). Without an
        image yet (FROM scratch), or when `direct`, `work` makes the layer itself."""
        if await self._cached(state, step_config):
            return
        if state.image is None or direct:
            content = await commit_layer(
                self.images,
                parent=state.image,
                layer=await work(None) if work is not None else None,
                config=state.config,
                container_config=step_config,
                container_id="",
                author=state.author,
            )
            state.image = content
            return
        container_id = await self.containers.create(state.image.id, step_config)
        if announce:
            await self.out(f" ---> Running in {container_id[:12]}\n")
        ok = False
        try:
            if work is not None:
                await work(container_id)
            state.image = await self.containers.commit(
                container_id, state.image, state.config, step_config, state.author
            )
            ok = True
        finally:
            if not announce:
                await self.containers.remove(container_id)  # COPY's: never shown
            elif self.options.force_remove or (self.options.remove and ok):
                await self.remove_containers()

    async def _cached(self, state: StageState, step_config: dict[str, Any]) -> bool:
        if self.options.nocache:
            return False
        found = cache.find(self.images.images(), state.image_id, step_config)
        if found is None:
            return False
        await self.out(" ---> Using cache\n")
        state.image = found.content
        return True

    async def _do_run(self, state: StageState, item: Instruction) -> None:
        command = self._command(state, item)
        run_args = self._run_args(state)
        for entry in run_args:
            self.used_args.add(entry.partition("=")[0])
        # The args are part of the command the cache compares, the proxy ones excepted.
        keyed = [a for a in run_args if a.partition("=")[0] not in PREDEFINED_ARGS]
        save_cmd = [f"|{len(keyed)}", *keyed, *command] if keyed else command
        probe = _with_cmd(state.config, save_cmd)
        if await self._cached(state, probe):
            return
        if state.image is None:
            raise BuildFailed(
                f'failed to create shim task: exec: "{command[0]}": stat {command[0]}: '
                "no such file or directory: unknown"
            )
        run_config = _with_cmd(state.config, command)
        run_config["Env"] = [*(state.config.get("Env") or []), *run_args]
        if command:
            run_config["Entrypoint"] = [""]
        run_config["Healthcheck"] = {"Test": ["NONE"]}
        container_id = await self.containers.create(state.image.id, run_config)
        await self.out(f" ---> Running in {container_id[:12]}\n")
        ok = False
        try:
            code = await self.containers.run(container_id, self.out)
            if code != 0:
                raise BuildFailed(
                    f"The command '{' '.join(save_cmd)}' returned a non-zero code: {code}", code
                )
            state.image = await self.containers.commit(
                container_id, state.image, state.config, probe, state.author
            )
            ok = True
        finally:
            if self.options.force_remove or (self.options.remove and ok):
                await self.remove_containers()

    async def _do_env(self, state: StageState, item: Instruction) -> None:
        env = self._env(state)
        entries = list(state.config.get("Env") or [])
        comment = ["ENV"]
        pairs = list(zip(item.args[::2], item.args[1::2], strict=False))
        for raw_key, raw_value in pairs:
            key = self._word(raw_key, env, item)
            value = self._word(raw_value, env, item)
            entries = _set_env(entries, key, value)
            comment.append(f"{key}={value}")
        state.config["Env"] = entries
        await self._metadata(state, " ".join(comment))

    async def _do_label(self, state: StageState, item: Instruction) -> None:
        env = self._env(state)
        labels = dict(state.config.get("Labels") or {})
        comment = ["LABEL"]
        for raw_key, raw_value in zip(item.args[::2], item.args[1::2], strict=False):
            key = self._word(raw_key, env, item)
            value = self._word(raw_value, env, item)
            labels[key] = value
            comment.append(f"{key}={value}")
        state.config["Labels"] = labels
        await self._metadata(state, " ".join(comment))

    async def _do_maintainer(self, state: StageState, item: Instruction) -> None:
        state.author = " ".join(item.args)
        await self._metadata(state, f"MAINTAINER {state.author}")

    async def _do_workdir(self, state: StageState, item: Instruction) -> None:
        path = self._word(" ".join(item.args), self._env(state), item)
        current = str(state.config.get("WorkingDir") or "/")
        workdir = posixpath.normpath(posixpath.join(current, path))
        if workdir.startswith("//"):
            workdir = workdir[1:]
        state.config["WorkingDir"] = workdir
        step_config = _with_cmd(state.config, [*self._shell(state), f"#(nop) WORKDIR {workdir}"])

        async def make_dir(container_id: str | None) -> LayerFile | None:
            if container_id is None:
                return await self._scratch_layer(
                    [], copier.Destination(workdir, True, False), (0, 0)
                )
            if not await self._exists(container_id, workdir):
                await self._extract_dirs(container_id, workdir)
            return None

        await self._commit_step(state, step_config, make_dir)

    async def _do_user(self, state: StageState, item: Instruction) -> None:
        user = self._word(" ".join(item.args), self._env(state), item)
        state.config["User"] = user
        await self._metadata(state, f"USER {user}")

    async def _do_cmd(self, state: StageState, item: Instruction) -> None:
        cmd = self._command(state, item)
        state.config["Cmd"] = cmd
        state.cmd_set = True
        await self._metadata(state, f"CMD {gotext.quoted_list(cmd)}")

    async def _do_entrypoint(self, state: StageState, item: Instruction) -> None:
        entrypoint = self._command(state, item) if item.args else None
        state.config["Entrypoint"] = entrypoint
        # An ENTRYPOINT drops the base image's CMD, unless this stage set one.
        if not state.cmd_set:
            state.config["Cmd"] = None
        await self._metadata(state, f"ENTRYPOINT {gotext.quoted_list(entrypoint or [])}")

    async def _do_expose(self, state: StageState, item: Instruction) -> None:
        env = self._env(state)
        ports = dict(state.config.get("ExposedPorts") or {})
        added: list[str] = []
        for raw in item.args:
            for word in self._word(raw, env, item).split():
                port, _, proto = word.partition("/")
                if not port:
                    raise BuildFailed(f"Invalid containerPort: {word}")
                key = f"{port}/{proto.lower() or 'tcp'}"
                ports[key] = {}
                added.append(word)
        state.config["ExposedPorts"] = ports
        await self._metadata(state, "EXPOSE " + " ".join(added))

    async def _do_volume(self, state: StageState, item: Instruction) -> None:
        env = self._env(state)
        volumes = dict(state.config.get("Volumes") or {})
        added: list[str] = []
        for raw in item.args:
            path = self._word(raw, env, item).strip()
            if not path:
                raise BuildFailed("VOLUME specified can not be an empty string")
            volumes[path] = {}
            added.append(path)
        state.config["Volumes"] = volumes
        await self._metadata(state, f"VOLUME [{' '.join(added)}]")

    async def _do_stopsignal(self, state: StageState, item: Instruction) -> None:
        signal = self._word(item.args[0], self._env(state), item)
        state.config["StopSignal"] = signal
        await self._metadata(state, f"STOPSIGNAL {signal}")

    async def _do_shell(self, state: StageState, item: Instruction) -> None:
        if not item.json:
            raise item.error("SHELL requires the arguments to be in JSON form")
        state.config["Shell"] = list(item.args)
        await self._metadata(state, f"SHELL [{' '.join(item.args)}]")

    async def _do_onbuild(self, state: StageState, item: Instruction) -> None:
        expression = item.onbuild_expression
        state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), expression]
        await self._metadata(state, f"ONBUILD {expression}")

    async def _do_healthcheck(self, state: StageState, item: Instruction) -> None:
        kind = item.args[0].upper() if item.args else ""
        if kind == "NONE":
            if len(item.args) > 1:
                raise BuildFailed("HEALTHCHECK NONE takes no arguments")
            check: dict[str, Any] = {"Test": ["NONE"]}
        elif kind == "CMD":
            rest = list(item.args[1:])
            test = ["CMD", *rest] if item.json else ["CMD-SHELL", " ".join(rest)]
            check = {"Test": test}
            for flag, key in (
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
            ):
                value = item.flags.get(flag, "")
                if value:
                    try:
                        check[key] = gotext.parse_duration(value)
                    except ValueError as exc:
                        raise BuildFailed(str(exc)) from None
            retries = item.flags.get("retries", "")
            if retries:
                try:
                    check["Retries"] = int(retries)
                except ValueError:
                    raise BuildFailed(f"parsing {retries!r}: invalid syntax") from None
        else:
            raise BuildFailed(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
        state.config["Healthcheck"] = check
        await self._metadata(state, f"HEALTHCHECK {gotext.healthcheck_text(check)}")

    async def _do_arg(self, state: StageState, item: Instruction) -> None:
        comment: list[str] = []
        for name, default in self._arg_pairs(item, self._env(state)):
            if default is None and name in self.meta_args:
                default = self.meta_args[name]
            if name in self.options.build_args:
                self.used_args.add(name)
                value = self.options.build_args[name]
            else:
                value = default
            state.args[name] = value
            comment.append(f"{name}={default}" if default is not None else name)
        await self._metadata(state, "ARG " + " ".join(comment))

    async def _do_copy(self, state: StageState, item: Instruction) -> None:
        await self._copy(state, item, unpack_archives=False)

    async def _do_add(self, state: StageState, item: Instruction) -> None:
        await self._copy(state, item, unpack_archives=True)

    # -- COPY and ADD --------------------------------------------------------------------

    async def _copy(self, state: StageState, item: Instruction, *, unpack_archives: bool) -> None:
        env = self._env(state)
        args = [self._word(arg, env, item) for arg in item.args]
        if len(args) < 2:
            raise BuildFailed(
                f"{item.cmd} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        patterns, raw_dest = args[:-1], args[-1]
        if "chmod" in item.flags:
            raise BuildFailed(
                "the --chmod option requires BuildKit. Refer to "
                "https://docs.docker.com/go/buildkit/ to learn how to build images with "
                "BuildKit enabled"
            )
        from_ref = item.flags.get("from", "")
        if from_ref and unpack_archives:
            raise item.error("Unknown flag: from")
        for pattern in patterns:
            if "://" in pattern and (
                pattern.startswith("http://") or pattern.startswith("https://")
            ):
                if item.cmd == "COPY":
                    raise BuildFailed("COPY failed: source can't be a URL for COPY")
                raise BuildFailed(
                    f"ADD failed: downloading {pattern} is not supported: this daemon builds "
                    "offline; download the file into the build context and ADD it from there"
                )
        dest = raw_dest
        if not posixpath.isabs(dest):
            dest = posixpath.join(str(state.config.get("WorkingDir") or "/"), dest)
        names_dir = raw_dest.endswith("/") or raw_dest.endswith("/.") or raw_dest in (".",)
        sources: list[copier.Source] = []
        source_image = ""
        if from_ref:
            # Files of an image are known by its ID: the key needs no look at them, so a
            # cached step fetches nothing (dockerd hashes the files themselves instead).
            source_image = await self._from_image(from_ref)
            digest = copier.image_checksum(source_image, patterns)
        else:
            sources = await asyncio.to_thread(self._context_sources, patterns, item)
            digest = await asyncio.to_thread(copier.checksum, sources)
        if max(len(sources), len(patterns)) > 1 and not names_dir:
            raise BuildFailed(
                f"When using {item.cmd} with more than one source file, the destination must "
                "be a directory and end with a /"
            )
        chown = item.flags.get("chown", "")
        # dockerd writes the --chown value right before the checksum, without a space.
        comment = f"{item.cmd} {'--chown=' + chown if chown else ''}{digest} in {raw_dest} "
        step_config = _with_cmd(state.config, [*self._shell(state), f"#(nop) {comment}"])
        owner = await self._owner_spec(item.flags.get("chown", ""), state)
        dest_path = posixpath.normpath(dest) if dest != "/" else "/"

        async def put(container_id: str | None) -> LayerFile | None:
            nonlocal sources
            if source_image:
                sources = await self._sources_from(source_image, patterns, item)
            sources_are_dirs = len(sources) == 1 and sources[0].is_dir
            exists_dir = False
            if container_id is not None:
                exists_dir = await self._is_dir(container_id, dest_path)
            into_dir = (
                names_dir
                or exists_dir
                or sources_are_dirs
                or (unpack_archives and len(sources) == 1 and copier.is_archive(sources[0].path))
            )
            destination = copier.Destination(dest_path, into_dir, exists_dir)
            resolved = owner
            if isinstance(owner, str):
                resolved = await self._resolve_owner(container_id, owner)
            assert isinstance(resolved, tuple)
            if container_id is None:
                return await self._scratch_layer(sources, destination, resolved, unpack_archives)
            tar = await self._write_tar("copy", sources, destination, resolved, unpack_archives)
            await self._unpack_into(container_id, tar)
            return None

        # Into a volume of the image, a step container would copy into the volume (and
        # lose it): the files are written as the layer instead, as dockerd's COPY, which
        # runs no container, keeps them.
        volumes = state.config.get("Volumes") or {}
        direct = any(_within(dest_path, str(volume)) for volume in volumes)
        await self._commit_step(state, step_config, put, announce=False, direct=direct)

    def _context_sources(self, patterns: list[str], item: Instruction) -> list[copier.Source]:
        sources: list[copier.Source] = []
        for pattern in patterns:
            cleaned = posixpath.normpath(pattern).lstrip("/")
            if cleaned == ".." or cleaned.startswith("../"):
                raise BuildFailed(
                    f"{item.cmd} failed: forbidden path outside the build context: {pattern} ()"
                )
            if has_magic(pattern):
                matches = self.context.glob(cleaned)
                if not matches:
                    raise BuildFailed(f"{item.cmd} failed: no source files were specified")
            else:
                matches = [cleaned if cleaned != "." else ""]
            for rel in matches:
                host = self.context.host_path(rel) if rel else self.context.root
                if not host.exists():
                    raise BuildFailed(
                        f"{item.cmd} failed: file not found in build context or excluded by "
                        f".dockerignore: stat {pattern}: file does not exist"
                    )
                sources.append(copier.Source(host, rel or "."))
        return sources

    async def _from_image(self, ref: str) -> str:
        """The image `--from` names: an earlier stage (by name or index) or an image."""
        image_id = self._stage_image(ref)
        if image_id is None:
            image_id = (await self._image_for(ref, pull=False)).id
        return image_id

    async def _sources_from(
        self, image_id: str, patterns: list[str], item: Instruction
    ) -> list[copier.Source]:
        """The files of another stage or an image, fetched through a container of it."""
        container_id = await self.containers.create(image_id, {"Cmd": ["#(nop) COPY --from"]})
        try:
            sources: list[copier.Source] = []
            for index, pattern in enumerate(patterns):
                # A pattern's directory part is fetched whole, then matched here.
                parts = posixpath.normpath(pattern).strip("/").split("/")
                fixed = list(itertools.takewhile(lambda part: not has_magic(part), parts))
                path = "/" + "/".join(fixed)
                target = self._work / f"from-{self.step}-{index}"
                fetched = await self._fetch(container_id, path, target, item)
                rest = "/".join(parts[len(fixed) :])
                if not rest:
                    sources.append(copier.Source(fetched, pattern))
                    continue
                matches = await asyncio.to_thread(glob_in, fetched, rest)
                if not matches:
                    raise BuildFailed(f"{item.cmd} failed: no source files were specified")
                sources.extend(
                    copier.Source(_scoped(fetched, match), posixpath.join(path, match))
                    for match in matches
                )
            return sources
        finally:
            await self.containers.remove(container_id)

    async def _fetch(self, container_id: str, path: str, target: Path, item: Instruction) -> Path:
        """`path` of the container, copied out under `target`; where it is there."""
        await asyncio.to_thread(target.mkdir)
        tar = target.parent / f"{target.name}.tar"
        try:
            async with archive_path(self.daemon, container_id, path) as archive:
                with tar.open("wb") as f:
                    async for chunk in archive.chunks():
                        f.write(chunk)
                name = archive.stat.name
        except errors.NotFound:
            raise BuildFailed(f"{item.cmd} failed: stat {path}: file does not exist") from None
        await asyncio.to_thread(_unpack_to, tar, target)
        return target / name

    def _stage_image(self, ref: str) -> str | None:
        if ref.isdigit():
            index = int(ref)
            if index >= len(self.stages) - 1:
                raise BuildFailed(f"invalid from flag value {ref}: refers to current build stage")
            return self.stages[index].image_id or None
        for stage in self.stages[:-1]:
            if stage.name and stage.name == ref.lower():
                return stage.image_id or None
        return None

    async def _owner_spec(self, chown: str, state: StageState) -> tuple[int, int] | str:
        if not chown:
            return (0, 0)
        chown = self._word(chown, self._env(state))
        user, _, group = chown.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            return (int(user), int(group or user))
        return chown

    async def _resolve_owner(self, container_id: str | None, spec: str) -> tuple[int, int]:
        files: dict[str, bytes | None] = {"/etc/passwd": None, "/etc/group": None}
        if container_id is not None:
            for path in files:
                files[path] = await self._read(container_id, path)
        user, _, group = spec.partition(":")
        try:
            found = resolve_user(spec if group else user, (), lambda p: files.get(p))
        except SpecError as exc:
            raise BuildFailed(
                f"unable to convert uid/gid chown string to host mapping: {exc}"
            ) from None
        uid = int(found["uid"])
        gid = int(found["gid"])
        return uid, gid

    async def _read(self, container_id: str, path: str) -> bytes | None:
        try:
            async with archive_path(self.daemon, container_id, path) as archive:
                data = b"".join([chunk async for chunk in archive.chunks()])
        except errors.DaemonError:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.isreg():
                    extracted = tar.extractfile(member)
                    return extracted.read() if extracted is not None else None
        return None

    async def _is_dir(self, container_id: str, path: str) -> bool:
        try:
            found = await stat_path(self.daemon, container_id, path)
        except errors.DaemonError:
            return False
        return bool(found.mode & (1 << 31))

    async def _exists(self, container_id: str, path: str) -> bool:
        try:
            await stat_path(self.daemon, container_id, path)
        except errors.DaemonError:
            return False
        return True

    async def _extract_dirs(self, container_id: str, path: str) -> None:
        tar = await self._write_tar("workdir", [], copier.Destination(path, True, False), (0, 0))
        await self._unpack_into(container_id, tar)

    async def _write_tar(
        self,
        kind: str,
        sources: list[copier.Source],
        destination: copier.Destination,
        owner: tuple[int, int],
        unpack_archives: bool = False,
    ) -> Path:
        """The tar that puts `sources` at `destination`, in the build's work directory."""
        tar = self._work / f"{kind}-{self.step}.tar"
        await asyncio.to_thread(
            copier.write_tar,
            tar,
            sources,
            destination,
            owner,
            unpack_archives=unpack_archives,
            mtime=_now(),
        )
        return tar

    async def _unpack_into(self, container_id: str, tar: Path) -> None:
        """Unpacks `tar` at the step container's root, then removes it."""
        source = copier.FileSource(tar)
        try:
            await extract_to_dir(self.daemon, container_id, "/", source)
        finally:
            source.close()
            tar.unlink(missing_ok=True)  # noqa: ASYNC240 -- one small local unlink

    async def _scratch_layer(
        self,
        sources: list[copier.Source],
        destination: copier.Destination,
        owner: tuple[int, int],
        unpack_archives: bool = False,
    ) -> LayerFile:
        """On FROM scratch there is no filesystem to copy into: the tar is the layer."""
        tar = await self._write_tar("layer", sources, destination, owner, unpack_archives)
        digest, size = await asyncio.to_thread(_digest_of, tar)
        return LayerFile(tar, digest, size)


# -- helpers ---------------------------------------------------------------------------


def _copy(config: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(config))
    return copied


def _set_env(entries: list[str], key: str, value: str) -> list[str]:
    """A variable set again keeps its place, as dockerd keeps it."""
    entry = f"{key}={value}"
    for index, existing in enumerate(entries):
        if existing.partition("=")[0] == key:
            return [*entries[:index], entry, *entries[index + 1 :]]
    return [*entries, entry]


def _with_cmd(config: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
    copied = _copy(config)
    copied["Cmd"] = cmd
    return copied


def _trigger(expression: str) -> Instruction:
    return parse_line(expression)


def _unpack_to(tar: Path, target: Path) -> None:
    fd = os.open(target, scope.DIR_FLAGS)
    try:
        with tar.open("rb") as f:
            extract(fd, "/", f, ExtractOptions())
    finally:
        os.close(fd)
        tar.unlink(missing_ok=True)


def _within(path: str, directory: str) -> bool:
    directory = posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _scoped(root: Path, rel: str) -> Path:
    """Where `rel` leads under `root`, its symlinks followed without leaving `root`; a link
    to what was not fetched with it is copied as the link it is."""
    fd = os.open(root, scope.DIR_FLAGS)
    try:
        resolved = root / scope.scoped_path(fd, "/" + rel).lstrip("/")
    finally:
        os.close(fd)
    return resolved if os.path.lexists(resolved) else root / rel


def _digest_of(path: Path) -> tuple[str, int]:
    """The diff ID and size of an uncompressed layer tar."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            hasher.update(chunk)
            size += len(chunk)
    return f"sha256:{hasher.hexdigest()}", size


def _now() -> int:
    return int(time.time())
