"""Training load: 64 concurrent sessions, a third of them dropped abruptly mid-episode (TCP abort,
no close frame), a few closed cleanly mid-episode; afterwards every slot is free, and every
episode saw exactly its own data (its frames equal the in-process replay of its seed and actions)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from drugenv.server.app import create_app
from drugenv.server.serve import serve_in_thread

from .conftest import SCENARIOS, random_action, replay, ws_url

N_SESSIONS = 64


async def play(url: str, i: int, start: asyncio.Event) -> dict[str, Any]:
    """Session i: plays seed 1000+i; i % 3 == 0 aborts the socket after 3 steps, i % 8 == 1 closes cleanly."""
    seed, scenario, rng = 1000 + i, SCENARIOS[i % len(SCENARIOS)], random.Random(i)
    frames, actions = [], []
    ws = await connect(ws_url(url), ping_interval=None)
    await start.wait()  # all 64 sockets are open before anyone plays
    await ws.send(json.dumps({"type": "reset", "data": {"seed": seed, "scenario": scenario, "episode_id": f"load-{i}"}}))
    frames.append(json.loads(await ws.recv()))
    while not frames[-1]["data"]["done"]:
        if i % 3 == 0 and len(actions) == 3:
            ws.transport.abort()  # abrupt: no close frame, no TCP FIN handshake
            return {"i": i, "aborted": True}
        if i % 8 == 1 and len(actions) == 2:
            await ws.close()
            return {"i": i, "aborted": True}
        action = random_action(rng, frames[-1]["data"]["observation"])
        await ws.send(json.dumps({"type": "step", "data": action}))
        frames.append(json.loads(await ws.recv()))
        actions.append(action)
        await asyncio.sleep(0)
    await ws.send('{"type":"close"}')
    await ws.close()
    return {"i": i, "aborted": False, "seed": seed, "scenario": scenario, "frames": frames, "actions": actions}


async def run_load(url: str) -> list[dict[str, Any]]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(play(url, i, start)) for i in range(N_SESSIONS)]
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(base_url=url) as http:
        while (await http.get("/health")).json()["active_sessions"] < N_SESSIONS:
            assert time.monotonic() < deadline, "64 sessions did not open"
            await asyncio.sleep(0.05)
    start.set()
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)


def test_64_sessions_with_abrupt_disconnects() -> None:
    app = create_app(max_sessions=N_SESSIONS)
    with serve_in_thread(app) as url:
        results = asyncio.run(run_load(url))
        deadline = time.monotonic() + 15
        while app.state.sessions.active:
            assert time.monotonic() < deadline, f"{app.state.sessions.active} slots still held"
            time.sleep(0.05)
        assert httpx.get(url + "/health").json()["active_sessions"] == 0
        # every slot is usable again: a full house of fresh sessions opens
        async def refill() -> None:
            sockets = [await connect(ws_url(url)) for _ in range(N_SESSIONS)]
            for ws in sockets:
                await ws.send(json.dumps({"type": "reset", "data": {"seed": 1, "scenario": "egfr_nsclc_viable"}}))
                assert json.loads(await ws.recv())["type"] == "observation"
            for ws in sockets:
                await ws.close()

        asyncio.run(refill())

    finished = [r for r in results if not r["aborted"]]
    assert len(finished) >= N_SESSIONS // 2
    for r in finished:
        payloads, _ = replay(r["seed"], r["scenario"], r["actions"], episode_id=f"load-{r['i']}")
        assert [f["data"] for f in r["frames"]] == payloads, f"session {r['i']} saw data that is not its own"
        assert {f["data"]["metadata"]["episode_id"] for f in r["frames"]} == {f"load-{r['i']}"}
