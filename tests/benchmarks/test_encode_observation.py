"""`benchmarks/encode_observation.py`: both encoders are timed on the same observations, and only when
they wrote the same texts."""

from __future__ import annotations

import pytest
from benchmark_scripts import load

pytest.importorskip("picows")  # the load comes from bench_server.py, whose client needs it (the test extra)


@pytest.fixture(scope="module")
def bench():
    return load("encode_observation")


@pytest.mark.parametrize("long", [False, True])
def test_times_both_encoders_on_the_same_texts(bench, long):
    best = bench.main(bench.Args(episodes=4, repeats=1, long=long))
    assert set(best) == {"observation_data", "EpisodeObservationData"} and all(t > 0 for t in best.values())


def test_long_episodes_run_until_the_environment_ends_them(bench):
    observations = bench.observations(bench.Args(episodes=3, long=True))
    ends = [o for o in observations if o.done]
    assert len(ends) == 3 and all(o.metadata["termination_reason"] != "report_submitted" for o in ends)


def test_refuses_to_time_an_encoder_that_writes_another_text(bench, monkeypatch):
    from drugenv.server import protocol

    monkeypatch.setattr(protocol.EpisodeObservationData, "__call__", lambda self, obs: "{}")
    with pytest.raises(RuntimeError, match="another text"):
        bench.main(bench.Args(episodes=2, repeats=1))
