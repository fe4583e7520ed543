import drugenv


def test_all_is_sorted_and_resolves():
    assert drugenv.__all__ == sorted(drugenv.__all__)
    for name in drugenv.__all__:
        assert getattr(drugenv, name) is not None
