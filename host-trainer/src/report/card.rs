//! `vigie report`: the model card, one self-contained HTML page with its
//! plots as inline SVG (plotters): data summary and quality findings,
//! learning curves and the overfitting gap, float against int8 metrics,
//! confusion matrix, reliability diagram, feature importance, the
//! monitor's reference histograms, and the memory footprint.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use vigie_core::format::{read_f32, section_kind};
use vigie_core::monitor::Monitor;
use vigie_core::Model;

use crate::evaluation::calibrate;
use crate::evaluation::groups::GroupMetrics;
use crate::training::fit::History;
use crate::training_report::TestMetrics;

const W: u32 = 640;
/// The pages' style sheet (the model card's, which the fleet page reuses).
pub const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\
th{background:#eee}section{margin-bottom:2em}.blocking{color:#b00;font-weight:bold}.grid{display:flex;flex-wrap:wrap;gap:6px}";
const H: u32 = 320;

/// `s` escaped for HTML text and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e:?}")
}

/// Draws into an SVG string.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(root.clone())?;
        root.present().map_err(plot_err)?;
    }
    Ok(s)
}

fn learning_curves(history: &History) -> Result<Option<String>> {
    let epochs = &history.epochs;
    if epochs.is_empty() {
        return Ok(None);
    }
    let get = |k: fn(&crate::training::fit::Epoch) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().map(|e| (e.epoch as f64, k(e))).collect()
    };
    let (train, val) = (get(|e| e.train_loss), get(|e| e.val_loss));
    let ymax = train
        .iter()
        .chain(&val)
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        * 1.05;
    let xmax = epochs.len() as f64;
    let best = history.best_epoch as f64;
    svg((W, H), |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("loss per epoch", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..xmax.max(2.0), 0.0..ymax.max(1e-6))
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .draw()
            .map_err(plot_err)?;
        c.draw_series(LineSeries::new(train, &BLUE))
            .map_err(plot_err)?
            .label("training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        c.draw_series(LineSeries::new(val, &RED))
            .map_err(plot_err)?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        c.draw_series(std::iter::once(PathElement::new(
            vec![(best, 0.0), (best, ymax)],
            BLACK.mix(0.4),
        )))
        .map_err(plot_err)?
        .label("kept epoch")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
        legend(&mut c, SeriesLabelPosition::UpperRight)
    })
    .map(Some)
}

/// Draws a chart's legend box.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<()> {
    c.configure_series_labels()
        .position(at)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(plot_err)
}

fn reliability(cal: &calibrate::Report) -> Result<Option<String>> {
    // Bins of fewer rows than this say little: drawn as open circles, off
    // the line.
    const MIN_BIN_ROWS: usize = 5;
    let bins = |b: &[(f64, f64, usize)]| -> Vec<(f64, f64, usize)> { b.to_vec() };
    let (before, after) = (bins(&cal.reliability_before), bins(&cal.reliability_after));
    if before.is_empty() {
        return Ok(None);
    }
    svg((H + 80, H + 40), |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("reliability (test rows)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..1.0f64, 0.0..1.0f64)
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .draw()
            .map_err(plot_err)?;
        c.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.3),
        ))
        .map_err(plot_err)?;
        let kept = cal.temperature != 1.0;
        let curves: Vec<_> = if kept {
            vec![
                (before, RED, "temperature 1"),
                (after, BLUE, "stored temperature"),
            ]
        } else {
            vec![(before, BLUE, "temperature 1 (stored)")]
        };
        for (i, (points, color, label)) in curves.into_iter().enumerate() {
            let solid: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.2 >= MIN_BIN_ROWS)
                .map(|p| (p.0, p.1))
                .collect();
            c.draw_series(LineSeries::new(solid, color))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            c.draw_series(points.iter().map(|p| {
                let style = if p.2 >= MIN_BIN_ROWS {
                    color.filled()
                } else {
                    color.stroke_width(1)
                };
                Circle::new((p.0, p.1), 3, style)
            }))
            .map_err(plot_err)?;
            // Each bin's row count, beside its point.
            c.draw_series(points.iter().map(|p| {
                Text::new(
                    format!("n={}", p.2),
                    (p.0, p.1),
                    ("sans-serif", 10).into_font().color(&color).pos(Pos::new(
                        HPos::Left,
                        if i == 0 { VPos::Bottom } else { VPos::Top },
                    )),
                )
            }))
            .map_err(plot_err)?;
        }
        legend(&mut c, SeriesLabelPosition::UpperLeft)
    })
    .map(Some)
}

