//! `vigie fleet report`: the fleet on one HTML page, in the model card's
//! style: devices by model version, which drift on which inputs and since
//! when, a timeline of episodes, and devices gone silent. No script; the
//! timeline is inline SVG.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;

use super::{episode_line, span, DeviceView, Fleet};
use crate::report::card::{esc, table, STYLE};

/// Rows of the timeline at most (one per device and boot with episodes,
/// drifting devices first); the rest are counted under it.
pub const TIMELINE_ROWS: usize = 60;
/// Rows of each device table at most; the rest are counted under it.
pub const TABLE_ROWS: usize = 500;

/// The page, as a string.
pub fn render(db: &str, f: &Fleet) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigie fleet: {d}</title><style>{STYLE}\
.drift{{color:#b00;font-weight:bold}}.silent{{color:#777;font-weight:bold}}</style></head><body><h1>Fleet: {d}</h1>",
        d = esc(db)
    );
    let drifting: Vec<&DeviceView> = f.devices.iter().filter(|d| d.drifting()).collect();
    let silent: Vec<&DeviceView> = f.devices.iter().filter(|d| f.silent(d)).collect();
    let reports: i64 = f.devices.iter().map(|d| d.reports).sum();
    let missing: i64 = f.devices.iter().map(|d| d.missing).sum();

    h.push_str("<section id=\"summary\"><h2>Summary</h2>");
    h.push_str(&table(
        &["what", "count"],
        &[
            vec![
                "devices (device and model pairs)".into(),
                f.devices.len().to_string(),
            ],
            vec!["reports stored".into(), reports.to_string()],
            vec![
                "reports missing (gaps in the sequence numbers)".into(),
                missing.to_string(),
            ],
            vec!["drifting now".into(), drifting.len().to_string()],
            vec![
                format!("silent (nothing for over {})", span(f.silent_after)),
                silent.len().to_string(),
            ],
        ],
    ));
    h.push_str("</section>");

    // Devices grouped by model version.
    let mut by_model: BTreeMap<String, (usize, usize, usize, i64)> = BTreeMap::new();
    for d in &f.devices {
        let e = by_model.entry(d.model_label()).or_default();
        e.0 += 1;
        e.1 += usize::from(d.drifting());
        e.2 += usize::from(f.silent(d));
        e.3 += d.reports;
    }
    h.push_str("<section id=\"models\"><h2>Devices by model version</h2>");
    let rows: Vec<Vec<String>> = by_model
        .iter()
        .map(|(m, (n, dr, si, r))| {
            vec![
                m.clone(),
                n.to_string(),
                dr.to_string(),
                si.to_string(),
                r.to_string(),
            ]
        })
        .collect();
    h.push_str(&table(
        &["model (CRC-32)", "devices", "drifting", "silent", "reports"],
        &rows,
    ));
    h.push_str("<p>A model is known by name once <code>vigie fleet ingest --model FILE</code> has seen its file.</p></section>");

    h.push_str("<section id=\"drifting\"><h2>Drifting now</h2>");
    if drifting.is_empty() {
        h.push_str("<p>No device reports an open drift episode.</p>");
    } else {
        let rows: Vec<Vec<String>> = drifting
            .iter()
            .take(TABLE_ROWS)
            .flat_map(|d| {
                d.episodes.iter().filter(|e| e.open).map(move |e| {
                    vec![
                        d.device.to_string(),
                        d.model_label(),
                        e.detector.to_string(),
                        e.input.clone().unwrap_or_else(|| "–".into()),
                        e.moved().unwrap_or_else(|| "–".into()),
                        format!("step {} (boot {})", e.start, e.boot),
                        format!("{} ago", span(f.quiet(d))),
                    ]
                })
            })
            .collect();
        h.push_str(&table(
            &[
                "device",
                "model",
                "detector",
                "input",
                "moved",
                "since",
                "last heard",
            ],
            &rows,
        ));
        more(&mut h, drifting.len(), TABLE_ROWS, "drifting devices");
    }
    h.push_str("</section>");

    h.push_str("<section id=\"timeline\"><h2>Timeline of drift episodes</h2>");
    h.push_str(&timeline(f));
    h.push_str("</section>");

    h.push_str("<section id=\"silent\"><h2>Silent devices</h2>");
    if silent.is_empty() {
        let _ = write!(
            h,
            "<p>Every device was heard within the last {}.</p>",
            span(f.silent_after)
        );
    } else {
        let rows: Vec<Vec<String>> = silent
            .iter()
            .take(TABLE_ROWS)
            .map(|d| {
                vec![
                    d.device.to_string(),
                    d.model_label(),
                    format!("{} ago", span(f.quiet(d))),
                    format!("boot {}, #{}, step {}", d.boot, d.sequence, d.step),
                ]
            })
            .collect();
        h.push_str(&table(
            &["device", "model", "last heard", "its latest report"],
            &rows,
        ));
        more(&mut h, silent.len(), TABLE_ROWS, "silent devices");
    }
    h.push_str("</section></body></html>\n");
    Ok(h)
}

