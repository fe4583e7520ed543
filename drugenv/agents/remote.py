"""An agent over HTTP as a ``Policy``: ``serve:URL`` in ``drugenv eval --agent`` and the dashboard.

The contract, one request per step of each running episode::

    POST {URL}/act      body: the observation, ``ValidationObservation`` as JSON (``model_dump(mode="json")``)
    200                 {"action": {...a DrugTargetAction as JSON...}, ...any other fields}

The Serve agent app (``drugenv serve``, ``serve.apps``) answers it with its trained model; so can a
server of your own, in any language (``examples/http_agent.py`` serves a ``Policy`` in ~40 lines of
the standard library). The episodes stay in this process, on the simulator, so ``drugenv eval``
scores the agent with every metric, ``--paired`` included, while the agent only ever sees what any
client sees.

The requests of a lockstep batch go out together (the Serve app batches concurrent requests into one
``generate``); a finished episode's slot gets none. The action is stepped as the agent sent it, so a
malformed one is a penalised step, as in process. An agent that cannot be reached, answers an error
status or answers without an ``action`` object raises ``RemoteAgentError``, naming the URL and why.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError, RemoteAgentError, whole_number
from drugenv.models import ValidationObservation

PREFIX = "serve:"
"""``--agent serve:URL``."""


def agent_url(spec: str) -> str:
    """The http(s) address of a ``serve:URL`` spec, or ``ConfigError``: a scheme other than http(s), or an
    address httpx cannot send to (a typo'd port was its ``InvalidURL`` traceback at the first request) or
    that ``/act`` cannot be appended to (no host; a query or fragment)."""
    if not isinstance(spec, str):  # None was an AttributeError ('startswith')
        raise ConfigError(f"serve:URL needs the agent's address as text, got {type(spec).__name__}")
    url = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"serve:URL needs the agent's http(s) address (the Serve agent app's, or a server answering "
                          f"POST /act), e.g. serve:http://127.0.0.1:8001; got {url[:80]!r}")
    problem = _address_problem(url)
    if problem:
        raise ConfigError(f"serve:URL {url[:80]!r} is not an agent's address: {problem}")
    return url.rstrip("/")


def _address_problem(url: str) -> Optional[str]:
    """Why ``POST {url}/act`` cannot be sent, or None."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        return str(e)
    if not parsed.host:
        return "it names no host"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"port {parsed.port} is out of range"
    if "?" in url or "#" in url:  # an empty one too ("...:8011/?"), which httpx parses away
        return "it has a query or fragment, which /act cannot follow"
    return None


class RemoteAgentPolicy(Policy):
    """An agent answering ``POST {url}/act`` (module docstring).

    Args:
        url: the agent's base address, ``http(s)://host:port``.
        timeout: seconds to wait for one answer (an LLM on a busy replica can take a while).
        max_concurrency: most requests in flight at once (a batch's running episodes).
    """

    name = "serve"

    def __init__(self, url: str, timeout: float = 120.0, max_concurrency: int = 8):
        # Checked here, not at the first act mid-episode (httpx's and the thread pool's own errors, then)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise ConfigError(f"timeout must be a number of seconds > 0, got {timeout!r:.40}")
        self.url, self.timeout = agent_url(url), float(timeout)
        self.max_concurrency = whole_number(max_concurrency, "max_concurrency")

    def act(self, observations: Sequence[ValidationObservation]) -> list[Optional[dict[str, Any]]]:
        import httpx

        running = [i for i, obs in enumerate(observations) if not obs.done]
        actions: list[Optional[dict[str, Any]]] = [None] * len(observations)  # a finished slot's action is ignored
        if not running:
            return actions
        with httpx.Client(timeout=self.timeout) as client:
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(running))) as pool:
                for i, action in zip(running, pool.map(lambda i: self._ask(client, observations[i]), running)):
                    actions[i] = action
        return actions

    def _ask(self, client: Any, observation: ValidationObservation) -> dict[str, Any]:
        import httpx

        endpoint = f"{self.url}/act"
        try:
            resp = client.post(endpoint, json=observation.model_dump(mode="json"))
        except httpx.TimeoutException:
            raise RemoteAgentError(self.url, f"no answer to POST /act within {self.timeout:g} s") from None
        except httpx.HTTPError as e:
            raise RemoteAgentError(self.url, f"POST /act failed ({type(e).__name__}: {e}); is the agent running there?") from None
        if resp.status_code != 200:
            raise RemoteAgentError(self.url, f"POST /act answered {resp.status_code}: {resp.text[:300]}")
        try:
            body = resp.json()
        except ValueError:
            body = None
        action = body.get("action") if isinstance(body, dict) else None
        if not isinstance(action, dict):
            raise RemoteAgentError(self.url, f'POST /act answered without an "action" object: {resp.text[:200]!r}')
        return action


__all__ = ["PREFIX", "RemoteAgentPolicy", "agent_url"]
