"""Your agent over HTTP, in the standard library: ``POST /act`` takes an observation and answers its action.

    python examples/http_agent.py --port 8011 &
    drugenv eval --agent serve:http://127.0.0.1:8011 --suite procedural-test --episodes 300

``drugenv eval`` keeps the episodes on its own simulator and scores them; the agent only sees each
step's observation, as any client does. Any server in any language can take its place by answering
the same request (``drugenv.agents.remote``)::

    POST /act   body: the observation as JSON (drugenv.ValidationObservation)
    200         {"action": {"action_type": "...", "parameters": {...}, "reasoning": "...", ...}}

Each request is one observation of one episode, so the agent served must keep no state between steps
(the observation's dossier and history hold everything so far): ``SafetyAndPotency`` here.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import ValidationError

from drugenv import Policy, ValidationObservation
from safety_and_potency import SafetyAndPotency  # this folder is on sys.path when the file runs as a script


def make_server(policy: Policy, host: str, port: int) -> ThreadingHTTPServer:
    class Act(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/act":
                return self.answer(404, {"detail": "this agent answers POST /act only"})
            try:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                observation = ValidationObservation.model_validate_json(body)
            except (ValueError, ValidationError) as e:
                return self.answer(422, {"detail": f"not an observation: {str(e)[:300]}"})
            action = policy.act([observation])[0]
            self.answer(200, {"action": action.model_dump(mode="json")})

        def answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # one line a step would drown the terminal
            pass

    return ThreadingHTTPServer((host, port), Act)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011, help="0 picks a free port")
    args = parser.parse_args()
    server = make_server(SafetyAndPotency(), args.host, args.port)
    print(f"serving SafetyAndPotency on http://{args.host}:{server.server_address[1]}/act", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