/// The model search: each trial's validation score against its MACs per
/// inference (log scale), by rung, with the chosen candidate circled.
fn search_plot(t: &crate::training::search::Trace) -> Result<String> {
    let (lo, hi) = t
        .trials
        .iter()
        .map(|x| x.macs.max(1) as f64)
        .fold((f64::INFINITY, 0.0f64), |(a, b), m| (a.min(m), b.max(m)));
    let (ylo, yhi) = t
        .trials
        .iter()
        .map(|x| x.score)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let pad = ((yhi - ylo) * 0.1).max(0.01);
    let rungs = t.trials.iter().map(|x| x.rung + 1).max().unwrap_or(1);
    let colors = [RGBColor(150, 150, 150), RGBColor(230, 140, 30), BLUE];
    svg((W, H), |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(
                format!("model search: validation {} against MACs", t.metric),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(
                ((lo / 1.5)..(hi * 1.5).max(lo * 2.0)).log_scale(),
                (ylo - pad)..(yhi + pad),
            )
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc("MACs per inference")
            .y_desc(t.metric.as_str())
            .draw()
            .map_err(plot_err)?;
        for rung in 0..rungs {
            let color = colors[rung.min(colors.len() - 1)];
            c.draw_series(
                t.trials
                    .iter()
                    .filter(|x| x.rung == rung)
                    .map(|x| Circle::new((x.macs.max(1) as f64, x.score), 4, color.filled())),
            )
            .map_err(plot_err)?
            .label(format!(
                "rung {} ({} epochs)",
                rung + 1,
                t.trials
                    .iter()
                    .find(|x| x.rung == rung)
                    .map_or(0, |x| x.epochs)
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        if let Some(chosen) = t.trials.iter().rev().find(|x| x.candidate == t.chosen) {
            c.draw_series(std::iter::once(Circle::new(
                (chosen.macs.max(1) as f64, chosen.score),
                9,
                BLACK.stroke_width(2),
            )))
            .map_err(plot_err)?
            .label("chosen")
            .legend(|(x, y)| Circle::new((x + 10, y), 6, BLACK.stroke_width(2)));
        }
        legend(&mut c, SeriesLabelPosition::LowerRight)
    })
}

/// One bar of [`bars`]: its label, value, whisker and whether it is drawn
/// faint (a figure from too few rows).
struct Bar {
    label: String,
    value: f64,
    whisker: (f64, f64),
    faint: bool,
}

/// Horizontal bars with whiskers, top to bottom in the order given, each
/// labelled on the y axis; `x` is the value axis, `height` and
/// `label_width` in pixels.
fn bars(
    caption: &str,
    items: &[Bar],
    x: (f64, f64),
    height: u32,
    label_width: u32,
) -> Result<String> {
    let n = items.len().max(1);
    svg((W, height), |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(label_width)
            // Bars centred on whole numbers, so that every axis label
            // falls on a bar.
            .build_cartesian_2d(x.0..x.1, -0.5..n as f64 - 0.5)
            .map_err(plot_err)?;
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = n as f64 - 1.0 - y.round();
                if (y - y.round()).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                items
                    .get(i as usize)
                    .map(|b| b.label.clone())
                    .unwrap_or_default()
            })
            .draw()
            .map_err(plot_err)?;
        c.draw_series(items.iter().enumerate().map(|(i, b)| {
            let y = (n - 1 - i) as f64;
            let colour = if b.faint { RED.mix(0.4) } else { BLUE.mix(0.7) };
            Rectangle::new([(0.0, y - 0.35), (b.value, y + 0.35)], colour.filled())
        }))
        .map_err(plot_err)?;
        c.draw_series(items.iter().enumerate().map(|(i, b)| {
            let y = (n - 1 - i) as f64;
            PathElement::new(vec![(b.whisker.0, y), (b.whisker.1, y)], BLACK)
        }))
        .map_err(plot_err)?;
        Ok(())
    })
}