fn more(h: &mut String, n: usize, shown: usize, what: &str) {
    if n > shown {
        let _ = write!(
            h,
            "<p>… and {} more {what} (<code>vigie fleet status</code> lists them all).</p>",
            n - shown
        );
    }
}

/// One row per device and boot with episodes (drifting devices first, then
/// by device), episodes as bars over the boot's steps: red while open,
/// orange once ended.
fn timeline(f: &Fleet) -> String {
    let mut rows: Vec<(&DeviceView, i64)> = Vec::new();
    let mut order: Vec<&DeviceView> = f
        .devices
        .iter()
        .filter(|d| !d.episodes.is_empty())
        .collect();
    order.sort_by_key(|d| (!d.drifting(), d.device, d.model));
    for d in order {
        let mut boots: Vec<i64> = d.episodes.iter().map(|e| e.boot).collect();
        boots.dedup();
        rows.extend(boots.into_iter().map(|b| (d, b)));
    }
    if rows.is_empty() {
        return "<p>No device has reported a drift episode.</p>".into();
    }
    let total = rows.len();
    rows.truncate(TIMELINE_ROWS);
    // Each row on its own axis, from step 0 to the latest step of that
    // device's boot: devices count their own steps, from each boot.
    let end_of = |d: &DeviceView, boot: i64| -> i64 {
        let last = d
            .episodes
            .iter()
            .filter(|e| e.boot == boot)
            .map(|e| e.end.unwrap_or(e.start))
            .max()
            .unwrap_or(0);
        if boot == d.boot {
            last.max(d.step)
        } else {
            last
        }
        .max(1)
    };
    let (label_w, plot_w, end_w, row_h, top) = (300.0, 560.0, 110.0, 16.0, 8.0);
    let height = top + row_h * rows.len() as f64 + 8.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">",
        w = label_w + plot_w + end_w
    );
    for (i, &(d, boot)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let last = end_of(d, boot);
        let x = |step: i64| label_w + plot_w * step.clamp(0, last) as f64 / last as f64;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{t}\">device {} · {} · boot {boot}</text><line x1=\"{label_w}\" x2=\"{}\" y1=\"{m}\" y2=\"{m}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{t}\">steps 0–{last}</text>",
            d.device,
            esc(&d.model_label()),
            label_w + plot_w,
            label_w + plot_w + 6.0,
            t = y + 11.0,
            m = y + 7.0
        );
        for e in d.episodes.iter().filter(|e| e.boot == boot) {
            let stop = e.end.unwrap_or(if e.open { d.step } else { e.start });
            let (x0, x1) = (x(e.start), x(stop.max(e.start)));
            let colour = if e.open { "#c00" } else { "#e90" };
            let _ = write!(
                s,
                "<rect class=\"episode\" x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"><title>device {}: {}</title></rect>",
                y + 2.0,
                (x1 - x0).max(2.0),
                row_h - 4.0,
                d.device,
                esc(&episode_line(e))
            );
        }
    }
    s.push_str("</svg>");
    if total > rows.len() {
        let _ = write!(
            s,
            "<p>The first {} of {total} rows (device and boot) are drawn.</p>",
            rows.len()
        );
    }
    s.push_str("<p>Each row is one device's boot, on its own axis of steps (a device counts its own steps, from 0 at each boot). Red: drifting now, to the device's latest step. Orange: an episode that ended.</p>");
    s
}
