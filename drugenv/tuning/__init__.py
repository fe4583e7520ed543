"""Ray Tune sweeps over reward weights and curricula (``drugenv sweep``); see ``drugenv.tuning.sweep``.

Ray is imported only when a sweep runs.
"""


__all__: list[str] = []
