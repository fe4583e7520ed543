"""Gymnasium environments over the DrugEnv core, registered on import.

| id                  | class          | observation                  | action                          |
|---------------------|----------------|------------------------------|---------------------------------|
| ``DrugEnv/Text-v0``   | ``DrugEnvText``  | ``Text`` (rendered dossier)    | ``Text`` (one JSON action)        |
| ``DrugEnv/Vector-v0`` | ``DrugEnvVector`` | ``Box(-1, 1, (59,))`` features | ``Discrete(34)`` action catalogue |

>>> import gymnasium as gym, drugenv.gym_envs
>>> env = gym.make("DrugEnv/Vector-v0", suite="curated")
"""

from __future__ import annotations

import gymnasium as gym

from drugenv.gym_envs.text_env import DrugEnvText
from drugenv.gym_envs.vector_env import DrugEnvVector

TEXT_ENV_ID = "DrugEnv/Text-v0"
VECTOR_ENV_ID = "DrugEnv/Vector-v0"


def register_envs() -> None:
    """Register both ids with gymnasium (idempotent)."""
    for env_id, entry_point in ((TEXT_ENV_ID, "drugenv.gym_envs.text_env:DrugEnvText"),
                                (VECTOR_ENV_ID, "drugenv.gym_envs.vector_env:DrugEnvVector")):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)


register_envs()

__all__ = ["DrugEnvText", "DrugEnvVector", "TEXT_ENV_ID", "VECTOR_ENV_ID", "register_envs"]