fn importance_bars(items: &[crate::evaluation::explain::Importance]) -> Result<String> {
    let items = &items[..items.len().min(20)];
    let xmax = items
        .iter()
        .map(|i| i.drop.abs() + i.sd)
        .fold(1e-6f64, f64::max)
        * 1.1;
    let xmin = items.iter().map(|i| i.drop).fold(0.0f64, f64::min).min(0.0);
    let shown: Vec<Bar> = items
        .iter()
        .map(|i| Bar {
            label: i.feature.clone(),
            value: i.drop,
            whisker: (i.drop - i.sd, i.drop + i.sd),
            faint: false,
        })
        .collect();
    let height = 40 + 22 * items.len().max(1) as u32;
    bars(
        "permutation importance (metric lost)",
        &shown,
        (xmin, xmax),
        height,
        150,
    )
}

/// A figure of a group with its interval, or NaN when the group has none.
type Figure = fn(&GroupMetrics, usize) -> (f64, (f64, f64));

/// The per-group section: how each column was read, a bar plot of each
/// metric per group with its 95% interval (for a per-class rate, the class
/// whose rate differs most between groups: the one behind the gap), the
/// tables of figures, and the gaps.
fn groups_section(g: &crate::evaluation::groups::GroupReport) -> Result<String> {
    let mut h = format!("<p>Groups: {}.</p>", esc(&g.notes.join("; ")));
    let height = 120 + 40 * g.by_group.len().max(1) as u32;
    let plot = |caption: &str, figure: Figure, class: usize, x: Option<(f64, f64)>| {
        let shown: Vec<Bar> = g
            .by_group
            .iter()
            .map(|b| {
                let (value, whisker) = figure(b, class);
                match value.is_finite() {
                    true => Bar {
                        label: b.group.clone(),
                        value,
                        // A report written before the intervals were
                        // stored has none: no whisker.
                        whisker: match whisker.0.is_finite() && whisker.1.is_finite() {
                            true => whisker,
                            false => (value, value),
                        },
                        faint: b.too_small,
                    },
                    false => Bar {
                        label: format!("{} (undefined)", b.group),
                        value: 0.0,
                        whisker: (0.0, 0.0),
                        faint: true,
                    },
                }
            })
            .collect();
        let x = x.unwrap_or_else(|| {
            let (lo, hi) = shown.iter().fold((0.0f64, 0.0f64), |(lo, hi), b| {
                (
                    lo.min(b.value).min(b.whisker.0),
                    hi.max(b.value).max(b.whisker.1),
                )
            });
            let pad = 0.05 * (hi - lo).max(1e-9);
            (lo - if lo < 0.0 { pad } else { 0.0 }, hi + pad)
        });
        bars(
            &format!("{caption} per group, 95% interval"),
            &shown,
            x,
            height,
            160,
        )
    };
    let interval = |v: (f64, f64)| format!("[{:.4}, {:.4}]", v.0, v.1);
    if g.target_sd.is_some() {
        let mae: Figure = |b, _| {
            b.regression.as_ref().map_or((f64::NAN, (0.0, 0.0)), |v| {
                (v.mean_absolute_error, v.mean_absolute_error_interval)
            })
        };
        let bias: Figure = |b, _| {
            b.regression.as_ref().map_or((f64::NAN, (0.0, 0.0)), |v| {
                (v.mean_error, v.mean_error_interval)
            })
        };
        h.push_str(&plot("mean absolute error", mae, 0, None)?);
        h.push_str(&plot("mean error (prediction − truth)", bias, 0, None)?);
        let rows: Vec<Vec<String>> = g
            .by_group
            .iter()
            .map(|b| {
                let (m, mi) = mae(b, 0);
                let (e, ei) = bias(b, 0);
                vec![
                    b.group.clone(),
                    b.rows.to_string(),
                    format!("{:.1}%", 100.0 * b.share),
                    format!("{m:.4} {}", interval(mi)),
                    format!("{e:+.4} {}", interval(ei)),
                    b.rows_needed
                        .map_or(String::new(), |r| format!("too few: about {r} needed")),
                ]
            })
            .collect();
        h.push_str(&table(
            &[
                "group",
                "rows",
                "share",
                "mean absolute error [95%]",
                "mean error [95%]",
                "",
            ],
            &rows,
        ));
    } else {
        h.push_str(&plot(
            "accuracy",
            |b, _| (b.accuracy, b.accuracy_interval),
            0,
            Some((0.0, 1.0)),
        )?);
        h.push_str(&plot("ECE", |b, _| (b.ece, b.ece_interval), 0, None)?);
        // The class whose rate differs most between the groups that take
        // part in the gaps (all groups when none does).
        let widest = |rate: Figure| {
            let judged: Vec<&GroupMetrics> = match g.by_group.iter().any(|b| !b.too_small) {
                true => g.by_group.iter().filter(|b| !b.too_small).collect(),
                false => g.by_group.iter().collect(),
            };
            (0..g.classes.len())
                .map(|c| {
                    let v = judged.iter().map(|b| rate(b, c).0);
                    (c, crate::evaluation::groups::spread(v))
                })
                .fold((0, -1.0), |best, x| if x.1 > best.1 { x } else { best })
                .0
        };
        fn at(v: &[f64], i: &[(f64, f64)], c: usize) -> (f64, (f64, f64)) {
            (
                v.get(c).copied().unwrap_or(f64::NAN),
                i.get(c).copied().unwrap_or((f64::NAN, f64::NAN)),
            )
        }
        let rates: [(&str, Figure); 3] = [
            ("selection rate", |b, c| {
                at(&b.selection_rate, &b.selection_rate_interval, c)
            }),
            ("false positive rate", |b, c| {
                at(&b.false_positive_rate, &b.false_positive_rate_interval, c)
            }),
            ("false negative rate", |b, c| {
                at(&b.false_negative_rate, &b.false_negative_rate_interval, c)
            }),
        ];
        for (name, rate) in rates {
            let c = widest(rate);
            let class = g.classes.get(c).map_or("?", String::as_str);
            h.push_str(&plot(
                &format!("{name} of class {class}"),
                rate,
                c,
                Some((0.0, 1.0)),
            )?);
        }
        let rows: Vec<Vec<String>> = g
            .by_group
            .iter()
            .map(|b| {
                vec![
                    b.group.clone(),
                    b.rows.to_string(),
                    format!("{:.1}%", 100.0 * b.share),
                    format!("{:.4} {}", b.accuracy, interval(b.accuracy_interval)),
                    format!("{:.4} {}", b.ece, interval(b.ece_interval)),
                    b.rows_needed
                        .map_or(String::new(), |r| format!("too few: about {r} needed")),
                ]
            })
            .collect();
        h.push_str(&table(
            &["group", "rows", "share", "accuracy [95%]", "ECE [95%]", ""],
            &rows,
        ));
        let mut per_class = Vec::new();
        for b in &g.by_group {
            for (c, class) in g.classes.iter().enumerate() {
                let cell = |rate: Figure| {
                    let (v, i) = rate(b, c);
                    match v.is_finite() {
                        true => format!("{v:.4} {}", interval(i)),
                        false => "undefined".into(),
                    }
                };
                per_class.push(vec![
                    b.group.clone(),
                    class.clone(),
                    cell(rates[0].1),
                    cell(rates[1].1),
                    cell(rates[2].1),
                ]);
            }
        }
        h.push_str(&table(
            &[
                "group",
                "class",
                "selection_rate [95%]",
                "false_positive_rate [95%]",
                "false_negative_rate [95%]",
            ],
            &per_class,
        ));
    }
    let gaps: Vec<Vec<String>> = g
        .gaps
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                format!("{:.4} {}", x.value, interval(x.interval)),
                match (x.blocking, g.allowed) {
                    (true, false) => format!("BLOCKING: above {:.4}", g.gap_limit()),
                    (true, true) => {
                        format!("above {:.4}, allowed (--allow-gap)", g.gap_limit())
                    }
                    (false, _) => String::new(),
                },
            ]
        })
        .collect();
    if gaps.is_empty() {
        h.push_str("<p>No gap measured: fewer than two groups have enough rows.</p>");
    } else {
        if let Some(sd) = g.target_sd {
            h.push_str(&format!(
                "<p>Gaps in the target's units; --max-gap {} of its standard deviation {sd:.4} is {:.4}.</p>",
                g.max_gap,
                g.gap_limit()
            ));
        }
        h.push_str(&table(
            &["gap (fairlearn's name)", "value [95%]", ""],
            &gaps,
        ));
    }
    Ok(h)
}

