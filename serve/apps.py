"""Ray Serve applications: the DrugEnv environment server and a trained agent, over HTTP.

How to run (loopback; Serve's proxy binds where ``http_options`` says)::

    python -m serve.apps --app env   --port 8000                                   # OpenEnv protocol at /
    python -m serve.apps --app agent --port 8001 --model PATH --adapter runs/grpo_tiny_cpu/adapter_final

    serve run serve.apps:env_app                                                    # Serve CLI, same app
    serve run serve.apps:build_agent_app model=PATH adapter=ADAPTER
    python -m serve.apps --app dashboard --port 8050                                # the live evidence dashboard

The environment app is the same FastAPI app as ``drugenv serve-env`` (``drugenv.server.app.create_app``),
mounted as a Serve ingress, so replicas scale with ``num_replicas``; each WebSocket session lives on
one replica. The agent app loads ``HFPolicy`` (base model + optional peft LoRA adapter) once per
replica and answers ``POST /act`` with the action for an observation.
"""


from dataclasses import dataclass
from typing import Any, Optional

from fastapi import Body, FastAPI
from pydantic import BaseModel, Field
from ray import serve

from drugenv.models import ValidationObservation
from drugenv.server.serve import Args as ServerArgs
from drugenv.server.serve import make_app


def _build_env_asgi_app() -> Any:
    # Built inside each replica: the app owns a thread pool and session registry, which neither
    # pickle nor should be shared between replicas. ``make_app`` honours DRUGENV_SEAL (sealed
    # evaluation): pass it to the replicas with ``runtime_env={"env_vars": {"DRUGENV_SEAL": ...}}``.
    return make_app(ServerArgs())


@serve.deployment(ray_actor_options={"num_cpus": 0.5})
@serve.ingress(_build_env_asgi_app)
class EnvServer:
    """The OpenEnv-compatible environment server as a Serve deployment."""


env_app = EnvServer.bind()


def _build_dashboard_asgi_app() -> Any:
    # Built inside the replica, like the env app. The runs folder is read from the replica's
    # environment: pass it with ``runtime_env={"env_vars": {"DRUGENV_DASHBOARD_RUNS": "/abs/runs"}}``.
    import os

    from drugenv.dashboard import create_app

    return create_app(os.environ.get("DRUGENV_DASHBOARD_RUNS", "runs"))


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
@serve.ingress(_build_dashboard_asgi_app)
class DashboardServer:
    """The live evidence dashboard (``drugenv dashboard``) as a Serve deployment, beside the env and agent apps."""


dashboard_app = DashboardServer.bind()

agent_api = FastAPI(title="DrugEnv agent", description="A trained DrugEnv agent: observation in, action out.")


class ActResponse(BaseModel):
    action: dict[str, Any] = Field(..., description="The action to send to the environment (a DrugTargetAction, or the "
                                                    "documented unparseable no-op when the model's text was not a valid action).")
    text: str = Field("", description="The model's raw completion.")
    valid: bool = Field(..., description="Whether the completion parsed into a valid DrugTargetAction.")


@serve.deployment(ray_actor_options={"num_cpus": 1})
@serve.ingress(agent_api)
class AgentServer:
    """``HFPolicy`` behind HTTP; one model copy per replica."""

    def __init__(self, model: str, adapter: Optional[str] = None, temperature: float = 0.0, max_new_tokens: int = 96):
        from drugenv.llm.policy import HFPolicy, SamplingConfig

        self.policy = HFPolicy(model, adapter=adapter, sampling=SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens))

    @agent_api.get("/health")
    def health(self) -> dict[str, Any]:
        return {"status": "healthy", "model": self.policy.model_id, "adapter": self.policy.adapter}

    @agent_api.post("/act", response_model=ActResponse)
    def act(self, observation: ValidationObservation = Body(...)) -> ActResponse:  # no __future__ annotations: FastAPI must resolve these types
        from drugenv.llm.parsing import is_valid

        action = self.policy.act([observation])[0]
        step = self.policy.last_steps[0]
        payload = action.model_dump(mode="json") if hasattr(action, "model_dump") else dict(action)
        return ActResponse(action=payload, text=step.generation.text, valid=is_valid(step.result))


def build_agent_app(args: dict[str, str]) -> Any:
    """App builder for ``serve run serve.apps:build_agent_app model=... [adapter=...]``."""
    return AgentServer.bind(args["model"], args.get("adapter"), float(args.get("temperature", 0.0)),
                            int(args.get("max_new_tokens", 96)))


@dataclass
class Args:
    app: str = "env"
    """env | agent | dashboard."""
    host: str = "127.0.0.1"
    """Interface Serve's HTTP proxy binds."""
    port: int = 8000
    """HTTP port."""
    model: Optional[str] = None
    """--app agent: model path or hub id."""
    adapter: Optional[str] = None
    """--app agent: peft LoRA adapter path."""
    runs: str = "runs"
    """--app dashboard: the runs folder to show."""


def main(args: Args) -> None:
    import ray

    ray.init(address="local", include_dashboard=False)
    serve.start(http_options={"host": args.host, "port": args.port})
    if args.app == "dashboard":
        import os

        env = {"env_vars": {"DRUGENV_DASHBOARD_RUNS": os.path.abspath(args.runs)}}
        app = DashboardServer.options(ray_actor_options={"num_cpus": 0.25, "runtime_env": env}).bind()
        serve.run(app, name="dashboard", route_prefix="/", blocking=True)
        return
    app = env_app if args.app == "env" else build_agent_app({"model": args.model or "", **({"adapter": args.adapter} if args.adapter else {})})
    serve.run(app, name=args.app, route_prefix="/", blocking=True)


if __name__ == "__main__":  # pragma: no cover
    import tyro

    main(tyro.cli(Args))
