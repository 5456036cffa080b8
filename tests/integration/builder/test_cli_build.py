"""`DOCKER_BUILDKIT=0 docker build` against mooraged: the classic builder's stream,
the image it makes, and what runs from it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.builder.support import docker_build, write_context
from tests.support.daemon import RunningDaemon


async def test_single_stage_build_runs_and_sets_config(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                "FROM busybox\n"
                "ENV GREETING=hello\n"
                "WORKDIR /app\n"
                "COPY hello.txt ./\n"
                'RUN echo "$GREETING from run" > /app/run.txt\n'
                'CMD ["cat", "/app/hello.txt", "/app/run.txt"]\n'
            ),
            "hello.txt": "hi from the context\n",
        },
    )
    code, out, err = await docker_build(daemon, context, "-t", "build-test/simple:1")
    assert code == 0, out + err
    print(out)
    assert "Step 1/6 : FROM busybox\n" in out
    assert "Successfully tagged build-test/simple:1\n" in out
    run = await daemon.docker_ok("run", "--rm", "build-test/simple:1")
    assert run == "hi from the context\nhello from run\n"
    inspected = json.loads(await daemon.docker_ok("image", "inspect", "build-test/simple:1"))[0]
    assert inspected["Config"]["WorkingDir"] == "/app"
