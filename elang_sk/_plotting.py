"""Displays of joint inference: the trade-off curves and the score distributions.

Like scikit-learn's Display objects, ``__init__`` stores the data, ``plot``
draws it, and ``from_predictions`` / ``from_estimator`` compute it first.
matplotlib is imported only when something is drawn.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted, column_or_1d

from elang_sk.metrics import joint_cost, tradeoff_curve
from elang_sk.routing._scores import get_score
from elang_sk.routing._threshold import ThresholdSelector, _KernelDensity

__all__ = ["ScoreDistributionDisplay", "TradeoffDisplay"]


def _get_axes(ax):
    """The axes to draw on: ``ax``, or those of a new figure.

    A new figure uses matplotlib's constrained layout, which makes room for
    the legend under the axes (see :func:`_legend_under_axes`).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(layout="constrained")
    return ax, ax.figure


def _legend_under_axes(ax, *, ncols, created, **kwargs):
    """A legend centred under the x label, outside the axes: it covers no data.

    Inside the axes, no corner is free of curves or bars for every data set.
    The anchor is moved down, in points, past the x tick labels and the x
    label, so that the legend clears them whatever the size of the axes. When
    the display ``created`` the figure, the figure grows by the legend's
    height, so that the axes keep their size.
    """
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import offset_copy

    rc = mpl.rcParams

    def line(size):
        return 1.2 * FontProperties(size=size).get_size_in_points()

    drop = (
        max(rc["xtick.major.size"], 0.0)
        + rc["xtick.major.pad"]
        + line(rc["xtick.labelsize"])
        + rc["axes.labelpad"]
        + line(rc["axes.labelsize"])
        + 2.0
    )
    under = offset_copy(ax.transAxes, fig=ax.figure, y=-drop, units="points")
    legend = ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=under,
        borderaxespad=0.0,
        ncols=ncols,
        **kwargs,
    )
    if created:
        n_labels = len(legend.get_texts())
        title = legend.get_title().get_text()
        rows = -(-n_labels // ncols) + (title.count("\n") + 1 if title else 0)
        size = FontProperties(size=kwargs.get("fontsize")).get_size_in_points()
        # about 1.7 lines of text per legend row, and the padding of the box
        ax.figure.set_figheight(
            ax.figure.get_figheight() + (drop + rows * 1.7 * size + 10.0) / 72.0
        )
    return legend


def _check_lengths(swift_correct, **others):
    """1-D arrays of one length, or a ValueError that names them all."""
    arrays = {"swift_correct": column_or_1d(swift_correct)}
    arrays.update({name: column_or_1d(values) for name, values in others.items()})
    lengths = {name: values.shape[0] for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ValueError(f"Need one value per input in each array; got lengths {got}.")
    if lengths["swift_correct"] == 0:
        raise ValueError("Need at least one input; got empty arrays.")
    return arrays


# Readable units: (unit, largest cost it is shown for, factor from the base unit).
_UNIT_SCALES = {
    "seconds": [("µs", 1e-3, 1e6), ("ms", 1.0, 1e3), ("s", np.inf, 1.0)],
    "FLOPs": [
        ("FLOPs", 1e3, 1.0),
        ("kFLOPs", 1e6, 1e-3),
        ("MFLOPs", 1e9, 1e-6),
        ("GFLOPs", 1e12, 1e-9),
        ("TFLOPs", np.inf, 1e-12),
    ],
}


def _readable_unit(unit, largest):
    """The unit to show costs in, and the factor that converts them to it.

    Seconds become ms or µs and FLOPs GFLOPs (etc.) so that the axis needs no
    ``1e-5`` offset; other units are kept as they are.
    """
    for name, upto, factor in _UNIT_SCALES.get(unit, []):
        if largest < upto:
            return name, factor
    return unit, 1.0


def _coincident_groups(curves):
    """Names of curves that lie exactly on top of each other, in groups.

    Routing scores that order the inputs alike (energy, softmax and entropy
    on two classes) give the same curve; a reader sees one line.
    """
    groups = []
    for name, curve in curves.items():
        for group in groups:
            other = curves[group[0]]
            if (
                other.cost.shape == curve.cost.shape
                and np.allclose(other.cost, curve.cost)
                and np.allclose(other.accuracy, curve.accuracy)
            ):
                group.append(name)
                break
        else:
            groups.append([name])
    return [group for group in groups if len(group) > 1]


def _score_name(score):
    return score if isinstance(score, str) else repr(score)


def _same_score(a, b):
    a, b = get_score(a), get_score(b)
    return type(a) is type(b) and a.get_params() == b.get_params()


def _routing_details(joint_clf, X, y, *, super_model=True):
    """A fitted joint model's :meth:`~JointClassifier.routing_details` on ``X``,
    with the correctness of each model on the labels ``y``."""
    check_is_fitted(joint_clf)
    details = joint_clf.routing_details(X, super_model=super_model)
    y = column_or_1d(y)
    if y.shape[0] != details.scores.shape[0]:
        raise ValueError(
            f"X and y have different lengths: {details.scores.shape[0]} inputs and "
            f"{y.shape[0]} labels. Pass one label per input."
        )
    details.swift_correct = np.asarray(details.swift_pred) == y
    if super_model:
        details.super_correct = np.asarray(details.super_pred) == y
    return details


class TradeoffDisplay:
    """Accuracy against cost of joint inference, one point per threshold.

    The E-LANG paper's Fig. 2: each curve sweeps the routing threshold of one
    routing score, from "everything to the Super" to "everything kept by the
    Swift". The Swift and the Super alone are marked for reference, and
    optionally the point at the threshold in use.

    Use :meth:`from_estimator` or :meth:`from_predictions` to create one. All
    parameters are stored as attributes.

    Parameters
    ----------
    curves : dict of str to Bunch
        Trade-off curves by name, as returned by
        :func:`elang_sk.metrics.tradeoff_curve`.
    swift_point : tuple of float
        ``(cost, accuracy)`` of the Swift alone.
    super_point : tuple of float
        ``(cost, accuracy)`` of the Super alone.
    selected : dict of str to tuple of float, default=None
        ``(cost, accuracy)`` at the selected threshold, by curve name.
    cost_unit : str, default=None
        Unit of the costs, shown in the x label. Costs in ``"seconds"`` are
        drawn in ms or µs, and costs in ``"FLOPs"`` in MFLOPs, GFLOPs, ...,
        whichever reads best.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The trade-off curves, by name.
    coincident_ : list of list of str
        Groups of curves that lie exactly on top of each other (routing scores
        that order the inputs alike, such as energy, softmax and entropy on
        two classes). The figure says so in the legend's entries and title.
    display_unit_ : str or None
        The unit of the x axis.
    swift_marker_, super_marker_ : matplotlib Line2D
        The Swift-alone and Super-alone points.
    selected_markers_ : dict of str to matplotlib Line2D
        The points at the selected thresholds, by curve name.
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    elang_sk.metrics.tradeoff_curve : The curve behind each line.
    ScoreDistributionDisplay : Where the threshold falls between right and
        wrong Swift answers.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from elang_sk import TradeoffDisplay
    >>> from elang_sk.metrics import tradeoff_curve
    >>> scores = [3.0, 2.0, 1.0]
    >>> swift_correct, super_correct = [True, True, False], [True, False, True]
    >>> curve = tradeoff_curve(scores, swift_correct, super_correct,
    ...                        swift_cost=1.0, super_cost=10.0)
    >>> display = TradeoffDisplay(
    ...     curves={"energy": curve}, swift_point=(1.0, 2 / 3),
    ...     super_point=(10.0, 2 / 3), cost_unit="GFLOPs",
    ... ).plot()
    >>> display.ax_.get_xlabel()
    'Cost per input (GFLOPs)'
    >>> plt.close("all")

    Curves that coincide are named as such, and seconds read as µs or ms:

    >>> curve = tradeoff_curve(scores, swift_correct, super_correct,
    ...                        swift_cost=2e-6, super_cost=9e-5)
    >>> display = TradeoffDisplay(
    ...     curves={"energy": curve, "softmax": curve},
    ...     swift_point=(2e-6, 2 / 3), super_point=(9e-5, 2 / 3),
    ...     cost_unit="seconds",
    ... ).plot()
    >>> display.coincident_, display.ax_.get_xlabel()
    ([['energy', 'softmax']], 'Cost per input (µs)')
    >>> plt.close("all")
    """

    def __init__(
        self, *, curves, swift_point, super_point, selected=None, cost_unit=None
    ):
        self.curves = curves
        self.swift_point = swift_point
        self.super_point = super_point
        self.selected = selected
        self.cost_unit = cost_unit

    def plot(self, ax=None, *, curve_kwargs=None):
        """Plot the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes. The legend
            goes under the axes; on a figure of your own, a layout engine
            (``layout="constrained"``, or ``tight_layout``) makes room for it.
        curve_kwargs : dict or list of dict, default=None
            Keyword arguments for matplotlib's ``plot`` of the curves: one
            dict for all of them, or one per curve in the order of
            ``curves``.

        Returns
        -------
        display : TradeoffDisplay
            The display, with the artists set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from elang_sk import TradeoffDisplay
        >>> from elang_sk.metrics import tradeoff_curve
        >>> curve = tradeoff_curve([2.0, 1.0], [True, False], [True, True])
        >>> display = TradeoffDisplay(
        ...     curves={"energy": curve}, swift_point=(1.0, 0.5),
        ...     super_point=(1.0, 1.0),
        ... )
        >>> _, ax = plt.subplots()
        >>> display.plot(ax=ax, curve_kwargs={"marker": "o"}).ax_ is ax
        True
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        names = list(self.curves)
        if curve_kwargs is None or isinstance(curve_kwargs, Mapping):
            curve_kwargs = [dict(curve_kwargs or {})] * len(names)
        elif len(curve_kwargs) != len(names):
            raise ValueError(
                f"curve_kwargs has {len(curve_kwargs)} dicts for {len(names)} "
                "curves; pass one dict per curve, or a single dict for all."
            )
        created = ax is None
        self.ax_, self.figure_ = _get_axes(ax)
        largest = max(
            [self.swift_point[0], self.super_point[0]]
            + [float(np.max(curve.cost)) for curve in self.curves.values()]
        )
        self.display_unit_, factor = _readable_unit(self.cost_unit, largest)
        self.coincident_ = _coincident_groups(self.curves)
        on_top_of = {name: group[0] for group in self.coincident_ for name in group[1:]}

        self.lines_, self.selected_markers_ = {}, {}
        selected = self.selected or {}
        for name, kwargs in zip(names, curve_kwargs, strict=True):
            curve = self.curves[name]
            label = name
            if name in on_top_of:
                # Drawn dashed over the first so that both stay visible.
                label = f"{name} (same curve as {on_top_of[name]})"
                kwargs = {"linestyle": "--", **kwargs}
            (line,) = self.ax_.plot(
                np.asarray(curve.cost) * factor,
                curve.accuracy,
                **{"label": label, **kwargs},
            )
            self.lines_[name] = line
            if name in selected:
                cost, accuracy = selected[name]
                (self.selected_markers_[name],) = self.ax_.plot(
                    [cost * factor],
                    [accuracy],
                    marker="*",
                    markersize=12,
                    linestyle="none",
                    color=line.get_color(),
                    label=f"{name} at the threshold",
                )

        for role, point, marker in (
            ("Swift", self.swift_point, "s"),
            ("Super", self.super_point, "D"),
        ):
            (artist,) = self.ax_.plot(
                [point[0] * factor],
                [point[1]],
                marker=marker,
                markersize=8,
                linestyle="none",
                color="black",
                label=f"{role} alone",
            )
            setattr(self, f"{role.lower()}_marker_", artist)
            self.ax_.annotate(
                role,
                (point[0] * factor, point[1]),
                textcoords="offset points",
                xytext=(6, -12),
            )

        unit = f" ({self.display_unit_})" if self.display_unit_ else ""
        self.ax_.set(xlabel=f"Cost per input{unit}", ylabel="Accuracy")
        self.ax_.ticklabel_format(axis="x", useOffset=False)
        if not self.ax_.get_title():
            self.ax_.set_title("Accuracy against cost, one point per threshold")
        # The note is the legend's title: it stays with the legend, under the
        # axes, and never covers a curve.
        notes = [f"{', '.join(group)}: identical curves" for group in self.coincident_]
        if notes:
            notes.append("(the scores order the inputs alike)")
        _legend_under_axes(
            self.ax_,
            ncols=2,
            created=created,
            title="\n".join(notes) or None,
            title_fontsize="small",
            fontsize="small",
        )
        return self

    @classmethod
    def from_predictions(
        cls,
        scores,
        swift_correct,
        super_correct,
        *,
        swift_cost=1.0,
        super_cost=1.0,
        router_cost=None,
        threshold=None,
        name=None,
        cost_unit=None,
        ax=None,
        curve_kwargs=None,
    ):
        """Plot the trade-off curves of given routing scores.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or dict of str to array-like
            Routing scores of each input (the Swift keeps ``score >=
            threshold``); a dict draws one curve per routing score.
        swift_correct : array-like of bool of shape (n_samples,)
            Whether the Swift is right on each input.
        super_correct : array-like of bool of shape (n_samples,)
            Whether the Super is right on each input.
        swift_cost, super_cost, router_cost : float or array-like of shape \
                (n_samples,)
            Costs per input, see :func:`elang_sk.metrics.joint_cost`; the same
            for every curve.
        threshold : float or dict of str to float, default=None
            Threshold(s) to mark on the curve(s): one number for a single
            curve, or a dict by curve name. None marks nothing.
        name : str, default=None
            Name of the curve when ``scores`` is one array; defaults to
            ``"joint"``. The keys of a ``scores`` dict name its curves.
        cost_unit : str, default=None
            Unit of the costs, shown in the x label.
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes.
        curve_kwargs : dict or list of dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : TradeoffDisplay
            The display, plotted.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from elang_sk import TradeoffDisplay
        >>> rng = np.random.default_rng(0)
        >>> swift_correct = rng.random(200) < 0.8
        >>> energy = np.where(swift_correct, 1.0, -1.0) + rng.normal(size=200)
        >>> display = TradeoffDisplay.from_predictions(
        ...     {"energy": energy, "random": rng.random(200)},
        ...     swift_correct, np.ones(200, bool),
        ...     swift_cost=1.0, super_cost=10.0, threshold={"energy": 0.0},
        ... )
        >>> sorted(display.lines_)
        ['energy', 'random']
        >>> display.super_point
        (10.0, 1.0)
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        if isinstance(scores, Mapping):
            if name is not None:
                raise ValueError(
                    "name names a single curve; with several scores, the keys of "
                    "the scores dict name the curves. Drop name."
                )
            if not scores:
                raise ValueError("scores is an empty dict; pass at least one curve.")
            scores = dict(scores)
        else:
            scores = {"joint" if name is None else name: scores}
        if threshold is not None and not isinstance(threshold, Mapping):
            if len(scores) > 1:
                raise ValueError(
                    "With several curves, threshold must be a dict by curve name, "
                    f"e.g. {{{next(iter(scores))!r}: 0.5}}."
                )
            threshold = {next(iter(scores)): threshold}
        threshold = dict(threshold or {})
        unknown = sorted(set(threshold) - set(scores))
        if unknown:
            raise ValueError(
                f"threshold names curves {unknown} that are not in scores "
                f"({sorted(scores)})."
            )

        arrays = _check_lengths(
            swift_correct,
            super_correct=super_correct,
            **{f"scores[{key!r}]": values for key, values in scores.items()},
        )
        swift_correct = arrays["swift_correct"].astype(bool)
        super_correct = arrays["super_correct"].astype(bool)
        costs = dict(
            swift_cost=swift_cost, super_cost=super_cost, router_cost=router_cost
        )
        curves, selected = {}, {}
        for key in scores:
            values = arrays[f"scores[{key!r}]"].astype(np.float64)
            curves[key] = tradeoff_curve(values, swift_correct, super_correct, **costs)
            if key in threshold:
                kept = values >= threshold[key]
                selected[key] = (
                    joint_cost(kept, swift_cost, super_cost, router_cost),
                    float(np.mean(np.where(kept, swift_correct, super_correct))),
                )
        n = swift_correct.shape[0]
        display = cls(
            curves=curves,
            swift_point=(
                float(np.mean(np.broadcast_to(swift_cost, n))),
                float(swift_correct.mean()),
            ),
            super_point=(
                float(np.mean(np.broadcast_to(super_cost, n))),
                float(super_correct.mean()),
            ),
            selected=selected,
            cost_unit=cost_unit,
        )
        return display.plot(ax=ax, curve_kwargs=curve_kwargs)

    @classmethod
    def from_estimator(
        cls,
        joint_clf,
        X,
        y,
        *,
        scores=("energy", "softmax", "entropy", "random"),
        ax=None,
        curve_kwargs=None,
    ):
        """Plot the trade-off curves of a fitted joint model on labelled data.

        Each routing score is computed from the same logits: the ones the
        fitted router reads (the Swift's own, or its energy head's), so the
        curves compare scores, not heads. Each model runs once on ``X``
        (through the joint model's output cache, if any). All curves pay the
        same routing cost, the random one included, as in the paper's
        ablation. The point at ``threshold_`` is marked on the curve of the
        score the joint model routes with.

        Parameters
        ----------
        joint_clf : JointClassifier
            A fitted joint model.
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        scores : sequence of str or BaseScore, \
                default=("energy", "softmax", "entropy", "random")
            Routing scores to draw a curve for, by name or as score objects.
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes.
        curve_kwargs : dict or list of dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : TradeoffDisplay
            The display, plotted.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from elang_sk import JointClassifier, TradeoffDisplay
        >>> X, y = make_classification(n_samples=600, random_state=0)
        >>> swift = make_pipeline(StandardScaler(), LogisticRegression())
        >>> big = RandomForestClassifier(n_estimators=20, random_state=0)
        >>> clf = JointClassifier(
        ...     swift.fit(X[:300], y[:300]), big.fit(X[:300], y[:300]),
        ...     costs={"swift": 1.0, "super": 10.0}, cv=2,
        ... ).fit(X[300:450], y[300:450])
        >>> display = TradeoffDisplay.from_estimator(clf, X[450:], y[450:])
        >>> list(display.lines_), list(display.selected)
        (['energy', 'softmax', 'entropy', 'random'], ['energy'])
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        details = _routing_details(joint_clf, X, y)
        swift_correct = details.swift_correct
        method, logits = details.logit_method, details.logits

        routing_scores, threshold = {}, {}
        for score in scores:
            key = _score_name(score)
            if key in routing_scores:
                raise ValueError(f"scores names {key!r} twice.")
            if _same_score(score, details.score):
                score = details.score
                threshold[key] = details.threshold
            score = get_score(score)
            if not score.uses_logits:
                routing_scores[key] = score(np.empty((swift_correct.shape[0], 1)))
                continue
            if logits is None:
                raise ValueError(
                    f"The {key!r} score needs the Swift's logits, but this joint "
                    "model routes with a score that reads none, so its Swift was "
                    "never asked for them. Plot only such scores (e.g. "
                    "scores=['random']), or fit the joint model with a logit-based "
                    "router."
                )
            if score.requires_logits and method == "predict_proba":
                raise ValueError(
                    f"The {key!r} score needs real logits, but this joint model's "
                    "router reads log-probabilities (routing_method_="
                    "'predict_proba'), on which it is constant. Leave it out of "
                    "scores."
                )
            routing_scores[key] = score(logits)

        unit = details.cost_unit  # "given" costs have no known unit
        return cls.from_predictions(
            routing_scores,
            swift_correct,
            details.super_correct,
            swift_cost=details.swift_cost,
            super_cost=details.super_cost,
            router_cost=details.router_cost,
            threshold=threshold,
            cost_unit=None if unit == "given" else unit,
            ax=ax,
            curve_kwargs=curve_kwargs,
        )


def _densities(scores, swift_correct, n_grid=512):
    """Gaussian KDE of the scores of right and wrong answers, on a shared grid.

    The kernel and bandwidth are those of ``ThresholdSelector("crossing")``; a
    group without inputs has no density (None). The grid spans the observed
    scores only: a score has a support (a binary energy is at least log 2),
    and a Gaussian kernel would spill its density past the bound.
    """
    groups = {"right": scores[swift_correct], "wrong": scores[~swift_correct]}
    kdes = {k: _KernelDensity(v) if v.size else None for k, v in groups.items()}
    grid = np.linspace(scores.min(), scores.max(), n_grid)
    return Bunch(
        grid=grid,
        **{k: None if kde is None else kde.pdf(grid) for k, kde in kdes.items()},
    )


class ScoreDistributionDisplay:
    """Distributions of the routing score when the Swift is right and wrong.

    The E-LANG paper's Fig. 3: density-normalised histograms and Gaussian
    kernel densities of the routing scores of the inputs the Swift gets right
    and of those it gets wrong, with the threshold ``t`` as a vertical line.
    The ``"crossing"`` strategy of :class:`ThresholdSelector` puts ``t``
    where the two densities cross.

    Use :meth:`from_estimator` or :meth:`from_predictions` to create one. All
    parameters are stored as attributes.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Routing scores.
    swift_correct : ndarray of bool of shape (n_samples,)
        Whether the Swift is right on each input.
    threshold : float, default=None
        Threshold to draw; None or an infinite one draws no line.
    densities : Bunch, default=None
        Kernel densities to draw: ``grid`` and, on it, ``right`` and
        ``wrong`` (each None when its group is empty). None draws none.
        :meth:`from_predictions` evaluates them on the observed range of the
        scores only, never past a bound the scores cannot cross.
    name : str, default=None
        Name of the routing score, shown in the x label.

    Attributes
    ----------
    bars_ : dict of str to matplotlib BarContainer
        The histograms, under ``"right"`` and ``"wrong"`` (groups with inputs
        only).
    density_lines_ : dict of str to matplotlib Line2D
        The kernel densities, under the same keys.
    threshold_line_ : matplotlib Line2D or None
        The threshold line.
    ax_ : matplotlib Axes
        Axes with the distributions.
    figure_ : matplotlib Figure
        Figure containing the distributions.

    See Also
    --------
    ThresholdSelector : Chooses the threshold.
    TradeoffDisplay : Accuracy against cost for every threshold.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from elang_sk import ScoreDistributionDisplay
    >>> display = ScoreDistributionDisplay(
    ...     scores=np.array([2.0, 1.5, 0.1, -1.0]),
    ...     swift_correct=np.array([True, True, False, False]),
    ...     threshold=0.8, name="energy",
    ... ).plot()
    >>> display.threshold_line_.get_label()
    't = 0.8'
    >>> plt.close("all")
    """

    def __init__(
        self, *, scores, swift_correct, threshold=None, densities=None, name=None
    ):
        self.scores = scores
        self.swift_correct = swift_correct
        self.threshold = threshold
        self.densities = densities
        self.name = name

    def plot(self, ax=None, *, bins=30):
        """Plot the distributions.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes. The legend
            goes under the axes; on a figure of your own, a layout engine
            (``layout="constrained"``, or ``tight_layout``) makes room for it.
        bins : int or sequence of float, default=30
            Histogram bins, shared by both groups (see
            :func:`numpy.histogram_bin_edges`).

        Returns
        -------
        display : ScoreDistributionDisplay
            The display, with the artists set.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from elang_sk import ScoreDistributionDisplay
        >>> display = ScoreDistributionDisplay(
        ...     scores=np.array([2.0, 1.5, 0.1, -1.0]),
        ...     swift_correct=np.array([True, True, False, False]),
        ... ).plot(bins=4)
        >>> len(display.bars_["right"])
        4
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        scores = np.asarray(self.scores, dtype=np.float64)
        swift_correct = np.asarray(self.swift_correct, dtype=bool)
        created = ax is None
        self.ax_, self.figure_ = _get_axes(ax)
        edges = np.histogram_bin_edges(scores, bins=bins)

        self.bars_, self.density_lines_ = {}, {}
        for group, rows, color in (
            ("right", swift_correct, "tab:blue"),
            ("wrong", ~swift_correct, "tab:orange"),
        ):
            if not rows.any():
                continue
            label = f"Swift {group} (n={int(rows.sum())})"
            *_, self.bars_[group] = self.ax_.hist(
                scores[rows], bins=edges, density=True, alpha=0.35, color=color
            )
            density = None if self.densities is None else self.densities[group]
            if density is not None:
                (self.density_lines_[group],) = self.ax_.plot(
                    self.densities.grid, density, color=color, label=label
                )
            else:
                self.bars_[group].set_label(label)

        self.threshold_line_ = None
        if self.threshold is not None and np.isfinite(self.threshold):
            self.threshold_line_ = self.ax_.axvline(
                self.threshold,
                color="tab:green",
                linestyle="--",
                label=f"t = {self.threshold:.3g}",
            )
        score = f" ({self.name})" if self.name else ""
        self.ax_.set(xlabel=f"Routing score{score}", ylabel="Density")
        _legend_under_axes(self.ax_, ncols=3, created=created, fontsize="small")
        return self

    @classmethod
    def from_predictions(
        cls, scores, swift_correct, *, threshold=None, name=None, ax=None, bins=30
    ):
        """Plot the score distributions of given routing scores.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Routing scores.
        swift_correct : array-like of bool of shape (n_samples,)
            Whether the Swift is right on each input.
        threshold : float, default=None
            Threshold to draw; None chooses it with
            ``ThresholdSelector("crossing")``.
        name : str, default=None
            Name of the routing score, shown in the x label.
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes.
        bins : int or sequence of float, default=30
            Histogram bins, see :meth:`plot`.

        Returns
        -------
        display : ScoreDistributionDisplay
            The display, plotted.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from elang_sk import ScoreDistributionDisplay
        >>> rng = np.random.default_rng(0)
        >>> scores = np.r_[rng.normal(2, 1, 300), rng.normal(-2, 1, 300)]
        >>> swift_correct = np.r_[np.ones(300, bool), np.zeros(300, bool)]
        >>> display = ScoreDistributionDisplay.from_predictions(
        ...     scores, swift_correct, name="energy"
        ... )
        >>> round(display.threshold, 1)
        0.0
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        arrays = _check_lengths(swift_correct, scores=scores)
        scores = arrays["scores"].astype(np.float64)
        swift_correct = arrays["swift_correct"].astype(bool)
        if threshold is None:
            threshold = ThresholdSelector("crossing").select(scores, swift_correct)
            threshold = threshold.threshold
        display = cls(
            scores=scores,
            swift_correct=swift_correct,
            threshold=float(threshold),
            densities=_densities(scores, swift_correct),
            name=name,
        )
        return display.plot(ax=ax, bins=bins)

    @classmethod
    def from_estimator(cls, joint_clf, X, y, *, ax=None, bins=30):
        """Plot the score distributions of a fitted joint model on labelled data.

        Parameters
        ----------
        joint_clf : JointClassifier
            A fitted joint model; its routing scores and ``threshold_`` are
            drawn.
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        ax : matplotlib Axes, default=None
            Axes to plot on. None creates a new figure and axes.
        bins : int or sequence of float, default=30
            Histogram bins, see :meth:`plot`.

        Returns
        -------
        display : ScoreDistributionDisplay
            The display, plotted.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from elang_sk import JointClassifier, ScoreDistributionDisplay
        >>> X, y = make_classification(n_samples=600, random_state=0)
        >>> swift = make_pipeline(StandardScaler(), LogisticRegression())
        >>> big = RandomForestClassifier(n_estimators=20, random_state=0)
        >>> clf = JointClassifier(
        ...     swift.fit(X[:300], y[:300]), big.fit(X[:300], y[:300]), cv=2
        ... ).fit(X[300:450], y[300:450])
        >>> display = ScoreDistributionDisplay.from_estimator(
        ...     clf, X[450:], y[450:]
        ... )
        >>> display.threshold == clf.threshold_, display.ax_.get_xlabel()
        (True, 'Routing score (energy)')
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        details = _routing_details(joint_clf, X, y, super_model=False)
        return cls.from_predictions(
            details.scores,
            details.swift_correct,
            threshold=details.threshold,
            name=_score_name(details.score_name),
            ax=ax,
            bins=bins,
        )
