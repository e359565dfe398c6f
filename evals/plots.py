"""The report's figures as PNG bytes (matplotlib, Agg: no display on a server or in CI).

Returned as bytes rather than files so report.html can embed them and stay a single file an evaluator can
mail or attach to a ticket.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NONE_LABEL = "(none)"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def metric_bars(title: str, metrics: dict[str, float | None]) -> bytes | None:
    """Horizontal bars of the 0..1 metrics of one suite, value printed at the end of each bar."""
    rows = [(k, v) for k, v in metrics.items() if v is not None and 0.0 <= v <= 1.0]
    if not rows:
        return None
    names, values = zip(*rows, strict=True)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    y = np.arange(len(rows))
    ax.barh(y, values, color="#4477aa")
    for i, v in enumerate(values):
        inside = v > 0.9  # near the right edge: write the value inside the bar, in white
        ax.text(
            v - 0.01 if inside else v + 0.01,
            i,
            f"{v:.3f}",
            va="center",
            fontsize=8,
            ha="right" if inside else "left",
            color="white" if inside else "black",
        )
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(title)
    return _png(fig)


def latency_histogram(samples: dict[str, list[float]]) -> bytes | None:
    """Milliseconds per endpoint/mode on a log axis, so a 5 ms retrieve and a 2 s answer share one plot."""
    series = {k: v for k, v in samples.items() if v}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    all_values = np.concatenate([np.asarray(v, dtype=float) for v in series.values()])
    lo, hi = max(all_values.min(), 0.1), max(all_values.max(), 1.0)
    bins = np.logspace(np.log10(lo), np.log10(hi * 1.01), 30)
    for name, values in sorted(series.items()):
        ax.hist(values, bins=bins.tolist(), alpha=0.55, label=f"{name} (n={len(values)})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.legend(fontsize=7)
    ax.set_title("Latency per endpoint / mode")
    return _png(fig)


def confusion_matrix(items: list[dict]) -> bytes | None:
    """True category (rows) against the category the guardrail answered with (columns), counts in cells."""
    if not items:
        return None
    truth = [d["category"] if d["label"] else NONE_LABEL for d in items]
    pred = [
        (d["predicted_category"] or "(flag, no category)") if d["predicted"] else NONE_LABEL for d in items
    ]
    labels = sorted(set(truth) | set(pred), key=lambda s: (s == NONE_LABEL, s))
    index = {name: i for i, name in enumerate(labels)}
    grid = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, pred, strict=True):
        grid[index[t], index[p]] += 1
    size = 1.5 + 0.45 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    ax.imshow(np.log1p(grid), cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if grid[i, j]:
                ax.text(
                    j,
                    i,
                    str(grid[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if grid[i, j] > grid.max() / 2 else "black",
                )
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("guardrail answered")
    ax.set_ylabel("label")
    ax.set_title("Red-flag confusion matrix")
    return _png(fig)


def delta_bars(deltas: dict[str, dict]) -> bytes | None:
    """Change of every shared metric against --compare; green where it improved, red where it got worse."""
    rows = [(k, d["delta"], d["better"]) for k, d in deltas.items() if d.get("delta") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    y = np.arange(len(rows))
    colors = ["#228833" if better else ("#cc3311" if better is False else "#bbbbbb") for _, _, better in rows]
    ax.barh(y, [r[1] for r in rows], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_title("Change against the previous run")
    return _png(fig)


def mode_comparison(per_mode: dict[str, dict[str, float]]) -> bytes | None:
    """Retrieval metrics side by side per mode (e.g. hybrid vs dense vs bm25): what fusion adds."""
    if len(per_mode) < 2:
        return None
    modes = list(per_mode)
    names = list(next(iter(per_mode.values())))
    x = np.arange(len(names))
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, mode in enumerate(modes):
        ax.bar(
            x + i * width - 0.4 + width / 2, [per_mode[mode].get(n, 0.0) for n in names], width, label=mode
        )
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Retrieval by mode")
    return _png(fig)
