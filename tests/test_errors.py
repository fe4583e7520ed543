"""Every DrugEnvError pickles intact, so it crosses Ray task, actor and Serve handle boundaries (a Serve
replica that re-raises an unpicklable error turns a user's 422 into a 500)."""

import pickle

import pytest

from drugenv.errors import (
    ConfigError, DependencyNotInstalled, EnvNotResetError, EpisodeNotFinishedError, RemoteAgentError, SourceMismatchError,
    UnknownScenarioError,
)


@pytest.mark.parametrize("error", [UnknownScenarioError("x", ["a", "b"], kind="agent"), EnvNotResetError(),
                                   EpisodeNotFinishedError(), DependencyNotInstalled("vllm", "vllm"), ConfigError("bad"),
                                   SourceMismatchError("a" * 16, "b" * 16, "/x/drugenv"),
                                   RemoteAgentError("http://127.0.0.1:9", "no answer")],
                         ids=lambda e: type(e).__name__)
def test_error_pickles(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
