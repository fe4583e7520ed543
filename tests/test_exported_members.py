import drugenv


def test_all_is_sorted_and_resolves():
    assert drugenv.__all__ == sorted(drugenv.__all__)
    core = [n for n in drugenv.__all__ if n not in ("DrugTargetEnv", "StepResult")]
    for name in core:
        assert getattr(drugenv, name) is not None
