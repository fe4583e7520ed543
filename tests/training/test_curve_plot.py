"""The training-curve figure reads at a glance (integer iterations, legends off the data, labelled
reference lines, nothing hidden at one iteration)."""

import pytest

pytest.importorskip("matplotlib")

from drugenv.training.grpo_train import curve_figure  # noqa: E402


def _row(i):
    return {"iteration": i, "env/episode_return_mean": 0.1 * i, "env/parse_failure_rate": 0.2, "env/report_rate": 0.8,
            "timers/rollout": 10.0, "timers/learner": 5.0, "timers/sync": 0.1,
            "heldout/mean_return": 0.3 * i, "heldout/report_rate": 0.9}


@pytest.mark.parametrize("iterations", [1, 2, 7])
def test_curve_figure_is_readable(iterations):
    curve = [_row(i) for i in range(1, iterations + 1)]
    fig = curve_figure(curve, baselines={"heuristic": {"mean_return": 1.3}, "oracle": {"mean_return": 1.2}},
                       start={"mean_return": -0.1, "report_rate": 0.5})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        legend = ax.get_legend()
        assert legend is not None
        # The legend sits below the plotting area, not on the data.
        assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
        lo, hi = ax.get_xlim()
        assert lo < 1 and hi > iterations  # every point and bar is inside the x-range
    names = {t.get_text() for t in fig.axes[0].texts}
    assert {"heuristic", "oracle"} <= names  # reference lines are labelled where they are drawn
    bars = fig.axes[2].patches
    assert bars and all(fig.axes[2].get_ylim()[1] >= b.get_y() + b.get_height() for b in bars)
    assert "T=" not in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
