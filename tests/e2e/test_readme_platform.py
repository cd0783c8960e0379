"""The README's local platform section, run as it is written, after its walkthrough.

The demo exports to the lake first (the walkthrough), so that the organization's mapping
has a watermark when its destination moves to the platform. Then every command of the
section's first block is taken from README.md and run as written, with real processes:
``platform serve`` and ``serve`` on free ports (the README's 8081 and 8080), the client's
id and secret put where the README says. The demo's records must arrive in the service's
lake, the request ending ``Success``.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from tests.e2e.conftest import (
    Client,
    Installation,
    ReservedPort,
    catalog_batch,
    demo_credentials,
    token_for,
    wait_until_listening,
)
from tests.integration.local_platform.checks import assert_valid_xdm, lake_records

README = Path(__file__).resolve().parents[2] / "README.md"
COMMAND = ".venv/bin/xdm-connector"
PROFILES = 10_000  # the demo that make run prepares
RESET = "mapping XDM44: watermark reset, its next export sends every record to the new destination"


def readme_section(title: str) -> str:
    """The text of the README's ``## title`` section, up to the next section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def first_commands(section: str) -> list[str]:
    """The commands of the section's first ``sh`` block, one string each: continued lines
    joined, a quoted argument kept over its lines."""
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the argument goes on on the next line
            continue
        if words:
            commands.append(pending)
        pending = ""
    assert not pending, f"an unclosed quote in the README: {pending}"
    return commands


@dataclass
class Reader(Installation):
    """An installation driven by the README: its processes get ``exported`` variables."""

    exported: dict[str, str] = field(default_factory=dict)
    platform: ReservedPort = field(default_factory=ReservedPort)
    platform_client: dict[str, str] = field(default_factory=dict)
    outputs: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = field(default_factory=dict)
    """What each command run to its end printed, by its first two words."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.exported}

    def run_readme(self, command: str) -> None:
        """Run one README command, with this installation's ports and client put in."""
        for written, actual in (
            ("8081", str(self.platform.number)),
            ("<the client id>", self.platform_client.get("client_id", "<the client id>")),
            ("<the client secret>", self.platform_client.get("client_secret", "<none yet>")),
        ):
            command = command.replace(written, actual)
        words = shlex.split(command, comments=True)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            self.exported[name] = value
            return
        assert words[0] == COMMAND, f"the README runs something else: {command}"
        args = words[1:]
        if args == ["serve"]:
            self.serve()
        elif args[-1] == "&":
            self.serve_platform(args[:-1])
        else:
            done = self.cli(*args)
            self.outputs[tuple(args[:2])] = done
            if args[:2] == ["platform", "clients"]:
                self.platform_client = orjson.loads(done.stdout)

    @property
    def platform_url(self) -> str:
        return self.platform.url

    def serve_platform(self, args: list[str]) -> None:
        """``platform serve`` as the README starts it, on the socket reserved for it in
        place of the port it names."""
        assert args[:2] == ["platform", "serve"], f"the README starts something else: {args}"
        port = args.index("--port")
        assert args[port + 1] == str(self.platform.number)
        process = self.start(*args[:port], *args[port + 2 :], serving=self.platform)
        who = "xdm-connector platform service"
        wait_until_listening(process, self.log_of(process), who, self.platform_url)

    def stop(self) -> None:
        super().stop()
        self.platform.close()

    def platform_batch(self, batch_id: str) -> dict[str, Any]:
        """The batch in the service's catalog, read with the README's client."""
        client = self.platform_client
        return catalog_batch(self.platform_url, client, batch_id, client["ims_org"])


def ingest(client: Client, installation: Installation) -> dict[str, Any]:
    """Steps 2 and 3 of the walkthrough: trigger XDM44 and follow it to its end."""
    triggered = client.trigger("XDM44")
    assert triggered.status_code == 200, triggered.text
    done = client.wait_until_done("XDM44", triggered.json()["requestId"])
    assert done["status"] == "Success", (done, installation.logs())
    return done


def test_the_demo_reaches_the_local_platform_as_the_readme_says(tmp_path: Path) -> None:
    section = readme_section("Local platform service")
    commands = first_commands(section)
    assert RESET in section
    reader = Reader(home=tmp_path / "home", database_url=None)
    reader.home.mkdir()
    try:
        # make run, and the walkthrough: the demo's records go to the lake first.
        reader.extra["XDMC_PORT"] = str(reader.port)  # what the demo prints, as make run's
        printed = reader.cli("demo").stdout
        assert f"prints\n`xdm-connector listening on {reader.base_url}`" in printed
        assert "\n  .venv/bin/xdm-connector lake query --org demo --dataset profiles" in printed
        reader.serve()
        client = token_for(reader.base_url, demo_credentials(reader))
        assert ingest(client, reader)["numRecords"] == PROFILES
        count = "select count(*) as n from profiles"
        counted = reader.cli(
            "lake", "query", "--org", "demo", "--dataset", "profiles", "--json", count
        )
        assert orjson.loads(counted.stdout) == [{"n": PROFILES}]
        reader.stop()  # Ctrl-C

        for command in commands:
            reader.run_readme(command)

        assert reader.outputs["orgs", "set-destination"].stderr.splitlines() == [RESET]
        assert "ACP-880092" in reader.outputs["mappings", "publish"].stdout
        # Steps 2 and 3 of the walkthrough again, with the same token (the server started
        # again serves another reserved port).
        done = ingest(replace(client, base_url=reader.base_url), reader)
        assert done["numRecords"] == PROFILES
        batch = reader.platform_batch(done["batchId"])
        assert batch["status"] == "success"
        assert batch["metrics"]["outputRecordCount"] == PROFILES
        written = "var/platform/lake/prod/LOCAL@AdobeOrg/profiles/"
        assert written in section
        records = lake_records(reader.home / written.removeprefix("var/"))
        assert len(records) == PROFILES
        assert_valid_xdm(records[::50])
    finally:
        reader.stop()
