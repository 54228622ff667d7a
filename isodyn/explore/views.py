"""The explorer's page: the control widgets and four linked views, redrawn by :meth:`Explorer.update`.

(a) the eigenvalues s_m against steps (log y); (b) the two-mode phase portrait of two chosen modes
(:mod:`isodyn.dynamics.modes.portrait`: vector field, nullclines, fixed points with their stability from
derivations.analysis, the two modes' trajectory, and a click starts a two-mode run from that point); (c) the
growth rate G/S against s with the spectrum marked on it and the weight decay gamma as a line (a mode grows
where the rate is above it); (d) the derivation of the rule, typeset from the same sympy objects
(:func:`isodyn.dynamics.codegen.cache.derivation_text`).  The plotted data live in named Bokeh
``ColumnDataSource``\\ s (``trajectories``, ``portrait_path``, ``growth_curve``, ...), which a browser can read.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, Span
from bokeh.palettes import viridis
from bokeh.plotting import figure

from isodyn.derivations import InputError
from isodyn.dynamics.codegen.cache import derivation_text
from isodyn.dynamics.modes import portrait, simulate
from isodyn.explore import state as st

#: control -> its label (Greek as in the paper; the flag in brackets)
LABELS = {"metric": "metric", "variant": "variant", "beta": "β (blank: the variant's)", "alpha": "predictor α",
          "eps": "predictor ε", "normalize": "normalise λ by max s", "predictor": "predictor",
          "predictor_lr_ratio": "trained predictor α_p", "predictor_weight_decay": "trained predictor γ_p (blank: γ)",
          "sigma1": "σ1 (online noise)", "sigma2": "σ2 (target noise)", "weight_decay": "weight decay γ",
          "ema": "EMA τ", "lr": "learning rate η (blank: the paper's)", "steps": "steps",
          "spectrum": "initial spectrum", "modes": "modes M", "s0_range": "s0 range lo,hi",
          "s0_values": "s0 values", "closure": "cosine closure", "scheme": "scheme",
          "mode_a": "portrait: mode a", "mode_b": "portrait: mode b"}
SLIDERS = ("alpha", "eps", "sigma1", "sigma2", "weight_decay", "ema")
FIELD = 15  # arrows per side of the portrait's vector field
NULLCLINE_N = {"mean-field": 80, "exact": 24}
STABILITY_COLORS = {"stable": "#009E73", "unstable": "#D55E00", "saddle": "#CC79A7", "marginal": "#777777",
                    portrait.LINE: "#0072B2"}


class PortraitControls(st.Controls):
    """The controls with the portrait's two modes (1-based, in the order of s0)."""

    mode_a = param.Integer(default=1, bounds=(1, st.MAX_MODES))
    mode_b = param.Integer(default=10, bounds=(1, st.MAX_MODES))


def _widget(controls, name):
    p = controls.param[name]
    if name in SLIDERS:
        return pn.widgets.EditableFloatSlider.from_param(p, name=LABELS[name], start=p.softbounds[0],
                                                         end=p.softbounds[1], step=p.step)
    if isinstance(p, param.Selector):
        return pn.widgets.Select.from_param(p, name=LABELS[name])
    if isinstance(p, param.Boolean):
        return pn.widgets.Checkbox.from_param(p, name=LABELS[name])
    if isinstance(p, param.Integer):
        return pn.widgets.IntInput.from_param(p, name=LABELS[name])
    if isinstance(p, param.Number):
        return pn.widgets.FloatInput.from_param(p, name=LABELS[name])
    return pn.widgets.TextInput.from_param(p, name=LABELS[name])


def _positive(a):
    a = np.array(a, dtype=float)
    a[~(a > 0)] = np.nan  # log axes: a dead mode (0) or a diverged step (NaN) is a gap
    return a