/// Reference histogram of one monitored feature (share per quantile bin).
fn monitor_histogram(name: &str, shares: &[f64]) -> Result<String> {
    let top = shares.iter().copied().fold(1e-6, f64::max) * 1.1;
    svg((200, 130), |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(name, ("sans-serif", 12))
            .margin(4)
            .x_label_area_size(4)
            .y_label_area_size(4)
            .build_cartesian_2d(0.0..shares.len() as f64, 0.0..top)
            .map_err(plot_err)?;
        c.draw_series(shares.iter().enumerate().map(|(i, &v)| {
            Rectangle::new(
                [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, v)],
                GREEN.mix(0.7).filled(),
            )
        }))
        .map_err(plot_err)?;
        Ok(())
    })
}

/// A table with a header row; cells are escaped.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s + "</table>"
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.4}"))
}

/// Writes the model card of `model_path`; with `data`, labelled rows for
/// the feature importance.
pub fn write(
    model_path: &Path,
    data: Option<&Path>,
    target: Option<&str>,
    out: &Path,
    (force, options): (bool, crate::data::CsvOptions),
    group: Option<(&str, f64)>,
) -> Result<()> {
    if group.is_some() && data.is_none() {
        anyhow::bail!("--group measures labelled rows: give them with --data (without --group, the card shows the groups measured at training)");
    }
    let mut inputs = vec![("--model", model_path)];
    if let Some(d) = data {
        inputs.push(("--data", d));
    }
    crate::files::check_output(out, "--out", crate::files::Kind::Html, &inputs, force)?;
    let bytes = crate::files::read_model_file(model_path)?;
    let model = crate::files::load(model_path, &bytes)?;
    let html = render(
        model_path,
        &model,
        bytes.len(),
        data,
        (target, options),
        group,
    )?;
    crate::files::write_atomically(out, html.as_bytes())
}

