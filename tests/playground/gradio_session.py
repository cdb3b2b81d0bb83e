"""A signed-in browser without the browser: the dashboard's sign-in, then Gradio's own HTTP protocol.

The playground's attack surface is Gradio's routes under /playground (upload, queue/join, queue/data, file=),
so the tests speak them directly with requests, as an attacker's script would.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

PASSWORD = "playground-test-password"
API = "/playground/gradio_api"


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@dataclass
class RunOutcome:
    """What queue/data said about one event: its messages, the error shown (if any) and the files handed out."""

    messages: list[dict] = field(default_factory=list)

    @property
    def completed(self) -> dict | None:
        return next((m for m in self.messages if m.get("msg") == "process_completed"), None)

    @property
    def success(self) -> bool:
        return bool(self.completed and self.completed.get("success"))

    @property
    def error(self) -> str:
        output = (self.completed or {}).get("output") or {}
        return str(output.get("error") or "")

    @property
    def file_paths(self) -> list[str]:
        """Every FileData path in the event's outputs (what the browser would fetch through file=)."""
        found: list[str] = []

        def walk(node):
            if isinstance(node, dict):
                if isinstance(node.get("path"), str):
                    found.append(node["path"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        for message in self.messages:
            walk(message.get("output"))
        return list(dict.fromkeys(found))


class PlaygroundUser:
    """One person: a requests session signed in through the dashboard, speaking Gradio's protocol."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.session_hash = uuid.uuid4().hex[:11]
        self._config: dict | None = None

    def sign_up(self, email: str, password: str = PASSWORD) -> "PlaygroundUser":
        form = self.http.get(f"{self.base}/signup", timeout=10)
        response = self.http.post(f"{self.base}/signup", timeout=10, allow_redirects=False, data={
            "email": email, "password": password, "csrf_token": csrf_token(form.text)})
        assert response.status_code == 302, response.text[:500]
        return self

    # --- Gradio's routes ---------------------------------------------------------------------------

    @property
    def config(self) -> dict:
        if self._config is None:
            response = self.http.get(f"{self.base}/playground/config", timeout=10)
            response.raise_for_status()
            self._config = response.json()
        return self._config

    def event_of(self, elem_id: str) -> tuple[int, int]:
        """(fn_index, trigger id) of the click event of the button with this elem_id (e.g. enhance-run)."""
        button = next(c["id"] for c in self.config["components"] if c.get("props", {}).get("elem_id") == elem_id)
        for dependency in self.config["dependencies"]:
            if [button, "click"] in [list(t) for t in dependency["targets"]]:
                return dependency["id"], button
        raise LookupError(f"no click event on #{elem_id}")

    def default_inputs(self, fn_index: int) -> list:
        """The event's input values as the page starts (so only the image needs to be given)."""
        dependency = next(d for d in self.config["dependencies"] if d["id"] == fn_index)
        values = {c["id"]: c.get("props", {}).get("value") for c in self.config["components"]}
        return [values.get(component) for component in dependency["inputs"]]

    def upload(self, name: str, data: bytes) -> requests.Response:
        return self.http.post(f"{self.base}{API}/upload", files={"files": (name, data)}, timeout=60)

    def join(self, fn_index: int, trigger: int, data: list) -> requests.Response:
        return self.http.post(f"{self.base}{API}/queue/join", timeout=10, json={
            "data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger,
            "session_hash": self.session_hash})

    def read_events(self, event_id: str, timeout: float = 120) -> RunOutcome:
        """Read queue/data until this event completes."""
        outcome = RunOutcome()
        with self.http.get(f"{self.base}{API}/queue/data", params={"session_hash": self.session_hash},
                           stream=True, timeout=timeout) as response:
            response.raise_for_status()
            for line in response.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                message = json.loads(line[len("data:"):])
                if message.get("event_id") not in (None, event_id):
                    continue
                outcome.messages.append(message)
                if message.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                    break
        return outcome

    def run(self, elem_id: str, first_input) -> tuple[requests.Response, RunOutcome | None]:
        """Press the button: queue/join with this first input (and the page's defaults), then follow it."""
        fn_index, trigger = self.event_of(elem_id)
        data = self.default_inputs(fn_index)
        data[0] = first_input
        joined = self.join(fn_index, trigger, data)
        if joined.status_code != 200:
            return joined, None
        return joined, self.read_events(joined.json()["event_id"])

    def fetch(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{API}/file={quote(path)}", timeout=10)


def file_data(path: str) -> dict:
    """A FileData as the browser sends it: the client says where the file is."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}
