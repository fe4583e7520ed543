"""Hand-built DrugEnv episodes for connector and learner tests."""

from __future__ import annotations


def make_episode(group_id, index, turns):
    """A finished ``SingleAgentEpisode`` as ``DrugEnvRunner.sample`` builds it; ``turns`` is a list of
    ``(prompt_ids, completion_ids, logprobs, reward)``."""
    import numpy as np
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    from drugenv.training.env_runner import COMPLETION_LOGP, COMPLETION_TRUNCATED

    ep = SingleAgentEpisode()
    ep.custom_data.update(group_id=group_id, index=index)
    ep.add_env_reset(observation=np.asarray(turns[0][0], dtype=np.int64))
    for t, (_, comp, logps, reward) in enumerate(turns):
        nxt = turns[t + 1][0] if t + 1 < len(turns) else []
        ep.add_env_step(observation=np.asarray(nxt, dtype=np.int64), action=np.asarray(comp, dtype=np.int64),
                        reward=float(reward), terminated=t + 1 == len(turns),
                        extra_model_outputs={COMPLETION_LOGP: np.asarray(logps, dtype=np.float32),
                                             COMPLETION_TRUNCATED: False})
    return ep