class Explorer:
    """One session's page.  ``update()`` checks the controls, runs and redraws (the redraw ``isodyn bench``
    times); ``layout`` is the Panel object (``isodyn.explore.app()``)."""

    def __init__(self, **values):
        self.controls = PortraitControls(**values)
        self.result: st.Result | None = None
        self.document = None  # the Bokeh document when served (server.page sets it)
        self.error: str | None = None
        self._gen, self._lock = 0, threading.Lock()
        self.sources = {name: ColumnDataSource(cols, name=name) for name, cols in (
            ("trajectories", dict(xs=[], ys=[], color=[], mode=[])),
            ("growth_curve", dict(s=[], rate=[])),
            ("spectrum", dict(s=[], rate=[], color=[])),
            ("portrait_field", dict(x0=[], y0=[], x1=[], y1=[])),
            ("portrait_nullclines", dict(xs=[], ys=[], color=[])),
            ("portrait_fixed_points", dict(s1=[], s2=[], stability=[], color=[])),
            ("portrait_path", dict(s1=[], s2=[])),
            ("portrait_click", dict(s1=[], s2=[])))}
        self.gamma_line = Span(location=0.0, dimension="width", line_color="#D55E00", line_dash="dashed")
        self.figures = self._figures()
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.derivation = pn.pane.Markdown("", sizing_mode="stretch_width", max_height=600,
                                           styles={"overflow-y": "auto"})
        self.command = pn.widgets.TextAreaInput(name="the same run on the command line", disabled=False,
                                                sizing_mode="stretch_width", height=90)
        self.progress = pn.indicators.Progress(name="compiling kernels", value=0, max=1, active=True,
                                               sizing_mode="stretch_width")
        self.progress_text = pn.pane.Markdown("compiling the kernels of this rule ...")
        self.export_format = pn.widgets.Select(name="export format", options=["png", "svg"], value="png", width=90)
        self.export = pn.widgets.FileDownload(callback=self._export, filename="isodyn-explorer.png",
                                              label="export figure", button_type="primary")
        self.export_format.param.watch(lambda e: setattr(self.export, "filename", f"isodyn-explorer.{e.new}"),
                                       "value")
        self.controls.param.watch(lambda e: self.update(), list(LABELS))
        self.layout = self._layout()

    # --- drawing ------------------------------------------------------------------------------

    def _figures(self) -> dict:
        src = self.sources
        tools = "pan,wheel_zoom,box_zoom,reset,save"
        a = figure(title="(a) eigenvalues s_m", y_axis_type="log", x_axis_label="step", y_axis_label="s_m",
                   height=330, sizing_mode="stretch_width", tools=tools)
        a.multi_line("xs", "ys", color="color", source=src["trajectories"], line_width=1.6)
        b = figure(title="(b) two-mode portrait (click: a run from there)", x_axis_type="log", y_axis_type="log",
                   x_axis_label="s_a", y_axis_label="s_b", height=330, sizing_mode="stretch_width", tools=tools)
        b.segment("x0", "y0", "x1", "y1", source=src["portrait_field"], color="#999999", line_width=1.0)
        b.multi_line("xs", "ys", color="color", source=src["portrait_nullclines"], line_width=1.4, line_dash="dashed")
        b.line("s1", "s2", source=src["portrait_path"], color="#000000", line_width=2.0)
        b.line("s1", "s2", source=src["portrait_click"], color="#E69F00", line_width=2.0)
        b.scatter("s1", "s2", source=src["portrait_fixed_points"], color="color", size=9,
                  legend_field="stability")
        b.legend.location, b.legend.label_text_font_size = "bottom_right", "8pt"
        b.on_event("tap", self._clicked)
        c = figure(title="(c) growth rate G/S (the learning-rate multiplier)", x_axis_type="log", x_axis_label="s",
                   y_axis_label="G/S", height=330, sizing_mode="stretch_width", tools=tools)
        c.line("s", "rate", source=src["growth_curve"], color="#555555", line_width=1.6)
        c.scatter("s", "rate", source=src["spectrum"], color="color", size=8)
        c.add_layout(self.gamma_line)
        return {"a": a, "b": b, "c": c}

    def update(self) -> None:
        """Check the controls, run them and redraw; bad input shows its one line and keeps the last views."""
        with self._lock:
            self._gen += 1
            gen = self._gen
        values = self.controls.values()
        try:
            req = st.request(values)
            self.command.value = st.command_line(values)
            result = st.compute(req)
            text = derivation_text(req.rule, req.closure, "markdown")
        except InputError as e:
            return self._fail(f"isodyn: error: {e}")
        except Exception as e:  # noqa: BLE001 -- the page says what failed; the server lives on
            return self._fail(f"isodyn: error: {type(e).__name__}: {e}")
        if gen != self._gen:  # a newer change is being drawn
            return
        self.result, self.error = result, None
        self.message.visible = False
        self.derivation.object = text
        self._on_document(lambda: (self._draw(result), self._draw_portrait(result)))

    def _on_document(self, fn) -> None:
        """Run ``fn`` (which changes Bokeh models) where the document allows it: served, on its event loop under
        its lock (the callbacks run on worker threads); else (a notebook, the bench) at once."""
        doc = self.document
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(fn)
        else:
            fn()

    def _fail(self, line: str) -> None:
        self.error = line
        self.message.object, self.message.visible = line, True

    def _draw(self, r: st.Result) -> None:
        M = r.s.shape[1]
        colors = list(viridis(M)) if M > 1 else ["#0072B2"]
        self.sources["trajectories"].data = dict(xs=[r.step] * M, ys=[_positive(r.s[:, m]) for m in range(M)],
                                                 color=colors, mode=list(range(1, M + 1)))
        self.sources["growth_curve"].data = dict(s=r.s_grid, rate=r.rate)
        self.sources["spectrum"].data = dict(s=_positive(r.s_final), rate=r.rate_final, color=colors)
        self.gamma_line.location = float(r.request.kw["weight_decay"])
        m = r.summary
        self.note.object = (f"**{r.request.rule.name}**, {m['steps']} steps: s_final = "
                            + ", ".join(f"{x:.3g}" for x in np.sort(r.s_final))
                            + f"; collapsed={m['collapsed']}, diverged={m['diverged']}")

    # --- the portrait -----------------------------------------------------------------------

    def _pair(self, r: st.Result) -> tuple[int, int]:
        M = r.s.shape[1]
        a, b = min(self.controls.mode_a, M) - 1, min(self.controls.mode_b, M) - 1
        return a, b

    def _portrait_params(self, req: st.Request) -> dict:
        kw = req.kw
        return dict(sigma1=kw["sigma1"], sigma2=kw["sigma2"], weight_decay=kw["weight_decay"], ema=kw["ema"],
                    alpha=req.rule.alpha, eps=req.rule.eps)

    def _draw_portrait(self, r: st.Result) -> None:
        b = self.figures["b"]
        for name in ("portrait_field", "portrait_nullclines", "portrait_fixed_points", "portrait_path",
                     "portrait_click"):
            self.sources[name].data = {k: [] for k in self.sources[name].data}
        a_, b_ = self._pair(r)
        b.xaxis.axis_label, b.yaxis.axis_label = f"s_{a_ + 1}", f"s_{b_ + 1}"
        self.sources["portrait_path"].data = dict(s1=_positive(r.s[:, a_]), s2=_positive(r.s[:, b_]))
        req, params = r.request, self._portrait_params(r.request)
        closure = req.closure
        pos = r.s[np.isfinite(r.s) & (r.s > 0)]
        lo = max(float(pos.min()) / 3 if pos.size else 1e-3, 1e-6)
        hi = min(float(pos.max()) * 3 if pos.size else 3.0, 1e3)
        try:
            g = np.geomspace(lo, hi, FIELD)
            X, Y = np.meshgrid(g, g)
            d1, d2 = portrait.two_mode_field(req.rule, params, X, Y, closure)
        except InputError as e:
            b.title.text = f"(b) two-mode portrait: not drawn ({e})"
            return
        b.title.text = "(b) two-mode portrait (click: a run from there)"
        u, v = d1 / X, d2 / Y  # directions on log axes
        n = np.hypot(u, v)
        step = 0.35 * np.log(hi / lo) / FIELD
        with np.errstate(invalid="ignore", divide="ignore"):
            ux, vy = np.where(n > 0, u / n, 0.0), np.where(n > 0, v / n, 0.0)
        self.sources["portrait_field"].data = dict(x0=X.ravel(), y0=Y.ravel(), x1=(X * np.exp(step * ux)).ravel(),
                                                   y1=(Y * np.exp(step * vy)).ravel())
        lines = portrait.nullclines(req.rule, params, (lo, hi), (lo, hi), closure, n=NULLCLINE_N[closure])
        xs, ys, cs = [], [], []
        for which, color in (("s1", "#0072B2"), ("s2", "#D55E00")):
            for ln in lines[which]:
                xs.append(ln[:, 0])
                ys.append(ln[:, 1])
                cs.append(color)
        self.sources["portrait_nullclines"].data = dict(xs=xs, ys=ys, color=cs)
        try:
            pts = [p for p in portrait.portrait_fixed_points(req.rule, params, (lo, hi))
                   if lo <= p.s1 <= hi and lo <= p.s2 <= hi]
        except InputError:  # e.g. a normalised predictor: analysis derives no fixed points for it
            pts = []
        self.sources["portrait_fixed_points"].data = dict(
            s1=[p.s1 for p in pts], s2=[p.s2 for p in pts], stability=[p.stability for p in pts],
            color=[STABILITY_COLORS.get(p.stability, "#000000") for p in pts])

    def _clicked(self, event) -> None:
        if self.result is None or event.x is None or event.y is None or event.x <= 0 or event.y <= 0:
            return
        self.click(float(event.x), float(event.y))

    def click(self, s1: float, s2: float) -> None:
        """A two-mode run of the current rule from (s1, s2), drawn on the portrait."""
        req = self.result.request
        try:
            with st.RUN_LOCK:
                tr = simulate(req.rule, [s1, s2], **req.kw)
        except InputError as e:
            return self._fail(f"isodyn: error: {e}")
        data = dict(s1=_positive(tr.s[:, 0]), s2=_positive(tr.s[:, 1]))
        self._on_document(lambda: setattr(self.sources["portrait_click"], "data", data))

    # --- export and the page ------------------------------------------------------------------

    def _export(self):
        from isodyn.figures.explorer import render

        if self.result is None:
            return None
        return io.BytesIO(render(self.result.export_data(), self.export_format.value))

    def _layout(self):
        w = self.widgets = {name: _widget(self.controls, name) for name in LABELS}
        groups = [("rule", ("metric", "variant", "beta", "alpha", "eps", "normalize", "predictor",
                            "predictor_lr_ratio", "predictor_weight_decay")),
                  ("training", ("sigma1", "sigma2", "weight_decay", "ema", "lr", "steps")),
                  ("modes", ("spectrum", "modes", "s0_range", "s0_values", "mode_a", "mode_b")),
                  ("integration", ("closure", "scheme"))]
        side = pn.Column(*[pn.Card(*[w[n] for n in names], title=title, collapsed=False) for title, names in groups],
                         pn.Row(self.export_format, self.export), width=320)
        views = pn.Column(self.progress_text, self.progress, self.message, self.note,
                          pn.Row(self.figures["a"], self.figures["b"], sizing_mode="stretch_width"),
                          pn.Row(self.figures["c"], pn.Column("### (d) derivation", self.derivation,
                                                              sizing_mode="stretch_width"),
                                 sizing_mode="stretch_width"),
                          self.command, sizing_mode="stretch_width")
        return pn.Row(side, views, sizing_mode="stretch_width")

    def warm_up(self) -> None:
        """Compile the current rule's kernels with a progress bar: draw once its own scheme is ready, then
        compile the other schemes (and closures) of the rule."""
        try:
            jobs = st.warm_up_jobs(self.controls.values())
        except InputError as e:
            jobs = []
            self._fail(f"isodyn: error: {e}")
        self.progress.max = max(len(jobs), 1)
        for i, (label, job) in enumerate(jobs):
            self.progress_text.object = f"compiling kernels {i + 1}/{len(jobs)}: {label} ..."
            job()
            self.progress.value = i + 1
            if i == 0:
                self.progress_text.object = "preparing the views (growth rates, portrait, derivation) ..."
                self.update()
        self.progress.visible = self.progress_text.visible = False
        if not jobs:
            self.update()