/// The page, as a string.
pub fn render(
    model_path: &Path,
    model: &Model<'_>,
    file_bytes: usize,
    data: Option<&Path>,
    (target, options): (Option<&str>, crate::data::CsvOptions),
    group: Option<(&str, f64)>,
) -> Result<String> {
    let report = crate::training_report::training_report(model);
    // Groups measured on the rows given (`--data` with `--group`), or
    // those stored at training.
    // The labelled rows given (`--data`), read and fingerprinted once for
    // the sections measured on them.
    let labelled = data
        .map(|path| -> Result<_> {
            let d = crate::evaluation::labelled::labelled_for_model(
                model, model_path, path, target, options,
            )?;
            let seen = crate::evaluation::fingerprint::fresh_rows(model, &d);
            Ok((path, d, seen))
        })
        .transpose()?;
    let measured_groups = match (group, &labelled) {
        (Some((columns, max_gap)), Some((path, d, seen))) => {
            let int8 = crate::evaluation::int8::int8_outputs(model, d, &seen.fresh)?;
            let g = crate::evaluation::groups::measure(
                model,
                d,
                &seen.fresh,
                &int8,
                options,
                columns,
                max_gap,
            )?;
            Some((
                g,
                format!(
                    "{} rows of {} the model was not trained on",
                    seen.fresh.len(),
                    path.display()
                ),
            ))
        }
        _ => None,
    };
    let checks: Vec<Value> = model
        .def()
        .section(section_kind::DATA_CHECKS)
        .and_then(|s| serde_json::from_slice(s.data).ok())
        .unwrap_or_default();
    let name = model_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigie model card: {n}</title><style>{STYLE}</style></head><body><h1>Model card: {n}</h1>",
        n = esc(&name)
    );

    // Memory.
    h.push_str("<section id=\"memory\"><h2>On the device: memory footprint</h2>");
    let monitor = Monitor::from_model(model).ok().flatten();
    let state = monitor.as_ref().map_or(0, |m| m.state_bytes());
    let mut rows = vec![
        vec![
            "on the device: model (flash, stripped copy)".to_string(),
            crate::files::device_len(model).to_string(),
        ],
        vec![
            "on the device: arena + monitor state (RAM)".to_string(),
            (model.arena_len() + state).to_string(),
        ],
        vec![
            "model file with host-only sections".to_string(),
            file_bytes.to_string(),
        ],
    ];
    for s in model.def().sections.iter() {
        rows.push(vec![
            format!(
                "  of which section {}",
                vigie_core::format::section_kind::name(s.kind)
            ),
            s.data.len().to_string(),
        ]);
    }
    rows.push(vec!["arena (RAM)".into(), model.arena_len().to_string()]);
    rows.push(vec!["monitor state (RAM)".into(), state.to_string()]);
    rows.push(vec!["MACs per inference".into(), model.macs().to_string()]);
    h.push_str(&table(&["what", "bytes"], &rows));
    h.push_str("</section>");

    // Data.
    match &report {
        Some(r) => {
            let d = &r.data;
            let _ = write!(
                h,
                "<section id=\"data\"><h2>Data</h2><p>Training file <code>{}</code>{}; target <code>{}</code>; {} features in {} channels × {}; rows: {} training, {} validation, {} test; {} missing cells{}.</p></section>",
                esc(&d.file.to_string()),
                d.test_file
                    .as_ref()
                    .map(|t| format!(", test file <code>{}</code>", esc(&t.to_string())))
                    .unwrap_or_default(),
                esc(&d.target),
                d.features,
                d.channels.len(),
                d.length,
                d.rows.train,
                d.rows.val,
                d.rows.test,
                d.missing_cells,
                d.impute
                    .map(|i| format!(", imputed by the training {i:?}").to_lowercase())
                    .unwrap_or_default()
            );
        }
        None => h.push_str(
            "<section id=\"data\"><h2>Data</h2><p>This model has no training report (a device copy).</p></section>",
        ),
    }

    // Quality findings.
    h.push_str("<section id=\"quality\"><h2>Data quality</h2>");
    if checks.is_empty() {
        h.push_str("<p>The data checks found nothing.</p>");
    } else {
        h.push_str(
            "<table><tr><th>severity</th><th>check</th><th>column</th><th>finding</th></tr>",
        );
        for f in &checks {
            let sev = f["severity"].as_str().unwrap_or("");
            let _ = write!(
                h,
                "<tr><td class=\"{sev}\">{sev}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                esc(f["check"].as_str().unwrap_or("")),
                esc(f["column"].as_str().unwrap_or("")),
                esc(&match report.as_ref().and_then(|r| r.data.impute) {
                    // The model was trained with --impute: say what it
                    // does rather than advise it.
                    Some(i) => f["message"].as_str().unwrap_or("").replace(
                        "fill them or train with --impute mean|median",
                        &format!("the model imputes them with the training {i:?}").to_lowercase(),
                    ),
                    None => f["message"].as_str().unwrap_or("").to_owned(),
                })
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");

    // The model search and the baselines.
    h.push_str("<section id=\"search\"><h2>Model search and baselines</h2>");
    match report.as_ref().and_then(|r| r.search.as_ref()) {
        Some(t) => {
            h.push_str(&search_plot(t)?);
            let chosen = t
                .trials
                .iter()
                .rev()
                .find(|x| x.candidate == t.chosen)
                .map_or("", |x| x.label.as_str());
            let _ = write!(
                h,
                "<p>{} trials compared by {}; chosen: <b>{}</b>, {}. Budget: {} bytes of flash, {} bytes of RAM{}; {} candidates drawn did not fit.</p>",
                t.trials.len(),
                esc(&t.selection),
                esc(chosen),
                if t.epochs > 0 {
                    format!("trained for {} epochs", t.epochs)
                } else {
                    "grown on every training row".into()
                },
                t.budget.flash,
                t.budget.ram,
                t.budget.macs.map(|m| format!(", {m} MACs")).unwrap_or_default(),
                t.rejected.len()
            );
        }
        None => h.push_str(
            "<p>No model search: the configuration was given (<code>--config</code>).</p>",
        ),
    }
    if let Some(b) = report.as_ref().and_then(|r| r.baselines.as_ref()) {
        let first = if b.metric == "MAE" {
            "training mean"
        } else {
            "majority class"
        };
        h.push_str(&table(
            &["on the test rows", b.metric.as_str()],
            &[
                vec![first.to_string(), num(Some(b.majority))],
                vec![b.cheap.clone(), num(Some(b.cheap_score))],
                vec!["this model (int8)".into(), num(Some(b.model))],
            ],
        ));
        if let Some(f) = &b.finding {
            let _ = write!(h, "<p class=\"blocking\">Blocking: {}</p>", esc(f));
        }
        if let Some(w) = &b.behind_cheap {
            let _ = write!(h, "<p class=\"blocking\">Warning: {}</p>", esc(w));
        }
    }
    h.push_str("</section>");

    // Learning curves and the gap.
    h.push_str("<section id=\"learning\"><h2>Learning curves</h2>");
    match report
        .as_ref()
        .map(|r| learning_curves(&r.history))
        .transpose()?
        .flatten()
    {
        Some(s) => h.push_str(&s),
        None if report.as_ref().is_some_and(|r| r.config.model.kind == crate::training::config::ModelKind::Trees) => h.push_str(
            "<p>A forest of trees: grown on every training row at once, no epochs, so no learning curve. The model search above compared it with the networks on the same folds.</p>",
        ),
        None => h.push_str("<p>No training history in this model.</p>"),
    }
    if let Some(g) = report.as_ref().and_then(|r| r.generalization_gap) {
        let _ = write!(
            h,
            "<p>Kept epoch {}: training loss {}, validation loss {}, gap {} (a large gap means overfitting).</p>",
            g.epoch,
            num(Some(g.train_loss)),
            num(Some(g.val_loss)),
            num(Some(g.loss_gap))
        );
    }
    h.push_str("</section>");

    // Metrics.
    let test = report.as_ref().map(|r| &r.test);
    h.push_str("<section id=\"metrics\"><h2>Float against int8 (test rows)</h2>");
    let (rows, agreement): (Vec<Vec<String>>, Option<f64>) = match test {
        Some(TestMetrics::Classification {
            int8,
            float,
            agreement,
            ..
        }) => (
            vec![
                vec![
                    "accuracy".into(),
                    num(float.as_ref().map(|m| m.accuracy)),
                    num(Some(int8.accuracy)),
                ],
                vec![
                    "macro_f1".into(),
                    num(float.as_ref().map(|m| m.macro_f1)),
                    num(Some(int8.macro_f1)),
                ],
            ],
            *agreement,
        ),
        Some(TestMetrics::Regression { int8, float, .. }) => (
            vec![
                vec!["mae".into(), num(float.map(|m| m.mae)), num(Some(int8.mae))],
                vec![
                    "rmse".into(),
                    num(float.map(|m| m.rmse)),
                    num(Some(int8.rmse)),
                ],
            ],
            None,
        ),
        None => (vec![], None),
    };
    h.push_str(&table(&["metric", "float", "int8"], &rows));
    if let Some(a) = agreement {
        let _ = write!(h, "<p>Argmax agreement float/int8: {}.</p>", num(Some(a)));
    }
    h.push_str("</section>");

    // Confusion matrix.
    h.push_str("<section id=\"confusion\"><h2>Confusion matrix (int8, test rows)</h2>");
    if let Some(TestMetrics::Classification { int8, .. }) = test {
        let m = &int8.confusion;
        let names: Vec<&str> = model.output_names().iter().collect();
        let max = m.iter().flatten().map(|&v| v as f64).fold(1.0, f64::max);
        h.push_str("<table><tr><th>true \\ predicted</th>");
        for n in &names {
            let _ = write!(h, "<th>{}</th>", esc(n));
        }
        h.push_str("</tr>");
        for (i, row) in m.iter().enumerate() {
            let _ = write!(h, "<tr><th>{}</th>", esc(names.get(i).unwrap_or(&"?")));
            for &v in row {
                let x = v as f64;
                let _ = write!(
                    h,
                    "<td style=\"background:rgba(30,90,200,{:.2})\">{x}</td>",
                    0.8 * x / max
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    } else {
        h.push_str("<p>Regression model: no confusion matrix.</p>");
    }
    h.push_str("</section>");

    // Per group.
    h.push_str("<section id=\"groups\"><h2>Per group (int8)</h2>");
    let stored = report
        .as_ref()
        .and_then(|r| r.groups.as_ref())
        .map(|g| (g, "the test split at training".to_owned()));
    match measured_groups.as_ref().map(|(g, w)| (g, w.clone())).or(stored) {
        Some((g, rows)) => {
            let _ = write!(h, "<p>Measured on {}.</p>", esc(&rows));
            h.push_str(&groups_section(g)?);
        }
        None => h.push_str(
            "<p>No group was measured. Train with <code>--group COLUMN</code> (sex, age band, site, device revision) to see how the model treats each group, with the gaps between them.</p>",
        ),
    }
    h.push_str("</section>");

    // Reliability.
    let cal = report.as_ref().and_then(|r| r.calibration.as_ref());
    h.push_str("<section id=\"reliability\"><h2>Calibration and decisions</h2>");
    match cal.map(reliability).transpose()?.flatten() {
        Some(svg) => {
            let cal = cal.expect("a plot comes from a calibration");
            h.push_str(&svg);
            let _ = write!(
                h,
                "<p>Temperature {}{}: expected calibration error on {} test rows {} [{}, {}] at temperature 1, {} [{}, {}] as stored (95% bootstrap intervals; open circles: bins of fewer than 5 rows).{}{}{}</p>",
                num(Some(cal.temperature.into())),
                cal.temperature_choice
                    .as_ref()
                    .map(|t| format!(" ({})", esc(&t.reason)))
                    .unwrap_or_default(),
                test.map_or(0, TestMetrics::rows),
                num(Some(cal.ece_before)),
                num(Some(cal.ece_before_interval.0)),
                num(Some(cal.ece_before_interval.1)),
                num(Some(cal.ece_after)),
                num(Some(cal.ece_after_interval.0)),
                num(Some(cal.ece_after_interval.1)),
                if cal.abstain_below > 0.0 {
                    format!(
                        " Abstains below probability {}: answers {} of test rows, right on {} of them{}.",
                        num(Some(cal.abstain_below.into())),
                        num(Some(cal.coverage)),
                        num(cal.precision_answered),
                        cal.precision_interval
                            .map(|(lo, hi)| format!(" (95% interval {lo:.4} to {hi:.4})"))
                            .unwrap_or_default()
                    )
                } else {
                    " It never abstains (no --target-precision).".to_string()
                },
                cal.warning
                    .as_ref()
                    .map(|w| format!(" <b class=\"blocking\">Warning: {}.</b>", esc(w)))
                    .unwrap_or_default(),
                match (cal.cost_rule, cal.cost_argmax) {
                    (Some(rule), Some(argmax)) => format!(
                        " Mean cost per test row: {} with the cost matrix rule, {} with argmax{}.",
                        num(Some(rule)),
                        num(Some(argmax)),
                        cal.cost_difference_se
                            .map(|se| format!(" (difference ± {}, one standard error)", num(Some(se))))
                            .unwrap_or_default()
                    ),
                    _ => String::new(),
                }
            );
        }
        None => h.push_str("<p>No calibration in this model.</p>"),
    }
    h.push_str("</section>");

    // Importance.
    h.push_str("<section id=\"importance\"><h2>Feature importance</h2>");
    match &labelled {
        Some((path, d, seen)) => {
            // Measured on the rows the model was not trained on.
            let split = crate::evaluation::fingerprint::describe_split(d.len(), seen.training_rows);
            let d = d.subset(&seen.fresh);
            if d.is_empty() {
                let _ = write!(
                    h,
                    "<p>{}: {}; no row is left to measure importance on.</p>",
                    esc(&path.display().to_string()),
                    esc(&split)
                );
            } else {
                let (base, items) =
                    crate::evaluation::explain::permutation_importance(model, &d, 0)?;
                let _ = write!(
                    h,
                    "<p>Of <code>{}</code>: {}. Metric {base:.4} on those {} rows; each bar is what shuffling one input costs, ± its spread over {} shuffles, through the int8 model.</p>",
                    esc(&path.display().to_string()),
                    esc(&split),
                    d.len(),
                    crate::evaluation::explain::REPEATS
                );
                h.push_str(&importance_bars(&items)?);
            }
        }
        None => {
            h.push_str("<p>Pass <code>--data</code> with labelled test rows to measure it.</p>")
        }
    }
    h.push_str("</section>");

    // Monitor.
    h.push_str("<section id=\"monitor\"><h2>Drift monitor: reference histograms</h2>");
    match &monitor {
        Some(m) => {
            let def = m.def();
            let bins = def.bins as usize;
            let names: Vec<&str> = model.input_names().iter().collect();
            let shown = (def.features as usize).min(24);
            let _ = write!(
                h,
                "<p>Share of training rows in each of the {bins} quantile bins of the first {shown} of {} monitored inputs; the device compares live data against these.</p><div class=\"grid\">",
                def.features
            );
            for (f, feature) in names.iter().enumerate().take(shown) {
                let shares: Vec<f64> = (0..bins)
                    .map(|b| read_f32(def.proportions, f * bins + b) as f64)
                    .collect();
                h.push_str(&monitor_histogram(feature, &shares)?);
            }
            h.push_str("</div>");
        }
        None => h.push_str("<p>This model has no monitor.</p>"),
    }
    h.push_str("</section>");

    h.push_str("</body></html>\n");
    Ok(h)
}
